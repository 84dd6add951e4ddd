"""The store's locks: one run of an area at a time, and the capacity ledger's lock.

``area_lock`` — a per-area lock held from reading the state to the commit. PostgreSQL: a
session-level advisory lock on a connection of its own, keyed by the schema and the area code
(released by the server when the connection ends, also when the process dies). SQLite: an
exclusive ``flock`` on a small file beside the database (``kyoryoku.db.area-39.lock``), released
by the operating system when the process ends — a crashed run never leaves a stale lock, which a
lock row would. In-memory SQLite: a lock of the process. It is not a database transaction: while
a run solves, coordinators keep changing proposals (the run re-reads their decisions at commit,
see ``matcher.store.planning.run_plan``).

``xact_lock`` — a named lock held until the caller's transaction ends (PostgreSQL: a
transaction-level advisory lock on the same key as ``area_lock``; a SQLite write transaction
already excludes every other writer); ``ledger_lock`` is the capacity ledger's.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from ..settings import get_settings
from .db import Store, translated
from .errors import RunInProgressError

_POLL = 0.1
# The advisory-lock key of a name (an area code, ``LEDGER``): two schemas of one server never share
# a lock. Every advisory lock below is taken on it.
_KEY = "hashtextextended(current_schema() || '/kyoryoku-area/' || :code, 0)"
LEDGER = "*ledger*"  # the capacity ledger's lock name (no area code looks like it)
_process_locks: dict[str, threading.Lock] = {}
_process_guard = threading.Lock()


def busy_message(area_code: str, waited: float) -> str:
    return (
        f"地域「{area_code}」は別の計算が実行中です ({waited:.0f} 秒待ちました)。"
        "その計算が終わってから、もう一度実行してください"
    )


def _lock_file(database: str, area_code: str) -> Path:
    safe = re.sub(r"[^0-9A-Za-z_-]", "", area_code)
    if safe != area_code or not safe:
        safe = hashlib.sha256(area_code.encode()).hexdigest()[:16]
    return Path(f"{database}.area-{safe}.lock")


@contextmanager
def _pg_lock(store: Store, area_code: str, wait: float) -> Iterator[None]:
    with translated():
        conn = store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + wait
        while True:
            with translated():
                got = conn.execute(
                    text(f"SELECT pg_try_advisory_lock({_KEY})"), {"code": area_code}
                ).scalar()
            if got:
                break
            if time.monotonic() >= deadline:
                raise RunInProgressError(busy_message(area_code, wait))
            time.sleep(_POLL)
        try:
            yield
        finally:
            try:
                conn.execute(text(f"SELECT pg_advisory_unlock({_KEY})"), {"code": area_code})
            except Exception:  # the connection died: the server has released the lock already
                conn.invalidate()
    finally:
        conn.close()


@contextmanager
def _file_lock(path: Path, area_code: str, wait: float) -> Iterator[None]:
    import fcntl

    with translated():
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunInProgressError(busy_message(area_code, wait)) from None
                time.sleep(_POLL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _process_lock(key: str, area_code: str, wait: float) -> Iterator[None]:
    with _process_guard:
        lock = _process_locks.setdefault(key, threading.Lock())
    if not lock.acquire(timeout=wait):
        raise RunInProgressError(busy_message(area_code, wait))
    try:
        yield
    finally:
        lock.release()


@contextmanager
def area_lock(store: Store, area_code: str, wait: float | None = None) -> Iterator[None]:
    """Hold the run lock of ``area_code``; wait at most ``wait`` seconds (default
    ``KYORYOKU_RUN_LOCK_WAIT`` as set now, 10 s) for a run holding it, then raise
    ``RunInProgressError``."""
    wait = get_settings().run_lock_wait if wait is None else wait
    url = store.engine.url
    if store.dialect == "postgresql":
        with _pg_lock(store, area_code, wait):
            yield
    elif url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        with _file_lock(_lock_file(url.database, area_code), area_code, wait):
            yield
    else:
        with _process_lock(f"{url}|{area_code}", area_code, wait):
            yield


def xact_lock(session: Session, name: str) -> None:
    """Hold the lock ``name`` until ``session``'s transaction ends (PostgreSQL: waits for
    whoever holds it; SQLite: nothing to do, its write transaction already excludes every other
    writer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({_KEY})"), {"code": name})


def ledger_lock(session: Session) -> None:
    """The capacity ledger's lock for the rest of this transaction: whatever adds a live
    proposal (a run's commit, a hand-made proposal) re-reads the ledger under it, so two areas
    never promise the same capacity twice."""
    xact_lock(session, LEDGER)
