"""One place mapping domain errors to HTTP: input → 422 with file/row/column, stale version or a
status change the current state does not allow → 409, unknown or out-of-scope objects → 404, no
session → 401 (pages: to the login page).

The JSON API (/api/…) answers in JSON. Pages answer in the layout (``error.html``), in Japanese:
a query or form parameter FastAPI refuses → 422 naming the parameter and what it accepts (never
the value sent), a path parameter it refuses or an unknown path → 404.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import sqlite3
import types
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from matcher._errors import InputError, MatcherError, RowIssue
from matcher.store.db import translate
from matcher.store.errors import ConflictError, NotFoundError, StoreError, TransitionError
from matcher.usecases.actor import NotAllowedError
from matcher.usecases.views import issue_view

from .deps import Forbidden, NotAuthenticated

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates


PAGE_NOT_FOUND = "このページは見つかりません。URL を確かめてください"
INVALID_INPUT = "次の項目を受け付けられませんでした。直してからもう一度お試しください。"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _is_page(request: Request) -> bool:
    """Whether ``request`` asked for a page (not the API, not a static file)."""
    return not request.url.path.startswith(("/api/", "/static/"))


def issue_dict(i: RowIssue) -> dict[str, object]:
    """One row issue as JSON (the API's 422 body; an import's answer has the same view)."""
    return dataclasses.asdict(issue_view(i))


def install(app: FastAPI) -> None:
    """Add the handlers to ``app``, after ``api.security``'s: the page 404 falls back to the
    HTTP handler installed before it for everything else (JSON under /api, 405 with Allow)."""
    fallback = app.exception_handlers.get(HTTPException, http_exception_handler)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404 and _is_page(request):
            default = exc.detail in ("Not Found", "見つかりません")
            return _error(request, 404, PAGE_NOT_FOUND if default else str(exc.detail))
        answer = fallback(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not _is_page(request):
            return await request_validation_exception_handler(request, exc)
        errors = list(exc.errors())
        if any(tuple(e.get("loc", ()))[:1] == ("path",) for e in errors):
            return _error(request, 404, PAGE_NOT_FOUND)  # /runs/0, /runs/jobs/-1: no such page
        return _error(request, 422, INVALID_INPUT, {"fields": invalid_fields(request, errors)})

    @app.exception_handler(NotAuthenticated)
    async def _unauth(request: Request, exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, 401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", 303)

    @app.exception_handler(Forbidden)
    @app.exception_handler(NotAllowedError)
    async def _forbidden(request: Request, exc: Exception) -> Response:
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


# --- what a page says about a refused parameter ------------------------------------------------


def invalid_fields(request: Request, errors: Sequence[Any]) -> list[str]:
    """One Japanese line per refused parameter: its label and name and what it accepts, from the
    route's declaration (``Query(ge=1, title="ページ")``) or else from the error. The value sent
    is never repeated, and a name that is not a plain identifier is not shown."""
    lines: dict[str, str] = {}
    for error in errors:
        loc = tuple(error.get("loc", ()))
        name = loc[1] if len(loc) > 1 else (loc[0] if loc else "")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            name = ""
        if name in lines:
            continue
        info = _declared(request, str(loc[0]) if loc else "", name) if name else None
        label = f"「{info.title}」({name})" if info and info.title else f"「{name or '入力'}」"
        if error.get("type") == "missing":
            lines[name] = f"{label} を指定してください"
        else:
            lines[name] = f"{label} は {_accepted(info, error)}で指定してください"
    return list(lines.values())


def _declared(request: Request, where: str, name: str) -> FieldInfo | None:
    """The declaration of parameter ``name`` (``where``: query, body …) of the request's route,
    looked for in its dependencies and in parameter models."""
    route = request.scope.get("route")
    kinds = {"query": "query_params", "body": "body_params", "header": "header_params"}
    if where not in kinds or route is None:
        return None
    for field in _params(getattr(route, "dependant", None), kinds[where]):
        info = getattr(field, "field_info", None)
        if not isinstance(info, FieldInfo):
            continue
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for key, inner in model.model_fields.items():
                if (inner.alias or key) == name:
                    return inner
        elif getattr(field, "alias", None) == name:
            return info
    return None


def _params(dependant: Any, kind: str) -> Iterator[Any]:
    if dependant is None:
        return
    yield from getattr(dependant, kind, ())
    for sub in getattr(dependant, "dependencies", ()):
        yield from _params(sub, kind)


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _accepted(info: FieldInfo | None, error: Any) -> str:
    """What a parameter accepts, in words: ``1 以上の整数``, ``0 より大きく 200 以下の数``,
    ``200 文字以内``, ``optimal・greedy・stable のいずれか``."""
    bounds: dict[str, object] = {}
    if info is not None:
        for item in info.metadata:
            for key in ("gt", "ge", "lt", "le", "min_length", "max_length"):
                if getattr(item, key, None) is not None:
                    bounds[key] = getattr(item, key)
    if not bounds:  # declared elsewhere (a model the route builds): the bound refused
        ctx = error.get("ctx") or {}
        bounds = {k: v for k, v in ctx.items() if k in ("gt", "ge", "lt", "le", "max_length")}
    kind = _kind(info.annotation if info else None, str(error.get("type", "")), bounds)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "・".join(str(m.value) for m in kind) + " のいずれか"
    if kind is bool:
        return "1 か 0 (true か false)"
    if kind in (int, float):
        noun = "整数" if kind is int else "数"
        low = (
            f"{_number(bounds['ge'])} 以上"
            if "ge" in bounds
            else f"{_number(bounds['gt'])} より大き"
            if "gt" in bounds
            else ""
        )
        high = (
            f"{_number(bounds['le'])} 以下"
            if "le" in bounds
            else f"{_number(bounds['lt'])} 未満"
            if "lt" in bounds
            else ""
        )
        if low.endswith("大き"):
            low += "く" if high else "い"
        return " ".join(p for p in (low, high) if p) + ("の" if low or high else "") + noun
    if "max_length" in bounds:
        return f"{bounds['max_length']} 文字以内"
    if "min_length" in bounds:
        return f"{bounds['min_length']} 文字以上"
    return "正しい値"


def _kind(annotation: object, error_type: str, bounds: dict[str, object]) -> object:
    """The parameter's type (``int | None`` → int), or the one its error and bounds show."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next((a for a in get_args(annotation) if a is not type(None)), None)
    if annotation is not None:
        return annotation
    for prefix, kind in (("int_", int), ("float_", float), ("bool_", bool)):
        if error_type.startswith(prefix):
            return kind
    if error_type in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return int if all(type(v) is int for v in bounds.values()) else float
    return str


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
