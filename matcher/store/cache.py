"""The read cache the scoped reads accept, and what a cache needs to know when the store changed.

``ValueCache``: any object with ``get(key, compute)``. The web's ``api.cache.ReadCache`` (values
kept until the store changes) is one; ``NO_CACHE`` computes every value each time (CLI, tests,
other callers).

``ChangeFeed``: the store's change counters and change log, read on a connection of its own.
Database triggers bump one counter per topic (``CHANGE_TOPICS``) in ``store_changes`` on every
write of the topic's tables (revision 0004) and log, for every proposal change, the facility and
the institution it touched in ``store_change_log`` (revision 0006; ``facility_change``,
``institution_change``). What those tables and keys mean is written here only.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import PoolProxiedConnection

from .models import StoreChangeRow

T = TypeVar("T")
# The topics counted in ``store_changes`` (revision 0004's triggers; one per group of tables).
CHANGE_TOPICS: tuple[str, ...] = ("registry", "proposals", "runs", "users", "sessions")
_FACILITY = "facility:"
_INSTITUTION = "institution:"


class ValueCache(Protocol):
    """``get(key, compute)``: the value of ``key``, computed by ``compute()`` when not cached.
    ``patch(old, ids)``, if given, may bring a cached value up to date instead when only the
    proposals of those facilities (or the ledger lines of those institutions, for the ledger:
    ``patch_subjects``) changed (a cache may ignore it).

    Values are shared between callers: they must not be mutated.
    """

    def get(
        self,
        key: Hashable,
        compute: Callable[[], T],
        patch: Callable[[T, frozenset[str]], T] | None = None,
    ) -> T: ...


class _NoCache:
    def get(
        self,
        key: Hashable,
        compute: Callable[[], T],
        patch: Callable[[T, frozenset[str]], T] | None = None,
    ) -> T:
        del key, patch
        return compute()


NO_CACHE: ValueCache = _NoCache()


def facility_change(facility_id: str) -> str:
    """The change-log key of a proposal change of ``facility_id``."""
    return _FACILITY + facility_id


def institution_change(institution_id: str) -> str:
    """The change-log key of a proposal change that moved ``institution_id``'s used capacity
    (into or out of contacted/agreed)."""
    return _INSTITUTION + institution_id


def changed_facility(change: str) -> str | None:
    """The facility a change-log key names (``None`` for an institution's key)."""
    return change[len(_FACILITY) :] if change.startswith(_FACILITY) else None


def changed_institution(change: str) -> str | None:
    """The institution a change-log key names (``None`` for a facility's key)."""
    return change[len(_INSTITUTION) :] if change.startswith(_INSTITUTION) else None


def any_change(change: str) -> str:
    """The key that stands for every change-log key of ``change``'s kind: a reader that notes
    it beside each key it reads can tell whether *any* institution (or facility) changed."""
    return (_INSTITUTION if change.startswith(_INSTITUTION) else _FACILITY) + "*"


ANY_INSTITUTION = _INSTITUTION + "*"


def change_keys(key: Hashable) -> frozenset[str] | None:
    """The change-log keys the store's cached value of ``key`` depends on (``None``: it may
    change with any proposal change). A facility's page (``facility_detail``) changes with its
    own proposals; the ledger of every institution (``institution_ledger``) with the proposals
    that move some institution's line (``ANY_INSTITUTION``)."""
    if key == ("institution_ledger",):
        return frozenset({ANY_INSTITUTION})
    if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], str)):
        return None
    head, ident = key
    if head == "facility_detail":  # the candidates' capacity is laid over it when served
        return frozenset({facility_change(ident)})
    return None


def patch_subjects(key: Hashable, changes: Iterable[str]) -> frozenset[str]:
    """What a patchable value of ``key`` is brought up to date for after ``changes`` (change-log
    keys): the institutions whose line moved for the ledger (``institution_ledger``), else the
    facilities whose proposals changed (the facility index, the list of every proposal)."""
    pick = changed_institution if key == ("institution_ledger",) else changed_facility
    found = (pick(k) for k in changes)
    return frozenset(f for f in found if f is not None and f != "*")


