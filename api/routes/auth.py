"""Sessions: log in (cookie and bearer token, throttled), log out, who am I, change the password,
end another user's sessions (administrators)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from ..deps import COOKIE, NotAuthenticated, Session, SessionDep, client_address, store_of
from ..schemas import LoginIn
from ..security import sessions as server_sessions
from ..security import throttle
from ..users import User, audit, authenticate, change_password, revoke_sessions

router = APIRouter(prefix="/api/session", tags=["session"])


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)


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


@router.post("", summary="ログイン (Cookie とトークンを発行。失敗が続くと一時ロックして 429)")
def login(body: LoginIn, request: Request, response: Response) -> dict[str, object]:
    user, token, csrf = attempt_login(request, body.username, body.password)
    set_cookie(request, response, token)
    return {
        "token": token,
        "csrf_token": csrf,
        "expires_in": request.app.state.session_seconds,
        "idle_timeout": request.app.state.session_idle_seconds,
        "user": user_dict(user),
    }


@router.get("", summary="ログイン中のユーザー")
async def me(sess: SessionDep) -> dict[str, object]:
    return {"user": user_dict(sess.user), "csrf_token": sess.csrf}


@router.delete("", summary="ログアウト (セッションを無効にする)")
def logout(request: Request, response: Response, sess: SessionDep) -> dict[str, object]:
    end_session(request, sess)
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.post("/password", summary="パスワードを変更 (他のセッションはすべて無効)")
def password(
    body: PasswordIn,
    request: Request,
    response: Response,
    sess: SessionDep,
) -> dict[str, object]:
    with store_of(request).write() as s:
        ended = change_password(s, sess.user, body.current_password, body.new_password, sess.id)
    return {"ok": True, "sessions_ended": ended}


@router.delete(
    "/users/{username}",
    summary=(
        "あるユーザーのセッションをすべて無効にする (本人、または担当地域を含む都道府県ユーザー)"
    ),
)
def revoke_user_sessions(username: str, request: Request, sess: SessionDep) -> dict[str, object]:
    with store_of(request).write() as s:
        ended = revoke_sessions(s, sess.user, username)
    return {"ok": True, "sessions_ended": ended}
