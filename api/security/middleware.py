"""ASGI middleware in front of every route: request size and pre-authentication of bodies,
Origin/Referer on state-changing requests, HEAD on pages, and the security headers.

Pure ASGI (no ``BaseHTTPMiddleware``) so that a body is never buffered: a request announcing more
than its limit is refused before anything is read, a body that grows past it while streaming
is cut off, and a request with a body but without a valid session is answered (401, or the
login page for pages) before its first byte is received — uvicorn sends ``100 Continue`` only
when the application reads, so a well-behaved client never uploads at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Requests that may carry a body before there is a session: the two login forms.
LOGIN_ROUTES = frozenset({("POST", "/api/session"), ("POST", "/login")})


def is_upload(path: str) -> bool:
    """Whether a path takes file uploads (the larger body limit applies)."""
    return path == "/imports" or path.startswith("/api/imports/")


class BodyTooLarge(HTTPException):
    """A body that grew past its limit while being read (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"送信されたデータが大きすぎます (上限 {limit:,} バイト)。"
            "ファイルを分けるか、圧縮してから送ってください",
        )


def error_response(
    scope: Scope, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON error under /api/, the Japanese error page elsewhere."""
    request = Request(scope)
    if (
        request.url.path.startswith("/api/")
        or getattr(request.app.state, "templates", None) is None
    ):
        return JSONResponse({"detail": message}, status, headers=headers)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "extra": {}},
        status_code=status,
        headers=headers,
    )


def foreign_origin(headers: Mapping[str, str], allowed_origins: frozenset[str]) -> bool:
    """Whether a request's Origin (or, without one, Referer) is another site than this one (the
    ``Host`` it came to, or one of ``allowed_origins``). A request with neither is no browser's
    (API clients, curl): not foreign (CSRF tokens still apply to what it changes)."""
    host = headers.get("host", "")
    origin = headers.get("origin")
    if origin is None:
        referer = headers.get("referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin in allowed_origins:
        return False
    parts = urlsplit(origin)
    return not (origin != "null" and parts.scheme in ("http", "https") and parts.netloc == host)


class RequestGuard:
    """Body size limits, pre-authentication of bodies and the Origin check."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_upload: int,
        allowed_origins: frozenset[str],
        read_session: Callable[[Request], object | None],
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.allowed_origins = allowed_origins
        self.read_session = read_session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.max_upload if is_upload(path) else self.max_body
        if method not in SAFE_METHODS:
            refused = self._origin_refused(headers)
            if refused:
                await error_response(scope, 403, refused)(scope, receive, send)
                return
        length_text = headers.get("content-length")
        length = None
        if length_text is not None:
            if not length_text.strip().isdigit():
                await error_response(scope, 400, "Content-Length が不正です")(scope, receive, send)
                return
            length = int(length_text)
            if length > limit:
                exc = BodyTooLarge(limit)
                await error_response(scope, 413, exc.detail, {"Connection": "close"})(
                    scope, receive, send
                )
                return
        has_body = bool(length) or "chunked" in headers.get("transfer-encoding", "")
        if has_body and method not in SAFE_METHODS and (method, path) not in LOGIN_ROUTES:
            if self.read_session(Request(scope)) is None:
                await self._unauthenticated(scope, receive, send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await error_response(scope, 413, exc.detail, {"Connection": "close"})(
                scope, receive, send
            )

    def _origin_refused(self, headers: dict[str, str]) -> str | None:
        """Why a state-changing request's Origin (or, without one, Referer) is refused."""
        if not foreign_origin(headers, self.allowed_origins):
            return None
        return "別のサイトから送られた変更の要求は受け付けません (Origin が一致しません)"

    async def _unauthenticated(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path.startswith("/api/"):
            response: Response = JSONResponse(
                {"detail": "ログインしてください"},
                401,
                headers={"WWW-Authenticate": "Bearer", "Connection": "close"},
            )
        else:
            response = RedirectResponse(f"/login?next={quote(path)}", 303)
            response.headers["Connection"] = "close"
        await response(scope, receive, send)


class HeadAsGet:
    """Answer HEAD like GET without a body (FastAPI routes list GET only)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def no_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, no_body)


class SecurityHeaders:
    """CSP, framing, sniffing, referrer and caching headers on every response; HSTS over HTTPS."""

    def __init__(self, app: ASGIApp, *, csp: str, docs_csp: str) -> None:
        self.app = app
        self.csp = csp
        self.docs_csp = docs_csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        csp = self.docs_csp if path in ("/docs", "/redoc") else self.csp
        static = path.startswith("/static/")
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if static or k.lower() not in (b"cache-control", b"pragma")
                ]
                raw += [
                    (b"content-security-policy", csp.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if not static:
                    raw += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
                if https:
                    raw.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, with_headers)
