"""Put the defences on an app: middleware, exception handlers, documentation routes."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from matcher.settings import Settings

from .docs import DOCS_CSP, install_docs
from .middleware import HeadAsGet, RequestGuard, SecurityHeaders, error_response
from .throttle import LoginThrottled, ThrottlePolicy


def content_security_policy(tiles_url: str) -> str:
    """The pages' CSP: everything from this origin only, no inline script or style; map tiles
    from the tile server's origin when one is configured."""
    img = "'self' data:"
    if tiles_url:
        parts = urlsplit(tiles_url.replace("{s}", "a"))
        if parts.scheme in ("http", "https") and parts.netloc:
            img += f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {img}; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route accepts at this path (for ``Allow`` on 405): each method is tried
    against the router (FastAPI nests included routers, so the routes cannot simply be listed)."""
    methods = {
        m
        for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(
            route.matches({**request.scope, "method": m})[0] == Match.FULL
            for route in app.router.routes
        )
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install(app: FastAPI, settings: Settings) -> None:
    """Add middleware, handlers and the offline documentation to ``app``."""
    from ..deps import read_session

    app.state.throttle = ThrottlePolicy(
        account_free=settings.login_max_failures,
        address_free=settings.login_address_max_failures,
        lock_seconds=settings.login_lock_seconds,
        lock_max_seconds=settings.login_lock_max_seconds,
    )
    origins = frozenset(
        o.strip().rstrip("/") for o in settings.allowed_origins.split(",") if o.strip()
    )
    app.state.allowed_origins = origins  # also for the pages that check a GET (``previews``)
    # Starlette wraps the app in the reverse order of add_middleware: the headers are outermost,
    # so even a refusal from the guard carries them.
    app.add_middleware(
        RequestGuard,
        max_body=settings.max_body_bytes,
        max_upload=settings.max_upload_bytes + 64 * 1024,  # multipart framing and form fields
        allowed_origins=origins,
        read_session=read_session,
    )
    app.add_middleware(HeadAsGet)
    app.add_middleware(
        SecurityHeaders, csp=content_security_policy(app.state.tiles_url), docs_csp=DOCS_CSP
    )
    install_docs(app)

    @app.exception_handler(LoginThrottled)
    async def _throttled(request: Request, exc: LoginThrottled) -> Response:
        return error_response(request.scope, 429, str(exc), {"Retry-After": str(exc.seconds)})

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request))
            detail = "この URL ではその操作 (HTTP メソッド) は使えません"
        elif exc.status_code == 404 and exc.detail == "Not Found":
            detail = "見つかりません"
        else:
            detail = str(exc.detail)
        if request.url.path.startswith("/api/") or request.url.path.startswith("/static/"):
            return await http_exception_handler(
                request, HTTPException(exc.status_code, detail, headers)
            )
        return error_response(request.scope, exc.status_code, detail, headers)
