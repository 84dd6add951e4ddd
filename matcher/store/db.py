"""Connecting to the store: URL, engine settings per database, sessions, migrations.

SQLite runs in WAL mode with foreign keys on and ``synchronous=FULL``; its transactions are
started by us (``BEGIN``, or ``BEGIN IMMEDIATE`` for writes) so that a writer takes the write lock
before it reads and never fails later on a stale snapshot. PostgreSQL runs at READ COMMITTED;
writers lock the rows they change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .errors import StoreError

ENV_URL = "KYORYOKU_DATABASE_URL"
DEFAULT_FILE = "kyoryoku.db"
_WRITE = "kyoryoku_write"


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else ``KYORYOKU_DATABASE_URL``, else ``sqlite:///kyoryoku.db``."""
    if url:
        return url
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_FILE}"


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own would be deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN"
        )


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """An engine for ``url`` (see :func:`database_url`) with the settings this store relies on."""
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_events(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    raise StoreError(
        f"対応していないデータベースです: {parsed.get_backend_name()} "
        "(sqlite または postgresql+psycopg の URL を指定してください)"
    )


class Store:
    """One database: sessions for reading and for writing, and its migrations.

    ``write()`` is one transaction: everything in the block is committed together or not at all.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (its transaction is rolled back at the end)."""
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose block is one transaction: committed on success, rolled back on error."""
        with self._write() as session, session.begin():
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Apply the packaged Alembic migrations up to ``revision``."""
        from .migrate import upgrade

        upgrade(self.engine, revision)

    def check_schema(self) -> None:
        """Raise a Japanese ``StoreError`` if the migrations have not been applied."""
        from .migrate import current_revision, head_revision

        current = current_revision(self.engine)
        if current != head_revision():
            have = current or "未作成"
            raise StoreError(
                f"データベースのスキーマが最新ではありません (現在: {have})。"
                "先に `kyoryoku db upgrade` を実行してください"
            )

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None, upgrade: bool = False) -> Store:
    """Open the store at ``url`` (default: ``KYORYOKU_DATABASE_URL`` or ``./kyoryoku.db``)."""
    store = Store(make_engine(url))
    if upgrade:
        store.upgrade()
    return store
