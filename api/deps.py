"""Request dependencies: the store, the logged-in user (server-side session), CSRF, roles.

A session is a row of ``web_sessions`` (``api.security.sessions``) found by the hash of a random
token. Browsers carry the token in an HttpOnly cookie; API clients may send it as
``Authorization: Bearer …``. It ends at logout, on a password change, when an administrator
revokes it, after ``session_idle_seconds`` without a request, and ``session_seconds`` after the
login. Checking it costs, while the store is unchanged, no query (session and user are read
through ``api.cache``). Requests that change something and are authenticated by the cookie must
repeat the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``); bearer
requests need not, since browsers never attach that header on their own.

The login form, which comes before any session, is protected by a signed double-submit token:
the login page sets a random nonce in a cookie and puts the nonce, signed with the server's key
and dated, in the form; a login is accepted only if the two agree (``login_form_token``,
``login_form_ok``). A cross-site form can neither read the token nor set the cookie. API clients
log in with JSON (``POST /api/session``), which a cross-site form cannot send.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, UploadFile
from itsdangerous import BadSignature, SignatureExpired

from matcher.store.db import Store
from matcher.store.models import utcnow
from matcher.usecases.actor import Actor
from matcher.usecases.reports import ReportShelf, ReportStarter
from matcher.usecases.runs import RunStarter
from matcher.usecases.unit import UnitOfWork
from matcher.vocab import CodeSet

from .cache import ReadCache, cache_of, get_cache
from .security import sessions as server_sessions
from .users import User, get_user

COOKIE = "kyoryoku_session"
LOGIN_COOKIE = "kyoryoku_login"
LOGIN_FORM_SECONDS = 2 * 3600  # how long a login page may stay open before its form is refused
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class NotAuthenticated(Exception):
    """No valid session (API: 401; pages: redirect to the login page)."""


class Forbidden(Exception):
    """Logged in but not allowed (viewer changing something, bad CSRF token): 403."""


@dataclass
class Session:
    user: User
    csrf: str
    via_cookie: bool
    id: str = ""  # the stored session's id (hash of the token)


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def get_store(request: Request) -> Store:
    """The store (a dependency; async so that FastAPI does not hand it to a worker thread)."""
    store: Store = request.app.state.store
    return store


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: uvicorn's
    ``--forwarded-allow-ips`` makes it the forwarded one)."""
    return request.client.host if request.client else ""


def login_form_token(request: Request) -> tuple[str, str]:
    """The login form's CSRF pair: the nonce for the cookie (kept if the browser has one, so that
    two open login tabs both work) and the signed token for the form's ``csrf_token`` field."""
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if not 16 <= len(nonce) <= 64:
        nonce = secrets.token_urlsafe(24)
    return nonce, request.app.state.login_serializer.dumps(nonce)


def login_form_ok(request: Request, sent: str) -> bool:
    """Whether a login form's ``csrf_token`` was signed by this server, is recent, and matches the
    browser's login cookie."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not sent or not nonce:
        return False
    try:
        signed = request.app.state.login_serializer.loads(sent, max_age=LOGIN_FORM_SECONDS)
    except (SignatureExpired, BadSignature):
        return False
    return isinstance(signed, str) and hmac.compare_digest(signed, nonce)


def _token_of(request: Request) -> tuple[str | None, bool]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    return request.cookies.get(COOKIE), True


def read_session(request: Request) -> Session | None:
    """The request's live session (``None``: no token, unknown, revoked, expired or idle)."""
    state = request.scope.setdefault("state", {})
    if "kyoryoku_session" in state:
        cached: Session | None = state["kyoryoku_session"]
        return cached
    sess = _lookup_session(request)
    state["kyoryoku_session"] = sess
    return sess


