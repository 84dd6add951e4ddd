"""Shared fixtures of the store tests: one store per database (SQLite file, PostgreSQL schema).

PostgreSQL: ``KYORYOKU_TEST_PG_URL`` (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
each test gets a throwaway schema that is dropped afterwards. When the server does not answer
the PostgreSQL cases skip with the reason, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select, text

from matcher.model import Facility, Institution
from matcher.settings import get_settings
from matcher.store.db import Store, open_store
from matcher.store.imports import import_simple

PG_BASE = get_settings().test_pg_url
DATABASES = ["sqlite", "postgresql"]


@lru_cache(maxsize=1)
def pg_problem() -> str | None:
    try:
        engine = create_engine(PG_BASE, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect is a reason to skip
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def require_pg() -> None:
    problem = pg_problem()
    if problem is None:
        return
    message = f"PostgreSQL ({PG_BASE}) に接続できません: {problem}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " — CI=true では PostgreSQL のテストを省略できません")
    pytest.skip(message)


@contextmanager
def database_url(kind: str, folder: Path) -> Iterator[str]:
    """A URL of an empty database of ``kind``: a SQLite file in ``folder`` or a throwaway
    PostgreSQL schema, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'kyoryoku-{uuid.uuid4().hex[:8]}.db'}"
        return
    require_pg()
    schema = f"kyoryoku_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        with admin.connect() as conn:
            # Connections of a killed subprocess may linger for a moment; end them first.
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": schema},
            )
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def fresh_store(kind: str, folder: Path) -> Iterator[Store]:
    """An upgraded, empty store of ``kind`` (for one hypothesis example)."""
    with database_url(kind, folder) as url:
        s = open_store(url, upgrade=True)
        try:
            yield s
        finally:
            s.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url):
    s = open_store(db_url, upgrade=True)
    yield s
    s.dispose()


def snapshot(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order (to prove that nothing changed)."""
    meta = MetaData()
    meta.reflect(store.engine)
    out = {}
    with store.engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            pk = list(table.primary_key.columns) or list(table.columns)
            out[name] = [tuple(r) for r in conn.execute(select(table).order_by(*pk))]
    return out


@contextmanager
def write_held(store: Store) -> Iterator[threading.Event]:
    """Another thread holds ``store``'s write transaction until the event yielded is set (at the
    latest when the block ends)."""
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with store.write():
            holding.set()
            done.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holding.wait(10)
        yield done
    finally:
        done.set()
        t.join()


# A tiny region around 高知市 (all in municipality 392014 unless told).
LAT, LON = 33.5597, 133.5311


def fac(
    fid: str,
    kind: str = "gh",
    dlat: float = 0.0,
    dlon: float = 0.0,
    covered: int = 0,
    has_partner: bool | None = False,
    muni: str = "392014",
) -> Facility:
    return Facility(
        fid, f"施設{fid}", kind, LAT + dlat, LON + dlon, covered, has_partner, muni, "高知県高知市"
    )


def inst(
    iid: str,
    kind: str = "hospital",
    dlat: float = 0.0,
    dlon: float = 0.0,
    offers: int = 7,
    capacity: int | None = None,
    muni: str = "392014",
) -> Institution:
    return Institution(
        iid, f"医療機関{iid}", kind, LAT + dlat, LON + dlon, offers, capacity, muni, "高知県高知市"
    )


def seed_small_region(store: Store, *extra: Facility, declared_on: dt.date | None = None) -> None:
    """Three facilities (two グループホーム, one 特養) near a hospital with room for one, two
    clinics a little further and a second hospital; ``extra`` facilities are added to them."""
    facs = [fac("F1", dlat=0.001), fac("F2", dlat=-0.001), fac("F3", "tokuyo", dlon=0.002)]
    insts = [
        inst("H1", capacity=1),
        inst("C1", "clinic", dlat=0.03, offers=3),
        inst("C2", "clinic", dlat=-0.04, offers=3),
        inst("H2", dlon=0.05, capacity=2),
    ]
    with store.write() as s:
        import_simple(s, [*facs, *extra], insts, 2025, declared_on=declared_on)
