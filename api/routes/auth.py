"""Sessions: log in (cookie and bearer token), log out, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from ..deps import COOKIE, Session, current_session, issue_token, store_of
from ..schemas import LoginIn
from ..users import authenticate

router = APIRouter(prefix="/api/session", tags=["session"])


def user_dict(sess_user) -> dict[str, object]:
    return {
        "username": sess_user.username,
        "display_name": sess_user.display_name,
        "role": sess_user.role,
        "role_ja": sess_user.role_ja,
        "scope": list(sess_user.scope),
    }


def set_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=request.app.state.session_seconds,
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        path="/",
    )


@router.post("", summary="ログイン (Cookie とトークンを発行)")
def login(body: LoginIn, request: Request, response: Response) -> dict[str, object]:
    with store_of(request).read() as s:
        user = authenticate(s, body.username, body.password)
    if user is None:
        from ..deps import NotAuthenticated

        raise NotAuthenticated("ユーザー名またはパスワードが違います")
    token, csrf = issue_token(request, user)
    set_cookie(request, response, token)
    return {
        "token": token,
        "csrf_token": csrf,
        "expires_in": request.app.state.session_seconds,
        "user": user_dict(user),
    }


@router.get("", summary="ログイン中のユーザー")
async def me(sess: Session = Depends(current_session)) -> dict[str, object]:
    return {"user": user_dict(sess.user), "csrf_token": sess.csrf}


@router.delete("", summary="ログアウト")
def logout(response: Response, sess: Session = Depends(current_session)) -> dict[str, object]:
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}
