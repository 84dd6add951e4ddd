"""Backup and restore as the README's "Running for a team" describes them: SQLite's online
backup (taken while a writer is busy) and ``pg_dump``/``pg_restore`` into a fresh database; the
restored store has every proposal and every history row, and the restored schema is current."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from store_fixtures import PG_BASE, fac, inst

from matcher.store.db import open_store
from matcher.store.imports import import_simple
from matcher.store.models import ProposalHistoryRow, ProposalRow
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status


def seed(store):
    facs = [fac(f"F{k}", dlat=0.002 * k) for k in range(10)]
    insts = [inst(f"H{k}", dlon=0.01 * k, capacity=3) for k in range(4)]
    with store.write() as s:
        import_simple(s, facs, insts, 2025)
    r = run_plan(store, "39", actor="山田")
    first = r.of("new")[0].proposal_id
    with store.write() as s:
        set_status(s, first, "contacted", 1, "山田", "電話しました")
    run_plan(store, "39", actor="山田")


def rows(store):
    with store.read() as s:
        props = [
            (p.id, p.facility_id, p.institution_id, p.status, p.version, p.covers)
            for p in s.scalars(select(ProposalRow).order_by(ProposalRow.id))
        ]
        hist = [
            (h.id, h.proposal_id, h.from_status, h.to_status, h.version, h.note, h.run_id)
            for h in s.scalars(select(ProposalHistoryRow).order_by(ProposalHistoryRow.id))
        ]
    return props, hist


def test_sqlite_online_backup_restores_every_proposal_and_history_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'kyoryoku.db'}"
    store = open_store(url, upgrade=True)
    seed(store)
    expected = rows(store)
    busy, done = threading.Event(), threading.Event()

    def writer():  # a write transaction open during the backup: it must not block or tear it
        with store.write() as s:
            s.execute(text("UPDATE facilities SET name = name"))
            busy.set()
            done.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    assert busy.wait(10)
    src = sqlite3.connect(tmp_path / "kyoryoku.db")
    dst = sqlite3.connect(tmp_path / "backup.db")
    with dst:
        src.backup(dst)  # what the README's one-liner does
    src.close()
    dst.close()
    done.set()
    t.join()
    store.dispose()
    restored = open_store(f"sqlite:///{tmp_path / 'backup.db'}")
    restored.check_schema()
    assert rows(restored) == expected and expected[0] and expected[1]
    restored.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_pg_dump_restores_every_proposal_and_history_row_into_a_fresh_database(db_url, tmp_path):
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump / pg_restore がインストールされていません")
    store = open_store(db_url, upgrade=True)
    seed(store)
    expected = rows(store)
    store.dispose()
    base = make_url(PG_BASE)
    schema = make_url(db_url).query["application_name"]
    conn_args = ["-h", base.host or "127.0.0.1", "-p", str(base.port or 5432), "-U", base.username]
    dump = tmp_path / "kyoryoku.dump"
    subprocess.run(
        ["pg_dump", *conn_args, "-Fc", "-n", schema, "-f", str(dump), base.database],
        check=True,
    )
    fresh = f"kyoryoku_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{fresh}"'))
    try:
        subprocess.run(["pg_restore", *conn_args, "-d", fresh, "--no-owner", str(dump)], check=True)
        url = base.set(database=fresh).render_as_string(hide_password=False)
        restored = open_store(f"{url}?options=-csearch_path%3D{schema}")
        restored.check_schema()
        assert rows(restored) == expected and expected[0] and expected[1]
        # the restored database keeps working: its sequences and triggers came along
        run_plan(restored, "39", actor="復元後")
        restored.dispose()
    finally:
        with admin.connect() as c:
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": fresh},
            )
            c.execute(text(f'DROP DATABASE "{fresh}"'))
        admin.dispose()
