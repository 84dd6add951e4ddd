"""One place mapping domain errors to HTTP: input → 422 with file/row/column, stale version or a
status change the current state does not allow → 409, unknown or out-of-scope objects → 404, no
session → 401 (pages: to the login page)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError

from matcher._errors import InputError, MatcherError, RowIssue
from matcher.store.db import translate
from matcher.store.errors import ConflictError, NotFoundError, StoreError, TransitionError

from .deps import Forbidden, NotAuthenticated

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def issue_dict(i: RowIssue) -> dict[str, object]:
    """One row issue as JSON (the API's 422 body and the import pages)."""
    return {
        "file": i.file,
        "row": i.row,
        "column": i.column,
        "value": i.value,
        "message": i.message,
        "severity": i.severity,
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def _unauth(request: Request, exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, 401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", 303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, str(exc))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Response:
        issues = [issue_dict(i) for i in exc.issues]
        return _error(request, 422, str(exc), {"issues": issues})

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        return _error(request, 404, str(exc))

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> Response:
        return _error(
            request, 409, str(exc), {"expected_version": exc.expected, "actual_version": exc.actual}
        )

    @app.exception_handler(TransitionError)
    async def _transition(request: Request, exc: TransitionError) -> Response:
        # a conflict with the proposal's current state, not bad input
        return _error(request, 409, str(exc))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> Response:
        return _error(request, 503, str(exc))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(sqlite3.Error)
    async def _database(request: Request, exc: Exception) -> Response:
        # raised outside Store.read()/write() (which translate themselves): one line, 503
        return _error(request, 503, str(translate(exc)))

    @app.exception_handler(MatcherError)
    async def _matcher(request: Request, exc: MatcherError) -> Response:
        return _error(request, 422, str(exc))


def _error(
    request: Request, status: int, message: str, extra: dict[str, object] | None = None
) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": message, **(extra or {})}, status)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "extra": extra or {}},
        status_code=status,
    )


def _documented() -> dict[int | str, dict[str, Any]]:
    from .schemas import ErrorOut

    return {
        code: {"model": ErrorOut, "description": text}
        for code, text in (
            (401, "ログインしていない"),
            (403, "権限がない・CSRF トークンが一致しない"),
            (404, "見つからない (担当地域外を含む)"),
            (409, "他の人が先に更新した (版が古い)・今の状態からはその状態に変更できない"),
            (422, "入力が不正 (項目・行・列を示す)"),
        )
    }


# The error answers every API router documents (the handlers above produce them).
ERROR_RESPONSES = _documented()
