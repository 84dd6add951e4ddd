"""The pages people outside open without a login — the reply links (``/r/{token}``) and the
相談窓口 (``/r/{token}/soudan``, the public ``/soudan``) — and what guards them besides what
guards every page (``middleware``):

- *floods*: at most ``RATE_PER_ADDRESS`` requests a minute per client address (``RateWindow``);
  the routes add their own windows (answers per letter, requests per address and per hour).
  The windows are kept in the store (``public_rate_windows``), shared by every worker process
  (kept in each worker's memory, N workers let N times the limit through). A refused hit only reads
  (a flood costs no writes); an allowed one is one short write transaction that re-checks under
  the row's lock (PostgreSQL ``FOR UPDATE``, SQLite's write lock), so concurrent workers never
  let more than the limit through. Keys are stored as their HMAC under a key derived from the
  service's secret, the same in every worker as the sessions need it (``KYORYOKU_SECRET_KEY``;
  no address or letter id in clear); rows whose hits have all left their
  window are purged, and a window keeps at most ``max_keys`` keys (the ones expiring first go);
- *guessing and probing*: every refused token, forged form or foreign row counts against the
  address in the login throttle's table (``throttle.count_failure``, key ``reply:<address>``,
  the login's policy): after ``FREE_FAILURES`` the address is locked (30 s doubling), checked
  before anything is looked up (``check_address``);
- *cross-site forms*: a signed double-submit token (``FormGuard``: a cookie with a nonce on the
  pages' path, SameSite=Strict, and a form field with the HMAC of the nonce and what the form is
  for under a key derived from the service's secret), besides the guard's Origin check;
- *bodies*: a public form's body is at most ``MAX_PUBLIC_BODY`` bytes. The guard
  pre-authenticates bodies by the login session, which a public form has not; ``PublicBodies``
  (placed just outside the guard) enforces this limit itself and hands the guard the request
  without its body headers (the guard still checks the Origin and counts the streamed bytes);
  the routes read a body only after its token was found live;
- *logs*: the access log shows ``/r/…`` instead of a token (``RedactTokens``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from starlette.middleware import Middleware

from matcher.store.db import Store
from matcher.store.models import PublicRateRow

from ..deps import client_address, store_of
from . import throttle
from .login import cookie_secure
from .middleware import BodyTooLarge, RequestGuard, error_response

MAX_PUBLIC_BODY = 64 * 1024
RATE_PER_ADDRESS = 60  # requests a minute to the public pages per client address
FREE_FAILURES = 10  # refused tokens or forms per address before the first lock
# The public pages that take a form (their bodies pass ``PublicBodies``).
PUBLIC_POST = re.compile(r"/r/[A-Za-z0-9_-]{43}(/send|/soudan(/send)?)?|/soudan(/send)?")
_TOKEN_IN_PATH = re.compile(r"/r/[^/?#\s\"]+")
T = TypeVar("T")


def slide(hits: Sequence[float], now: float, limit: int, seconds: float) -> tuple[list[float], int]:
    """One hit at ``now`` in a sliding window: the hits still inside it after this one, and the
    seconds to wait (0: allowed, and ``now`` counted; else nothing added)."""
    live = sorted(h for h in hits if h > now - seconds)
    if len(live) >= limit:
        return live, max(1, math.ceil(live[-limit] + seconds - now))
    return [*live, now], 0


class RateWindow:
    """At most ``limit`` hits per key in any ``seconds`` (sliding window), counted in the store
    (``public_rate_windows``, row ``name``/key hash) so that every worker shares it; at most
    ``max_keys`` keys (those expiring first are dropped). ``clock`` gives epoch seconds (the
    workers' common time)."""

    def __init__(
        self,
        limit: int,
        seconds: float,
        name: str = "",
        max_keys: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit, self.seconds, self.max_keys, self.clock = limit, seconds, max_keys, clock
        self.name = (name or f"{limit}/{seconds:g}s")[:40]

    def hit(self, store: Store, key_hash: str, now: float | None = None) -> int:
        """Count a hit of the key whose HMAC is ``key_hash``; the seconds to wait (0: allowed,
        and counted). Refused without writing when the stored window is already full."""
        now = self.clock() if now is None else now
        with store.read() as s:
            row = s.get(PublicRateRow, (self.name, key_hash))
            if row is not None:
                _, wait = slide(row.hits, now, self.limit, self.seconds)
                if wait:
                    return wait
        return store.transact(lambda s: self._count(s, key_hash, now))

    def _count(self, session: Session, key_hash: str, now: float) -> int:
        """The hit, under the row's lock: purge expired rows, add the key's row if new (and keep
        the window within ``max_keys``), slide it."""
        session.execute(delete(PublicRateRow).where(PublicRateRow.expires_at <= now))
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        added = cast(
            "CursorResult[Any]",
            session.execute(
                insert(PublicRateRow)
                .values(window_name=self.name, key_hash=key_hash, hits=[], expires_at=now)
                .on_conflict_do_nothing()
            ),
        ).rowcount
        if added:
            self._drop_beyond_max_keys(session, key_hash)
        row = session.get(
            PublicRateRow, (self.name, key_hash), with_for_update=True, populate_existing=True
        )
        if row is None:  # dropped as one of the oldest of a full window: never the new key
            raise AssertionError("the rate row just added is gone")  # pragma: no cover
        hits, wait = slide(row.hits, now, self.limit, self.seconds)
        if not wait:
            row.hits = hits
            row.expires_at = max(hits) + self.seconds
        return wait

    def _drop_beyond_max_keys(self, session: Session, keep: str) -> None:
        """Keep the window within ``max_keys`` rows: drop the ones expiring first (not ``keep``)."""
        in_window = PublicRateRow.window_name == self.name
        count = session.scalar(select(func.count()).select_from(PublicRateRow).where(in_window))
        extra = (count or 0) - self.max_keys
        if extra <= 0:
            return
        oldest = list(
            session.scalars(
                select(PublicRateRow.key_hash)
                .where(in_window, PublicRateRow.key_hash != keep)
                .order_by(PublicRateRow.expires_at, PublicRateRow.key_hash)
                .limit(extra)
            )
        )
        session.execute(delete(PublicRateRow).where(in_window, PublicRateRow.key_hash.in_(oldest)))


class PublicThrottled(throttle.LoginThrottled):
    """Too many requests to the public pages from one address (429, ``Retry-After``)."""

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.args = (
            f"短い間に多くの操作があったため、一時的に受け付けを止めています。"
            f"{self.seconds} 秒ほど待ってから、もう一度お試しください",
        )


def _failure_key(address: str) -> str:
    return f"reply:{address[:100]}"


def key_hash(app: FastAPI, window: RateWindow, key: str) -> str:
    """What the store keeps of ``key`` (an address, a letter) in ``window``: its HMAC-SHA-256
    under the app's rate key (``install``), never the key itself."""
    secret: bytes = app.state.public_rate_key
    return hmac.new(secret, f"{window.name}|{key}".encode(), hashlib.sha256).hexdigest()


def hit(request: Request, window: RateWindow, key: str) -> None:
    """Count a hit of ``key`` in ``window`` (shared by every worker); ``PublicThrottled``
    beyond its limit."""
    wait = window.hit(store_of(request), key_hash(request.app, window, key))
    if wait:
        raise PublicThrottled(wait)


def check_address(request: Request) -> None:
    """The address's flood and failure limits, before anything is looked up
    (``PublicThrottled``)."""
    address = client_address(request)
    hit(request, request.app.state.public_rate, address)
    with store_of(request).read() as s:
        wait = throttle.locked_for(s, [_failure_key(address)])
    if wait:
        raise PublicThrottled(wait)


def guarded(request: Request, lookup: Callable[[], T], refused: type[Exception]) -> T:
    """``lookup()`` (a token's letter) after the address's limits (``check_address``); a
    ``refused`` answer counts against the address before it is raised."""
    check_address(request)
    try:
        return lookup()
    except refused:
        count_refused(request)
        raise


def count_refused(request: Request) -> None:
    """Count a refused token, forged form or probe against the request's address."""
    policy: throttle.ThrottlePolicy = request.app.state.throttle
    with store_of(request).write() as s:
        throttle.count_failure(s, _failure_key(client_address(request)), FREE_FAILURES, policy)


class FormGuard:
    """The signed double-submit token of one kind of public form: the cookie ``cookie`` (on
    ``path``) holds a nonce, the form's ``csrf_token`` the nonce and its HMAC with what the form
    is for (``purpose``: one letter's form is not another's)."""

    def __init__(self, key: bytes, cookie: str, path: str) -> None:
        self.key, self.cookie, self.path = key, cookie, path

    def _value(self, purpose: str, nonce: str) -> str:
        mac = hmac.new(self.key, f"{purpose}|{nonce}".encode(), hashlib.sha256).hexdigest()
        return f"{nonce}.{mac}"

    def pair(self, request: Request, purpose: str) -> tuple[str, str]:
        """The nonce for the cookie (the browser's own, when it has a good one) and the token for
        the form."""
        nonce = request.cookies.get(self.cookie) or ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{32}", nonce):
            nonce = secrets.token_urlsafe(24)
        return nonce, self._value(purpose, nonce)

    def ok(self, request: Request, purpose: str, sent: object) -> bool:
        """Whether ``sent`` is this form's token for the browser's cookie."""
        nonce = request.cookies.get(self.cookie) or ""
        if not nonce or not isinstance(sent, str) or not sent.startswith(nonce + "."):
            return False
        return hmac.compare_digest(sent, self._value(purpose, nonce))

    def set_cookie(self, request: Request, response: Response, nonce: str) -> Response:
        response.set_cookie(
            self.cookie,
            nonce,
            max_age=4 * 3600,
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
            path=self.path,
        )
        return response


class RedactTokens(logging.Filter):
    """Access-log lines show ``/r/…`` instead of a reply token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_PATH.sub("/r/…", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str) and "/r/" in record.msg:
            record.msg = _TOKEN_IN_PATH.sub("/r/…", record.msg)
        return True


_REDACT = RedactTokens()


class PublicBodies:
    """Let the public forms through the guard's pre-authentication of bodies, within their own
    limit (module docstring). Every other request passes untouched."""

    def __init__(self, app: Any, max_body: int = MAX_PUBLIC_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not PUBLIC_POST.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        length = next((v for k, v in headers if k.lower() == b"content-length"), None)
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body):
            message = f"送信されたデータが大きすぎます (上限 {self.max_body:,} バイト)"
            await error_response(scope, 413, message, {"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)  # the guard answers 413
            return message

        inner = {
            **scope,
            "headers": [
                (k, v)
                for k, v in headers
                if k.lower() not in (b"content-length", b"transfer-encoding")
            ],
        }
        await self.app(inner, limited, send)


def derived_key(app: FastAPI, purpose: bytes) -> bytes:
    """A key for one purpose, derived from the service's secret (``KYORYOKU_SECRET_KEY``)."""
    serializer = app.state.login_serializer
    secret = serializer.secret_key if hasattr(serializer, "secret_key") else b""
    if isinstance(secret, str):
        secret = secret.encode()
    return hmac.new(secret, purpose, hashlib.sha256).digest()


def install(app: FastAPI) -> None:
    """Once per app: the address window and the key its rows are hashed under, ``PublicBodies``
    just outside the security guard, and the log filter."""
    if getattr(app.state, "public_rate", None) is not None:
        return
    app.state.public_rate = RateWindow(RATE_PER_ADDRESS, 60.0, "public-address")
    app.state.public_rate_key = derived_key(app, b"kyoryoku-public-rate")
    guard = next(
        (k for k, m in enumerate(app.user_middleware) if getattr(m, "cls", None) is RequestGuard),
        len(app.user_middleware),
    )
    app.user_middleware.insert(guard, Middleware(PublicBodies))
    access = logging.getLogger("uvicorn.access")
    if _REDACT not in access.filters:
        access.addFilter(_REDACT)
