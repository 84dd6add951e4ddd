"""Logging in and out: the throttled password check that starts a server-side session, the
session cookie, and the logout — shared by the login page and ``POST /api/session``."""

from __future__ import annotations

from fastapi import Request, Response

from ..deps import COOKIE, NotAuthenticated, Session, client_address, store_of
from ..users import User, audit, authenticate
from . import sessions as server_sessions
from . import throttle


def user_dict(sess_user: User) -> dict[str, object]:
    return {
        "username": sess_user.username,
        "display_name": sess_user.display_name,
        "role": sess_user.role,
        "role_ja": sess_user.role_ja,
        "scope": list(sess_user.scope),
    }


def cookie_secure(request: Request) -> bool:
    """Whether cookies get ``Secure``: always, never, or (auto) when the request came by HTTPS."""
    mode = request.app.state.secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def set_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=request.app.state.session_seconds,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/",
    )


def attempt_login(request: Request, username: str, password: str) -> tuple[User, str, str]:
    """Check the throttle, the password, record the outcome in the audit trail and start a
    session: the user, the token and the CSRF token. Raises ``LoginThrottled`` (429) while the
    account or the address is locked and ``NotAuthenticated`` (401) for a wrong password."""
    store, address = store_of(request), client_address(request)
    policy: throttle.ThrottlePolicy = request.app.state.throttle
    actor = username.strip()[:100] or "-"
    with store.read() as s:
        wait = throttle.retry_after(s, username, address)
    if wait:
        raise throttle.LoginThrottled(wait)
    with store.read() as s:
        user = authenticate(s, username, password)
    if user is None:
        with store.write() as s:
            locks = throttle.failed(s, username, address, policy)
            audit(s, actor, "login.failure", address, {"address": address})
            for key, seconds in locks.items():
                audit(s, actor, "login.locked", key[:200], {"seconds": seconds, "address": address})
        raise NotAuthenticated("ユーザー名またはパスワードが違います")
    with store.write() as s:
        throttle.succeeded(s, username)
        token, csrf = server_sessions.create(s, user.id, request.app.state.session_seconds, address)
        audit(s, user.username, "login.success", address, {"address": address})
    return user, token, csrf


def end_session(request: Request, sess: Session) -> None:
    """Revoke the request's own session (logout)."""
    with store_of(request).write() as s:
        if server_sessions.revoke(s, sess.id, sess.user.username, "logout"):
            audit(s, sess.user.username, "logout", "", {})
