"""The store's schema: packaged migrations, idempotent upgrade, settings per database, append-only h
istory."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from store_fixtures import fac, inst

from matcher.store import reply_models  # noqa: F401  (its tables on Base, revisions 0008 and 0009)
from matcher.store.db import DEFAULT_FILE, ENV_URL, database_url, open_store
from matcher.store.errors import StoreError
from matcher.store.migrate import MIGRATIONS, current_revision, downgrade, head_revision
from matcher.store.migrate import upgrade as upgrade_to
from matcher.store.models import Base
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import propose


def test_migrations_ship_inside_the_package():
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert list((MIGRATIONS / "versions").glob("0001_*.py"))
    assert list((MIGRATIONS / "versions").glob("0002_*.py"))
    assert list((MIGRATIONS / "versions").glob("0003_*.py"))
    assert list((MIGRATIONS / "versions").glob("0004_*.py"))
    assert list((MIGRATIONS / "versions").glob("0005_*.py"))
    assert head_revision() == "0015_held_acceptances"


def test_upgrade_is_idempotent_and_matches_the_models(store):
    store.upgrade()
    store.check_schema()
    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(store):
    downgrade(store.engine, "base")
    assert set(store.table_names()) <= {"alembic_version"}
    with pytest.raises(StoreError, match="kyoryoku db upgrade"):
        store.check_schema()
    store.upgrade()
    assert "proposals" in store.table_names()


def test_schema_check_before_upgrade(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(StoreError, match="スキーマが最新ではありません"):
        s.check_schema()
    s.dispose()


def test_default_url_is_a_file_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.chdir(tmp_path)
    assert database_url() == f"sqlite:///{tmp_path / DEFAULT_FILE}"
    monkeypatch.setenv(ENV_URL, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert database_url().startswith("postgresql+psycopg://")
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_unsupported_database_is_refused():
    with pytest.raises(StoreError, match="対応していないデータベース"):
        open_store("mysql://u@h/db")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'k.db'}", upgrade=True)
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    s.dispose()


def test_foreign_keys_are_enforced(store):
    from sqlalchemy.exc import IntegrityError

    from matcher.store.models import FilingRow

    with pytest.raises(IntegrityError):
        with store.write() as s:
            s.add(FilingRow(facility_id="nope", filing_year=2025, has_partner=False, covered=0))
            s.flush()


def test_proposal_history_is_append_only(store):
    from matcher.store.imports import import_facilities, import_institutions

    with store.write() as s:
        import_institutions(s, [inst("H1")])
        import_facilities(s, [fac("F1")])
        propose(s, "F1", "H1", "山田")
    for sql in ("UPDATE proposal_history SET note = 'x'", "DELETE FROM proposal_history"):
        with pytest.raises(DBAPIError, match="append-only"):
            with store.write() as s:
                s.execute(text(sql))
    with store.read() as s:
        assert s.execute(text("SELECT count(*) FROM proposal_history")).scalar() == 1


def test_run_of_an_empty_area_is_stored(store):
    report = run_plan(store, "13", actor="テスト")
    assert report.result.proposals == ()
    assert report.area_code == "13"


def test_migrations_create_the_web_tables(store):
    assert {"web_users", "web_audit"} <= set(store.table_names())
    assert {"web_users", "web_audit"} <= set(
        Base.metadata.tables
    )  # so the model check above covers them
    from api.users import add_user, audit_log, authenticate

    with store.write() as s:
        add_user(s, "coord", "correct-horse-1", "coordinator", ["39201"], actor="test")
    with store.read() as s:
        assert authenticate(s, "coord", "correct-horse-1").scope == ("39201",)
        assert [a.action for a in audit_log(s)] == ["user.save"]
    downgrade(store.engine, "0001")
    assert not {"web_users", "web_audit"} & set(store.table_names())
    store.upgrade()
    assert {"web_users", "web_audit"} <= set(store.table_names())


def test_web_tables_made_before_the_migration_are_adopted(db_url):
    """Databases of the web before 0002 had these tables from create_all at revision 0001."""
    s = open_store(db_url)
    upgrade_to(s.engine, "0001")
    tables = [Base.metadata.tables["web_users"], Base.metadata.tables["web_audit"]]
    Base.metadata.create_all(s.engine, tables=tables)
    with s.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO web_users (username, display_name, password_hash, role, scope, active,"
                " "
                "session_epoch, created_at) VALUES ('old', '', 'x', 'viewer', '[\"39\"]', true, 0, "
                "'2026-01-01 00:00:00')"
            )
        )
    s.upgrade()
    assert current_revision(s.engine) == head_revision()
    with s.engine.connect() as conn:
        assert conn.execute(text("SELECT username FROM web_users")).scalars().all() == ["old"]
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    s.dispose()


def test_upgrade_to_0014_keeps_filed_partners_and_links_those_stored_by_id(store):
    """Revision 0014 on a store with data: a linked partner keeps its id as the filed id; one
    that ``import_filings`` stored by id only because its institution came later (the name is
    the id) is linked as ``link_filed_partners`` would; the others stay as they were."""
    from matcher.store.imports import Filing, FilingPartner, import_facilities, import_filings
    from matcher.store.imports import import_institutions as import_insts

    with store.write() as s:
        import_facilities(s, [fac("F1")])
        import_filings(
            s,
            [
                Filing(
                    "F1",
                    2025,
                    True,
                    (
                        FilingPartner("", 1, "H1"),  # stored by id: H1 arrives later
                        FilingPartner("どこか病院", 2, "X9"),  # never in the store
                    ),
                )
            ],
        )
        import_insts(s, [inst("H2")])
        import_filings(s, [Filing("F1", 2024, True, (FilingPartner("", 4, "H2"),))])
    downgrade(store.engine, "0013_backup_requests")
    with store.engine.begin() as conn:  # H1 imported before 0014: the partner stays unlinked
        conn.execute(
            text(
                "INSERT INTO institutions (institution_id, name, kind, lat, lon, offers, "
                "municipality_code, code5, address, geocode, extra, created_at, updated_at) "
                "SELECT 'H1', '中央病院', kind, lat, lon, offers, municipality_code, code5, "
                "address, geocode, extra, created_at, updated_at FROM institutions "
                "WHERE institution_id = 'H2'"
            )
        )
    store.upgrade()
    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT f.filing_year, p.partner_name, p.institution_id, p.filed_institution_id,"
                " p.covers FROM filing_partners p JOIN filings f ON f.id = p.filing_id "
                "ORDER BY f.filing_year, p.position"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (2024, "医療機関H2", "H2", "H2", 4),
        (2025, "中央病院", "H1", "H1", 1),
        (2025, "どこか病院", None, None, 2),
    ]