def change_counters(session: Session, topics: Sequence[str]) -> dict[str, int]:
    """The change counters of ``topics`` as ``session`` sees them. Equal counters at two moments
    mean nobody committed a write to those topics' tables in between: what was read from them
    then still holds."""
    rows = session.execute(
        select(StoreChangeRow.topic, StoreChangeRow.version).where(
            StoreChangeRow.topic.in_(list(topics))
        )
    )
    return {str(t): int(v) for t, v in rows}


def _autocommit(pg: PoolProxiedConnection) -> None:
    """Put a pooled PostgreSQL connection's driver connection in autocommit mode."""
    driver = pg.driver_connection
    assert driver is not None  # a checked-out connection always holds its driver connection
    driver.autocommit = True


class ChangeFeed:
    """The store's change counters and change log, read on a connection of its own.

    On a SQLite file a plain autocommit connection that never writes: its ``commit_token``
    (``PRAGMA data_version``) moves whenever anyone else commits, so a reader knows when to read
    the counters again. On PostgreSQL a pooled connection in autocommit mode; there is no
    commit token (``polled``: read the counters to know). In-memory SQLite: nothing
    (``enabled`` is false).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: sqlite3.Connection | None = None
        self._pg: PoolProxiedConnection | None = None
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
            # Closed with the feed (or at exit): an unclosed connection warns when collected.
            self._finalizer = weakref.finalize(self, self._conn.close)
        elif url.get_backend_name() == "postgresql":
            self._pg = engine.raw_connection()
            _autocommit(self._pg)
            self._finalizer = weakref.finalize(self, self._pg.close)

    @property
    def enabled(self) -> bool:
        """Whether the store's changes can be followed at all."""
        return self._conn is not None or self._pg is not None

    @property
    def has_commit_token(self) -> bool:
        """SQLite file: ``commit_token`` tells whether anyone committed since it was last read."""
        return self._conn is not None

    @property
    def polled(self) -> bool:
        """PostgreSQL: no commit token; the counters must be read again to see a change."""
        return self._pg is not None

    def commit_token(self) -> int | None:
        """SQLite: a number that moves whenever another connection commits; else ``None``."""
        if self._conn is None:
            return None
        (version,) = self._conn.execute("PRAGMA data_version").fetchone()
        return int(version)

    def counters(self) -> dict[str, int] | None:
        """Each topic's change counter (``None``: the schema has none, or they cannot be read)."""
        try:
            rows = self._query("SELECT topic, version FROM store_changes")
        except Exception:  # an older schema: every change is one topic
            return None
        return {str(t): int(v) for t, v in rows}

    def log_end(self) -> int | None:
        """The position of the newest change-log row (0 when empty; ``None``: no log)."""
        try:
            (top,) = self._query("SELECT coalesce(max(id), 0) FROM store_change_log")[0]
        except Exception:  # no log table (older schema)
            return None
        return int(top)

    def log_since(self, position: int) -> list[tuple[int, str]] | None:
        """The change-log rows after ``position`` as ``(position, key)`` in commit order
        (``None``: no log). The log keeps only its last rows (revision 0006's ``KEEP``)."""
        try:
            rows = self._query(
                "SELECT id, key FROM store_change_log WHERE id > ? ORDER BY id", (position,)
            )
        except Exception:  # no log table (older schema)
            return None
        return [(int(i), str(k)) for i, k in rows]

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> Sequence[tuple[Any, ...]]:
        if self._conn is not None:
            return self._conn.execute(sql, args).fetchall()
        assert self._pg is not None  # only called when the feed is enabled
        cur = self._pg.cursor()
        try:
            cur.execute(sql.replace("?", "%s"), args)
            return cur.fetchall()
        finally:
            cur.close()

    def reconnect(self) -> None:
        """PostgreSQL: open a new connection after the old one was lost (server restart)."""
        try:
            assert self._pg is not None  # only called for a PostgreSQL store
            self._pg.close()
            self._pg = self._engine.raw_connection()
            _autocommit(self._pg)
            self._finalizer.detach()  # the closed connection's; close the new one instead
            self._finalizer = weakref.finalize(self, self._pg.close)
        except Exception:  # still down: the caller computes without the cache meanwhile
            pass

    def close(self) -> None:
        if self._conn is not None or self._pg is not None:
            self._finalizer()
            self._conn = self._pg = None
