"""Read cache of the web layer: values computed from the store, kept until what they depend on
changes.

Every write to the store bumps a counter per topic in ``store_changes`` (database triggers,
revision 0004: ``registry``, ``proposals``, ``runs``, ``users``, ``sessions``), whoever writes —
this worker, another worker, the CLI. Each entry is tagged with the counters of the topics its
key depends on (``TOPICS``; unknown keys depend on all) and today's date (declarations and the
days left depend on it), and is served only while they are unchanged. A status change thus
invalidates the proposal and facility views but not the users, sessions or areas, and no write
path has to remember to clear anything.

Finer still, for proposal changes: a trigger logs the facility and the institution each proposal
change touches (``store_change_log``, revision 0006). A facility's page stays cached while the
facility is unchanged (the capacities it shows come from the ledger of every institution, kept
in one entry); the facility index (every facility's state) and the list of every proposal are
patched for the facilities that changed, and the ledger for the institutions whose line moved,
instead of being recomputed (``patch``). What a facility page reads besides its own proposals
is kept in registry-only entries (the institutions by place, the filed partners), so a page
opened for the first time costs one query.

Reading the counters (through ``matcher.store.cache.ChangeFeed``, which owns the SQL and what
the log keys mean): on a SQLite file, the feed's commit token (it moves when anyone else
commits) tells whether to read the counters again at all; on PostgreSQL the counters are read at
most every ``PG_POLL_SECONDS`` (20 ms) and at once after this process committed a write —
another worker's change shows within 20 ms. In-memory SQLite: no cache.

Values are shared between requests and threads: callers must not mutate them.

``cached_call`` lets an async route answer on the event loop when everything it reads is cached
(no thread hand-off, which costs more than the answer itself) and moves it to a worker thread
only when something has to be read from the store.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from fastapi import FastAPI, Request
from pydantic import TypeAdapter
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from matcher.store.cache import (
    CHANGE_TOPICS,
    ChangeFeed,
    ValueCache,
    any_change,
    change_keys,
    facility_change,
    institution_change,
    patch_subjects,
)
from matcher.store.db import local_commits
from matcher.wareki import today as today_jp

T = TypeVar("T")
P = ParamSpec("P")
Tag = tuple[object, ...]
MAX_ENTRIES = 20_000  # a safety bound: one entry per facility, user, area and query shape
# What each key (by its first element) depends on; keys not listed depend on every topic.
TOPICS: dict[str, tuple[str, ...]] = {
    "user": ("users",),
    "session": ("sessions", "users"),
    "areas": ("registry",),
    "facility_codes": ("registry",),
    "facility_ids": ("registry",),
    "facility_order": ("registry",),
    "filed_partners": ("registry",),
    "institution_table": ("registry",),
    "facility_index": ("registry", "proposals"),
    "run_params": ("registry", "runs"),
    "site_mates": ("registry",),
    # a page's candidates use the ranges of its area's latest run (``run_params``)
    "facility_detail": ("registry", "proposals", "runs"),
    "facility_detail_json": ("registry", "proposals", "runs"),
    "proposals": ("registry", "proposals"),
    "proposals_json": ("registry", "proposals"),
    "facilities_json": ("registry", "proposals"),
    "workspace_institutions": ("registry", "proposals"),
    "institution_ledger": ("registry", "proposals"),
}
# Keys whose proposal dependency is followed through the change log (revision 0006) instead of
# the ``proposals`` counter: a facility's page on its own proposals (the capacities it shows are
# laid over it from the ledger of every institution), the served JSON on both; the facility
# index and the list of every proposal are patched facility by facility, the ledger institution
# by institution (``matcher.store.cache.patch_subjects``).
LOGGED = frozenset(
    {"facility_detail", "facility_detail_json", "facility_index", "institution_ledger", "proposals"}
)
# PostgreSQL has no cheap "did anyone commit" token: the counters are read at most this often,
# and at once after this process committed — another worker's change shows within this delay.
PG_POLL_SECONDS = 0.02
_LOG_BEHIND = 15_000  # further behind than this, the pruned log may have lost rows
_only_cached: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kyoryoku_only_cached", default=False
)


class CacheMiss(Exception):
    """Raised inside ``cached_call``'s first attempt when a value would have to be computed."""


def topics_of(key: Hashable) -> tuple[str, ...]:
    head = key[0] if isinstance(key, tuple) and key else key
    return TOPICS.get(head, CHANGE_TOPICS) if isinstance(head, str) else CHANGE_TOPICS


