"""The run preview's guards: a GET that solves (a dry run of the planner) answers only a request
made from this site, and a user runs a bounded number of previews at once.

The preview stays a GET (Back from the run's page shows it again, the dashboard and the reply
pages link to it, no CSRF token ends up in a URL), so a link or an image on another site could
otherwise make a logged-in coordinator's browser start solves (the session cookie is SameSite
Lax: sent on a top-level link from another site).

- ``cross_site``: the browser's ``Sec-Fetch-Site`` (every current browser sends it) must say
  ``same-origin`` or ``none`` (typed, a bookmark); ``same-site`` (a sibling host) and
  ``cross-site`` are refused. Without it, an ``Origin`` or ``Referer`` naming another site is
  refused (``middleware.foreign_origin``, the rule of state-changing requests); with neither
  the request is no browser's (tests, curl) and is answered.
- ``PreviewSlots``: at most ``PREVIEWS_PER_USER`` previews of one user computed at once in this
  process; one more is refused (429) before anything is solved. Each worker process counts its
  own (a user's requests normally reach the same few workers).
- ``count_start``: at most ``PREVIEWS_PER_MINUTE`` previews started by one user in any minute,
  counted in the store (``public.RateWindow``, keyed by the user's id as an HMAC), so every
  worker shares the bound: a flood spread over many workers is refused as one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from fastapi import Request

from ..deps import store_of
from .middleware import foreign_origin
from .public import RateWindow, key_hash

PREVIEWS_PER_USER = 2
T = TypeVar("T")
# A coordinator trying ranges previews a few times a minute; a script would do hundreds.
PREVIEWS_PER_MINUTE = 12
SAME_ORIGIN = frozenset({"same-origin", "none"})
CROSS_SITE_JA = (
    "別のサイトのリンクや画像からの再計算の確認は受け付けません。"
    "内容を確かめてから、下のボタンで確認してください"
)
RATE_JA = (
    "短い間に再計算の確認が続いたため、一時的に受け付けを止めています"
    "(1 人 1 分あたり {n} 件まで)。{wait} 秒ほど待ってから、もう一度お試しください"
)
BUSY_JA = (
    "再計算の確認はすでに {n} 件計算中です。終わってから、もう一度お試しください"
    "(同時に計算できるのは 1 人 {n} 件までです)"
)


def cross_site(request: Request) -> bool:
    """Whether ``request`` came from another site (or a sibling host) than this one."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() not in SAME_ORIGIN
    allowed: frozenset[str] = getattr(request.app.state, "allowed_origins", frozenset())
    return foreign_origin({k.lower(): v for k, v in request.headers.items()}, allowed)


class PreviewBusy(Exception):
    """The user already has ``PREVIEWS_PER_USER`` previews being computed."""

    def __init__(self, limit: int) -> None:
        super().__init__(BUSY_JA.format(n=limit))
        self.limit = limit


class PreviewRated(PreviewBusy):
    """The user started ``PREVIEWS_PER_MINUTE`` previews within the last minute (all workers)."""

    def __init__(self, limit: int, wait: int) -> None:
        Exception.__init__(self, RATE_JA.format(n=limit, wait=wait))
        self.limit, self.wait = limit, wait


def _app_object(request: Request, name: str, make: Callable[[], T]) -> T:
    """``request.app.state.<name>``, made by ``make`` on first use (once, whatever the threads)."""
    state = request.app.state
    made: T | None = getattr(state, name, None)
    if made is None:
        with _MAKE:
            made = getattr(state, name, None)
            if made is None:
                made = make()
                setattr(state, name, made)
    return made


def preview_window(request: Request) -> RateWindow:
    """The app's shared window of preview starts per user (made on first use)."""
    return _app_object(
        request, "preview_rate", lambda: RateWindow(PREVIEWS_PER_MINUTE, 60.0, "preview-user")
    )


def count_start(request: Request, user_id: int) -> None:
    """Count a preview started by ``user_id`` in the shared window; ``PreviewRated`` beyond it
    (nothing is solved then)."""
    window = preview_window(request)
    wait = window.hit(store_of(request), key_hash(request.app, window, f"user:{user_id}"))
    if wait:
        raise PreviewRated(window.limit, wait)


class PreviewSlots:
    """How many previews each user is computing now (this process), bounded per user."""

    def __init__(self, per_user: int = PREVIEWS_PER_USER) -> None:
        self.per_user = per_user
        self._lock = threading.Lock()
        self._busy: dict[int, int] = {}

    @contextmanager
    def hold(self, user_id: int) -> Iterator[None]:
        """A slot of ``user_id`` while the block runs; ``PreviewBusy`` when none is free."""
        with self._lock:
            n = self._busy.get(user_id, 0)
            if n >= self.per_user:
                raise PreviewBusy(self.per_user)
            self._busy[user_id] = n + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._busy[user_id] - 1
                if left:
                    self._busy[user_id] = left
                else:
                    del self._busy[user_id]

    def busy(self, user_id: int) -> int:
        """How many previews ``user_id`` is computing now."""
        with self._lock:
            return self._busy.get(user_id, 0)


def preview_slots(request: Request) -> PreviewSlots:
    """The app's ``PreviewSlots`` (made on first use)."""
    return _app_object(request, "preview_slots", PreviewSlots)


_MAKE = threading.Lock()