def _lookup_session(request: Request) -> Session | None:
    token, via_cookie = _token_of(request)
    if not token or len(token) > 200:
        return None
    sid = server_sessions.token_id(token)
    store, cache = store_of(request), cache_of(request.app)

    def load_session() -> server_sessions.SessionRecord | None:
        with store.read() as s:
            return server_sessions.find(s, sid)

    record = cache.get(("session", sid), load_session)
    now = utcnow()
    if record is None or not record.alive(now, request.app.state.session_idle_seconds):
        return None

    def load_user() -> User | None:
        with store.read() as s:
            return get_user(s, record.user_id)

    user = cache.get(("user", record.user_id), load_user)
    if user is None:
        return None
    if (now - record.last_seen_at).total_seconds() > server_sessions.TOUCH_SECONDS:
        with store.write() as s:
            server_sessions.touch(s, sid, now)
    return Session(user, record.csrf, via_cookie, sid)


async def _check_csrf(request: Request, sess: Session) -> None:
    if request.method in SAFE_METHODS or not sess.via_cookie:
        return
    sent = request.headers.get("x-csrf-token")
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # Starlette caches it for the route's own Form() params
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, sess.csrf):
        raise Forbidden(
            "CSRF トークンがありません、または一致しません。ページを読み込み直してください"
        )


async def current_session(request: Request) -> Session:
    sess = read_session(request)
    if sess is None:
        raise NotAuthenticated("ログインしてください")
    await _check_csrf(request, sess)
    request.state.user = sess.user
    return sess


async def current_user(sess: SessionDep) -> User:
    return sess.user


def writer_session(sess: Session) -> Session:
    """``sess`` if its user may change things (prefecture or coordinator); else ``Forbidden``."""
    if not sess.user.can_write:
        raise Forbidden("閲覧のみのユーザーは変更できません")
    return sess


async def writer(sess: SessionDep) -> User:
    """A user allowed to change things (prefecture or coordinator)."""
    return writer_session(sess).user


async def writing_session(sess: SessionDep) -> Session:
    """The session of a user allowed to change things (a page that changes something)."""
    return writer_session(sess)


def scope_of(user: User) -> CodeSet:
    """The user's scope as the ``CodeSet`` the store's scoped reads take."""
    return user.actor.scope


def uow_of(request: Request) -> UnitOfWork:
    """The use cases' unit of work: the app's store and read cache."""
    return UnitOfWork(store_of(request), cache_of(request.app))


async def get_uow(request: Request) -> UnitOfWork:
    return uow_of(request)


async def current_actor(sess: SessionDep) -> Actor:
    """The logged-in user as the use cases take it."""
    return sess.user.actor


async def writing_actor(sess: SessionDep) -> Actor:
    """The logged-in user, allowed to change things (else ``Forbidden`` before the body is
    read)."""
    return writer_session(sess).user.actor


async def get_jobs(request: Request) -> RunStarter:
    """Where runs are started and followed (``api.jobs.Jobs``)."""
    jobs: RunStarter = request.app.state.jobs
    return jobs


async def get_report_jobs(request: Request) -> ReportStarter:
    """Where report ZIPs are built and followed (``api.jobs.Jobs``)."""
    jobs: ReportStarter = request.app.state.jobs
    return jobs


async def get_report_shelf(request: Request) -> ReportShelf:
    """Where built report ZIPs are kept (``KYORYOKU_REPORT_DIR``)."""
    shelf: ReportShelf = request.app.state.report_shelf
    return shelf


async def read_uploads(files: list[UploadFile]) -> list[tuple[str, bytes]]:
    """The uploaded files as (name, bytes), for ``matcher.usecases.imports``."""
    return [(f.filename or "upload.csv", await f.read()) for f in files]


# The dependencies routes declare (FastAPI's ``Annotated`` style).
StoreDep = Annotated[Store, Depends(get_store)]
CacheDep = Annotated[ReadCache, Depends(get_cache)]
SessionDep = Annotated[Session, Depends(current_session)]
WriterSessionDep = Annotated[Session, Depends(writing_session)]
UserDep = Annotated[User, Depends(current_user)]
WriterDep = Annotated[User, Depends(writer)]
UowDep = Annotated[UnitOfWork, Depends(get_uow)]
ActorDep = Annotated[Actor, Depends(current_actor)]
WriterActorDep = Annotated[Actor, Depends(writing_actor)]
JobsDep = Annotated[RunStarter, Depends(get_jobs)]
ReportJobsDep = Annotated[ReportStarter, Depends(get_report_jobs)]
ShelfDep = Annotated[ReportShelf, Depends(get_report_shelf)]