_NESTED = frozenset({dict, list, tuple})


def _site_changes(page: object) -> frozenset[str]:
    """A facility page's site mates' change-log keys: a pair declined for another registration
    of the building closes it for the page too (``store.facilities.closed_institutions``)."""
    mates = page.get("site_mates", ()) if isinstance(page, dict) else ()
    return frozenset(facility_change(str(m)) for m in mates)


def _institutions_in(value: object, out: set[str]) -> set[str]:
    """Every ``institution_id`` anywhere in a value made of dicts and lists."""
    # exact types, and no call for a scalar: this walks every facility page computed
    if type(value) is dict:
        for k, v in value.items():
            if k == "institution_id" and type(v) is str:
                out.add(v)
            elif type(v) in _NESTED:
                _institutions_in(v, out)
    elif type(value) in _NESTED:
        for v in value:  # type: ignore[attr-defined]
            if type(v) in _NESTED:
                _institutions_in(v, out)
    return out


@dataclass(frozen=True)
class _Entry:
    tag: Tag  # the counters of the key's topics (without ``proposals`` when logged) and the date
    seq: int  # the change-log position the value was computed at
    deps: frozenset[str] | None  # logged keys: the log keys it depends on (None: any change)
    value: Any


class ReadCache:
    """Values keyed by any hashable key, valid while what they depend on is unchanged."""

    def __init__(self, engine: Engine) -> None:
        self._feed = ChangeFeed(engine)
        self._lock = threading.Lock()
        self._checked = (float("-inf"), -1)  # PostgreSQL: when the counters were last read
        self._data_version: int | None = None
        self._versions: dict[str, int] = {}
        self._has_log = True
        self._seq = -1  # last change-log id read (-1: not read yet)
        self._floor = 0  # values computed before this log position cannot be checked
        self._key_seq: dict[str, int] = {}  # log key → last id that touched it
        self._values: dict[Hashable, _Entry] = {}
        self._computing: dict[Hashable, threading.Lock] = {}

    @property
    def enabled(self) -> bool:
        return self._feed.enabled

    def _refresh(self) -> bool:
        """Read the counters (and the log, when proposals changed); False: caching unavailable.
        Called with ``_lock`` held."""
        feed = self._feed
        if feed.has_commit_token:
            dv = feed.commit_token()
            if dv == self._data_version and (self._seq >= 0 or not self._has_log):
                return True
            self._data_version = dv
        elif not feed.polled:
            return False
        if feed.polled and self._seq >= 0 and not self._due():
            return True
        try:
            before = self._versions.get("proposals")
            counters = feed.counters()
            if counters is None:  # an older schema: every change is one topic
                self._versions, self._has_log = {}, False
                return True
            self._versions = counters
            self._checked = (time.monotonic(), local_commits())
            if self._has_log and (self._seq < 0 or self._versions.get("proposals") != before):
                self._read_log()
        except Exception:
            if feed.polled:  # connection lost (server restart): reconnect next time
                feed.reconnect()
                return False
            raise
        return True

    def _due(self) -> bool:
        """PostgreSQL: whether the counters must be read again (this process wrote, or the last
        read is older than ``PG_POLL_SECONDS``). Called with ``_lock`` held."""
        if not self._feed.polled:
            return False
        at, commits = self._checked
        return commits != local_commits() or time.monotonic() - at > PG_POLL_SECONDS

    def _read_log(self) -> None:
        if self._seq < 0:
            top = self._feed.log_end()
            if top is None:  # no log table (older schema): logged keys follow the counter
                self._has_log = False
            else:
                self._seq = self._floor = top
            return
        rows = self._feed.log_since(self._seq)
        if rows is None:  # no log table (older schema): logged keys follow the counter
            self._has_log = False
            return
        if not rows:
            return
        if rows[-1][0] - self._seq > _LOG_BEHIND:
            self._floor, self._key_seq = rows[-1][0], {}
        for i, k in rows:
            self._key_seq[k] = i
            self._key_seq[any_change(k)] = i
        self._seq = rows[-1][0]

    def _tag(self, key: Hashable, logged: bool) -> Tag:
        if not self._versions and self._feed.has_commit_token:
            return (self._data_version, today_jp())  # no counters: any commit invalidates
        topics = [t for t in topics_of(key) if not (logged and t == "proposals")]
        return (*(self._versions.get(t, 0) for t in topics), today_jp())

    def _fresh(self, entry: _Entry, logged: bool) -> bool:
        if not logged or entry.seq == self._seq:
            return True
        if entry.seq < self._floor or entry.deps is None:
            return False
        return all(self._key_seq.get(k, -1) <= entry.seq for k in entry.deps)

    def _changed(self, key: Hashable, since: int) -> frozenset[str]:
        """What ``key``'s patch is given: the facilities (or institutions) changed since."""
        return patch_subjects(key, (k for k, i in self._key_seq.items() if i > since))

    def _deps(self, key: Hashable, value: object) -> frozenset[str] | None:
        """The change-log keys a logged value depends on (None: every proposal change)."""
        if not (
            isinstance(key, tuple)
            and len(key) == 2
            and key[0] == "facility_detail_json"
            and isinstance(key[1], str)
        ):
            keys = change_keys(key)  # the store's own values
            if keys is None or not (isinstance(key, tuple) and key[0] == "facility_detail"):
                return keys
            return keys | _site_changes(value)
        # the served page, capacities included
        detail = self._values.get(("facility_detail", key[1]))
        if detail is None:
            return None
        shown = _institutions_in(detail.value, set())
        return frozenset(
            {
                facility_change(key[1]),
                *_site_changes(detail.value),
                *(institution_change(i) for i in shown),
            }
        )

    def _derived_seq(self, key: Hashable, seq: int) -> int:
        """A value built from other entries is as old as the oldest of them (a change landing
        between them and this value must still invalidate it)."""
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == "facility_detail_json"):
            return seq
        detail = self._values.get(("facility_detail", key[1]))
        ledger = self._values.get(("institution_ledger",))
        if detail is None:
            return -1
        return min(seq, detail.seq, -1 if ledger is None else ledger.seq)

    def get(
        self,
        key: Hashable,
        compute: Callable[[], T],
        patch: Callable[[T, frozenset[str]], T] | None = None,
    ) -> T:
        """The value of ``key``: cached, or computed now (once, however many threads ask).

        ``compute`` must read the store itself (it runs after the counters are read, so its
        snapshot is at least as new as they say). ``patch(old, ids)``, when given, brings a
        value up to date after proposal changes of those facilities only (of those
        institutions' ledger lines for the ledger: ``patch_subjects``), used instead of
        ``compute`` when nothing else changed.
        """
        with self._lock:
            if _only_cached.get() and self._due():
                raise CacheMiss(key)  # reading the counters is I/O: not on the event loop
            if not self._refresh():
                if _only_cached.get():
                    raise CacheMiss(key)
                return compute()
            head = key[0] if isinstance(key, tuple) and key else key
            logged = self._has_log and head in LOGGED
            tag, seq = self._tag(key, logged), self._seq
            entry = self._values.get(key)
            if entry is not None and entry.tag == tag and self._fresh(entry, logged):
                cached: T = entry.value
                return cached
        if _only_cached.get():
            raise CacheMiss(key)
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                entry = self._values.get(key)
                if entry is not None and entry.tag == tag and self._fresh(entry, logged):
                    computed: T = entry.value
                    return computed
                patchable = (
                    logged
                    and patch is not None
                    and entry is not None
                    and entry.tag == tag
                    and entry.seq >= self._floor
                )
                changed = (
                    self._changed(key, entry.seq)
                    if patchable and entry is not None
                    else frozenset()
                )
            try:
                # patchable implies both a patch and an entry (narrowed again for the checker)
                if patchable and patch is not None and entry is not None:
                    value = patch(entry.value, changed)
                else:
                    value = compute()
                with self._lock:
                    deps = self._deps(key, value) if logged else None
                    if logged:
                        seq = self._derived_seq(key, seq)
                    if len(self._values) >= MAX_ENTRIES:
                        self._values = {}
                    self._values[key] = _Entry(tag, seq, deps, value)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            return value

    def close(self) -> None:
        self._feed.close()


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


def cached_json(
    cache: ValueCache, key: Hashable, model: TypeAdapter[Any], compute: Callable[[], object]
) -> bytes:
    """The JSON body of ``compute()``'s view as the response model ``model`` says it, serialised
    once per change of what ``key`` depends on (its ``TOPICS``): a list of hundreds of items is
    not validated and encoded again for every request. ``key`` must name everything the answer
    depends on (the scope, the query)."""
    return cache.get(
        key, lambda: model.dump_json(model.validate_python(compute(), from_attributes=True))
    )


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
