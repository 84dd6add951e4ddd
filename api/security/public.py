"""The pages people outside open without a login — the reply links (``/r/{token}``) and the
相談窓口 (``/r/{token}/soudan``, the public ``/soudan``) — and what guards them besides what
guards every page (``middleware``):

- *floods*: at most ``RATE_PER_ADDRESS`` requests a minute per client address (``RateWindow``,
  in the worker's memory: cheap enough to answer a flood); the routes add their own windows
  (answers per letter, requests per address and per hour);
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
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.middleware import Middleware

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


class RateWindow:
    """At most ``limit`` hits per key in any ``seconds`` (sliding window, this worker's memory,
    at most ``max_keys`` keys: the oldest are forgotten first)."""

    def __init__(self, limit: int, seconds: float, max_keys: int = 20_000) -> None:
        self.limit, self.seconds, self.max_keys = limit, seconds, max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> int:
        """Count a hit; the seconds to wait (0: allowed, and counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.seconds:
                hits.popleft()
            self._hits[key] = hits  # most recently used last
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.seconds - now))
            hits.append(now)
            while len(self._hits) > self.max_keys:
                self._hits.pop(next(iter(self._hits)))
            return 0


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


def hit(request: Request, window: RateWindow, key: str) -> None:
    """Count a hit of ``key`` in ``window``; ``PublicThrottled`` beyond its limit."""
    wait = window.hit(key)
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
    """Once per app: the address window, ``PublicBodies`` just outside the security guard, and
    the log filter."""
    if getattr(app.state, "public_rate", None) is not None:
        return
    app.state.public_rate = RateWindow(RATE_PER_ADDRESS, 60.0)
    guard = next(
        (k for k, m in enumerate(app.user_middleware) if getattr(m, "cls", None) is RequestGuard),
        len(app.user_middleware),
    )
    app.user_middleware.insert(guard, Middleware(PublicBodies))
    access = logging.getLogger("uvicorn.access")
    if _REDACT not in access.filters:
        access.addFilter(_REDACT)
