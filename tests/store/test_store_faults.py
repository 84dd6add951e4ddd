"""Database and file-system failures reach the caller as one Japanese line (``DatabaseError``
subclasses with distinct exit codes), SQLite writers wait for each other instead of failing,
and a failure leaves nothing half-written."""

from __future__ import annotations

import errno
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text
from store_fixtures import PG_BASE, fac, inst, require_pg, snapshot, write_held

from matcher.store import db as store_db
from matcher.store.db import open_store, translate
from matcher.store.errors import (
    DatabaseBusyError,
    DatabaseError,
    DatabaseUnavailableError,
    ReadOnlyError,
    StorageFullError,
    StoreError,
)
from matcher.store.imports import import_simple
from matcher.store.planning import run_plan


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_exit_codes_are_distinct():
    codes = [
        c.exit_code
        for c in (DatabaseError, DatabaseUnavailableError, DatabaseBusyError, StorageFullError)
    ] + [ReadOnlyError.exit_code]
    assert len(set(codes)) == len(codes) and 2 not in codes and 0 not in codes


def test_unreachable_postgresql_is_one_line():
    with pytest.raises(DatabaseUnavailableError, match="データベースに接続できません") as info:
        open_store("postgresql+psycopg://postgres@127.0.0.1:1/test", upgrade=True)
    one_line(info.value)


def test_missing_postgresql_database_is_one_line():
    require_pg()
    url = PG_BASE.rsplit("/", 1)[0] + "/kyoryoku_no_such_database"
    with pytest.raises(DatabaseUnavailableError, match="データベースに接続できません") as info:
        open_store(url, upgrade=True)
    assert "kyoryoku_no_such_database" in one_line(info.value)


def test_read_only_sqlite_file_is_one_line(tmp_path):
    path = tmp_path / "ro.db"
    open_store(f"sqlite:///{path}", upgrade=True).dispose()
    ro = open_store(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(ReadOnlyError, match="書き込む権限がありません") as info:
        with ro.write() as s:
            import_simple(s, [fac("F1")], [inst("H1")], 2025)
    one_line(info.value)
    ro.dispose()


def test_full_disk_is_one_line_and_nothing_is_written(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'full.db'}", upgrade=True)
    before = snapshot(store)
    with pytest.raises(StorageFullError, match="ディスクの空きがない") as info:
        with store.write() as s:
            pages = s.execute(text("PRAGMA page_count")).scalar()
            s.execute(text(f"PRAGMA max_page_count = {pages + 1}"))
            import_simple(
                s, [fac(f"F{k}") for k in range(3000)], [inst(f"H{k}") for k in range(3000)], 2025
            )
    one_line(info.value)
    store.dispose()
    store = open_store(f"sqlite:///{tmp_path / 'full.db'}")
    assert snapshot(store) == before
    store.dispose()


@pytest.mark.parametrize(
    "err, cls",
    [
        (OSError(errno.ENOSPC, "No space left on device"), StorageFullError),
        (OSError(errno.EROFS, "Read-only file system"), ReadOnlyError),
        (OSError(errno.EACCES, "Permission denied"), ReadOnlyError),
        (sqlite3.OperationalError("database is locked"), DatabaseBusyError),
        (sqlite3.OperationalError("unable to open database file"), DatabaseUnavailableError),
        (sqlite3.DatabaseError("file is not a database"), DatabaseError),
    ],
)
def test_translation_of_os_and_driver_errors(err, cls):
    out = translate(err)
    assert type(out) is cls and isinstance(out, StoreError)
    one_line(out)


def test_sqlite_writer_waits_for_another_writer(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}", upgrade=True)
    holding = threading.Event()

    def hold():
        with store.write() as s:
            import_simple(s, [fac("F1")], [inst("H1")], 2025)
            holding.set()
            time.sleep(1.0)

    t = threading.Thread(target=hold)
    t.start()
    assert holding.wait(10)
    start = time.perf_counter()
    with store.write() as s:  # waits (busy timeout) instead of failing
        import_simple(s, [fac("F2")], [inst("H2")], 2025)
    assert time.perf_counter() - start > 0.5
    t.join()
    store.dispose()


def test_sqlite_writer_gives_up_with_one_line_after_the_retries(tmp_path, monkeypatch):
    monkeypatch.setenv("KYORYOKU_BUSY_TIMEOUT_MS", "100")
    store = open_store(f"sqlite:///{tmp_path / 'b.db'}", upgrade=True)
    try:
        with write_held(store) as done:
            with pytest.raises(DatabaseBusyError, match="使用中") as info:
                with store.write() as s:
                    import_simple(s, [fac("F2")], [inst("H2")], 2025)
            one_line(info.value)
            # transact retries the whole short write; once the holder ends it goes through
            threading.Timer(0.2, done.set).start()
            monkeypatch.setattr(store_db, "WRITE_ATTEMPTS", 20)
            assert store.transact(lambda s: import_simple(s, [fac("F3")], [inst("H3")], 2025))
    finally:
        store.dispose()


def test_a_run_that_fails_at_commit_leaves_nothing(store, monkeypatch):
    with store.write() as s:
        import_simple(s, [fac("F1"), fac("F2", dlat=0.01)], [inst("H1")], 2025)
    before = snapshot(store)
    from matcher.store import planning

    def broken(*args, **kwargs):
        raise store_db.translate(OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(planning, "write_run", broken)
    with pytest.raises(StorageFullError):
        run_plan(store, "39")
    after = snapshot(store)
    # only the area row the run registered before taking its lock may be new (and its counter)
    skip = ("areas", "area_municipalities", "store_changes")
    assert {k: v for k, v in after.items() if k not in skip} == {
        k: v for k, v in before.items() if k not in skip
    }
