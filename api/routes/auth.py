"""Sessions: log in (cookie and bearer token, throttled), log out, who am I, change the password,
end another user's sessions (administrators)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from ..deps import COOKIE, SessionDep, store_of
from ..schemas import LoginIn, LoginOut, MeOut, OkOut, SessionsEndedOut
from ..security.login import attempt_login, end_session, set_cookie, user_dict
from ..users import change_password, revoke_sessions

router = APIRouter(prefix="/api/session", tags=["session"])


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)


@router.post(
    "",
    summary="ログイン (Cookie とトークンを発行。失敗が続くと一時ロックして 429)",
    response_model=LoginOut,
)
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


@router.get("", summary="ログイン中のユーザー", response_model=MeOut)
async def me(sess: SessionDep) -> dict[str, object]:
    return {"user": user_dict(sess.user), "csrf_token": sess.csrf}


@router.delete("", summary="ログアウト (セッションを無効にする)", response_model=OkOut)
def logout(request: Request, response: Response, sess: SessionDep) -> dict[str, object]:
    end_session(request, sess)
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.post(
    "/password",
    summary="パスワードを変更 (他のセッションはすべて無効)",
    response_model=SessionsEndedOut,
)
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
    response_model=SessionsEndedOut,
)
def revoke_user_sessions(username: str, request: Request, sess: SessionDep) -> dict[str, object]:
    with store_of(request).write() as s:
        ended = revoke_sessions(s, sess.user, username)
    return {"ok": True, "sessions_ended": ended}
