"""Read cache of the web layer: values computed from the store, kept until the store changes.

Every entry is tagged with a change token read before the value was computed: SQLite's
``PRAGMA data_version`` on a connection of our own that never writes (it changes whenever any
other connection, in this or another process, commits) and today's date (declarations and the
days left depend on it). An entry is served only while the token is unchanged, so a write
anywhere — web, CLI, another worker — invalidates everything at once; no write path has to
remember to clear the cache. Other databases (and in-memory SQLite) have no such cheap token:
there nothing is cached and every read is computed.

Values are shared between requests and threads: callers must not mutate them.

``cached_call`` lets an async route answer on the event loop when everything it reads is cached
(no thread hand-off, which costs more than the answer itself) and moves it to a worker thread
only when something has to be read from the store.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import sqlite3
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

from fastapi import FastAPI, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")
P = ParamSpec("P")
Token = tuple[int, dt.date]
MAX_ENTRIES = 20_000  # a safety bound: one entry per facility, user, area and query shape
_only_cached: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kyoryoku_only_cached", default=False
)


class CacheMiss(Exception):
    """Raised inside ``cached_call``'s first attempt when a value would have to be computed."""


class ReadCache:
    """Values keyed by any hashable key, valid while the store's change token is unchanged."""

    def __init__(self, engine: Engine) -> None:
        self._conn: sqlite3.Connection | None = None
        url = engine.url
        if (
            url.get_backend_name() == "sqlite"
            and url.database
            and url.database != ":memory:"
            and not url.database.startswith("file:")
        ):
            # Autocommit, never writes: its data_version moves on every commit of anyone else.
            self._conn = sqlite3.connect(
                url.database, check_same_thread=False, isolation_level=None
            )
            # Closed with the cache (or at exit): an unclosed connection warns when collected.
            self._finalizer = weakref.finalize(self, self._conn.close)
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._values: dict[Hashable, Any] = {}
        self._computing: dict[Hashable, threading.Lock] = {}

    @property
    def enabled(self) -> bool:
        return self._conn is not None

    def token(self) -> Token | None:
        """The current change token (``None``: caching unavailable)."""
        if self._conn is None:
            return None
        with self._lock:
            (version,) = self._conn.execute("PRAGMA data_version").fetchone()
            token = (int(version), dt.date.today())
            if token != self._token:
                self._token, self._values = token, {}
            return token

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of ``key``: cached, or computed now (once, however many threads ask).

        ``compute`` must read the store itself (it runs after the token is taken, so its snapshot
        is at least as new as the token says).
        """
        token = self.token()
        if token is None:
            if _only_cached.get():
                raise CacheMiss(key)
            return compute()
        values = self._values
        if key in values:
            return values[key]
        if _only_cached.get():
            raise CacheMiss(key)
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if self._token == token and key in self._values:
                    return self._values[key]
            try:
                value = compute()
                with self._lock:
                    if self._token == token:
                        if len(self._values) >= MAX_ENTRIES:
                            self._values = {}
                        self._values[key] = value
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            return value

    def close(self) -> None:
        if self._conn is not None:
            self._finalizer()
            self._conn = None


async def cached_call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` on the event loop if every cache value it asks for is there, else
    in a worker thread. ``fn`` must read only through ``ReadCache.get`` until its last miss
    and change nothing (it may run twice)."""
    flag = _only_cached.set(True)
    try:
        return fn(*args, **kwargs)
    except CacheMiss:
        pass
    finally:
        _only_cached.reset(flag)
    return await run_in_threadpool(fn, *args, **kwargs)


_create = threading.Lock()


def cache_of(app: FastAPI) -> ReadCache:
    """The app's read cache (created on first use, on the app's store)."""
    cache = getattr(app.state, "read_cache", None)
    if cache is None:
        with _create:
            cache = getattr(app.state, "read_cache", None)
            if cache is None:
                cache = ReadCache(app.state.store.engine)
                app.state.read_cache = cache
    return cache


async def get_cache(request: Request) -> ReadCache:
    """The read cache (a dependency; async so that FastAPI does not hand it to a worker thread)."""
    return cache_of(request.app)
