"""Read cache of the web layer: values computed from the store, kept until what they depend on
changes.

Every write to the store bumps a counter per topic in ``store_changes`` (database triggers,
revision 0004: ``registry``, ``proposals``, ``runs``, ``users``, ``sessions``), whoever writes —
this worker, another worker, the CLI. Each entry is tagged with the counters of the topics its
key depends on (``TOPICS``; unknown keys depend on all) and today's date (declarations and the
days left depend on it), and is served only while they are unchanged. A status change thus
invalidates the proposal and facility views but not the users, sessions or areas, and no write
path has to remember to clear anything.

Reading the counters: on a SQLite file, ``PRAGMA data_version`` of a connection of our own
(it moves when anyone else commits) tells whether to read ``store_changes`` again at all; on
PostgreSQL one primary-key read of ``store_changes`` per lookup. In-memory SQLite: no cache.

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
Tag = tuple[object, ...]
MAX_ENTRIES = 20_000  # a safety bound: one entry per facility, user, area and query shape
ALL_TOPICS = ("registry", "proposals", "runs", "users", "sessions")
# What each key (by its first element) depends on; keys not listed depend on every topic.
TOPICS: dict[str, tuple[str, ...]] = {
    "user": ("users",),
    "session": ("sessions", "users"),
    "areas": ("registry",),
    "facility_index": ("registry", "proposals"),
    "facility_states": ("registry", "proposals"),
    "facility_detail": ("registry", "proposals"),
    "facility_detail_json": ("registry", "proposals"),
    "proposals": ("registry", "proposals"),
    "workspace_institutions": ("registry", "proposals"),
}
_only_cached: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kyoryoku_only_cached", default=False
)


class CacheMiss(Exception):
    """Raised inside ``cached_call``'s first attempt when a value would have to be computed."""


def topics_of(key: Hashable) -> tuple[str, ...]:
    head = key[0] if isinstance(key, tuple) and key else key
    return TOPICS.get(head, ALL_TOPICS) if isinstance(head, str) else ALL_TOPICS


class ReadCache:
    """Values keyed by any hashable key, valid while the counters of their topics are unchanged."""

    def __init__(self, engine: Engine) -> None:
        self._conn: sqlite3.Connection | None = None
        self._pg = None
        self._engine = engine
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
        elif url.get_backend_name() == "postgresql":
            self._pg = engine.raw_connection()
            self._pg.driver_connection.autocommit = True
            self._finalizer = weakref.finalize(self, self._pg.close)
        self._lock = threading.Lock()
        self._data_version: int | None = None
        self._versions: dict[str, int] = {}
        self._values: dict[Hashable, tuple[Tag, Any]] = {}
        self._computing: dict[Hashable, threading.Lock] = {}

    @property
    def enabled(self) -> bool:
        return self._conn is not None or self._pg is not None

    def versions(self) -> dict[str, int] | None:
        """The topics' change counters now (``None``: caching unavailable)."""
        with self._lock:
            if self._conn is not None:
                (dv,) = self._conn.execute("PRAGMA data_version").fetchone()
                if dv != self._data_version or not self._versions:
                    self._versions = self._read(self._conn.execute)
                    self._data_version = dv
                return self._versions
            if self._pg is not None:
                try:
                    cur = self._pg.cursor()
                    try:
                        self._versions = self._read(cur.execute, cur)
                    finally:
                        cur.close()
                except Exception:  # connection lost (server restart): reconnect next time
                    self._reconnect()
                    return None
                return self._versions
        return None

    def _reconnect(self) -> None:
        try:
            self._pg.close()
            self._pg = self._engine.raw_connection()
            self._pg.driver_connection.autocommit = True
        except Exception:  # still down: this lookup computes without the cache
            pass

    @staticmethod
    def _read(execute, cursor=None) -> dict[str, int]:
        try:
            result = execute("SELECT topic, version FROM store_changes")
        except Exception:  # an older schema without counters: every change is one topic
            return {}
        rows = (cursor or result).fetchall()
        return {str(t): int(v) for t, v in rows}

    def tag(self, key: Hashable) -> Tag | None:
        """What ``key``'s value is valid for now: its topics' counters and today's date."""
        versions = self.versions()
        if versions is None:
            return None
        if not versions and self._conn is not None:
            return (self._data_version, dt.date.today())  # no counters: any commit invalidates
        return (*(versions.get(t, 0) for t in topics_of(key)), dt.date.today())

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of ``key``: cached, or computed now (once, however many threads ask).

        ``compute`` must read the store itself (it runs after the tag is taken, so its snapshot
        is at least as new as the tag says).
        """
        tag = self.tag(key)
        if tag is None:
            if _only_cached.get():
                raise CacheMiss(key)
            return compute()
        hit = self._values.get(key)
        if hit is not None and hit[0] == tag:
            return hit[1]
        if _only_cached.get():
            raise CacheMiss(key)
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            hit = self._values.get(key)
            if hit is not None and hit[0] == tag:
                return hit[1]
            try:
                value = compute()
                with self._lock:
                    if len(self._values) >= MAX_ENTRIES:
                        self._values = {}
                    self._values[key] = (tag, value)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            return value

    def close(self) -> None:
        if self._conn is not None or self._pg is not None:
            self._finalizer()
            self._conn = self._pg = None


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
