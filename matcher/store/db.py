"""Connecting to the store: URL, engine settings per database, sessions, migrations.

SQLite runs in WAL mode with foreign keys on and ``synchronous=FULL``; its transactions are
started by us (``BEGIN``, or ``BEGIN IMMEDIATE`` for writes) so that a writer takes the write lock
before it reads and never fails later on a stale snapshot. A writer that finds the file locked
waits (``busy_timeout``) and ``write()`` retries taking the lock a few times before it gives up
with ``DatabaseBusyError``; long work (a run's solve) holds no transaction (``matcher.store.locks``
serialises runs of one area instead). PostgreSQL runs at READ COMMITTED; writers lock the rows
they change.

Every database or file-system failure leaving ``read()``/``write()`` becomes one
``DatabaseError`` with a Japanese line (``translate``): the CLI prints it, the web answers 503.
"""

from __future__ import annotations

import errno
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .._errors import MatcherError
from ..settings import get_settings
from .errors import (
    ConflictError,
    DatabaseBusyError,
    DatabaseError,
    DatabaseUnavailableError,
    ReadOnlyError,
    SchemaOutdatedError,
    StorageFullError,
    StoreError,
)

ENV_URL = "KYORYOKU_DATABASE_URL"
DEFAULT_FILE = "kyoryoku.db"
_WRITE = "kyoryoku_write"
# SQLite: how often write() tries again to take the write lock, each try waiting up to
# ``KYORYOKU_BUSY_TIMEOUT_MS`` (10 s × 3: a status change waits out a run's commit or a large
# import).
WRITE_ATTEMPTS = 3
T = TypeVar("T")

_local_commits = 0  # write transactions committed by this process (see ``local_commits``)


def local_commits() -> int:
    """How many ``Store.write()`` transactions this process has committed (read caches refresh
    at once after their own process wrote, whatever their polling interval)."""
    return _local_commits


# PostgreSQL SQLSTATEs that mean "try again" (serialization failure, deadlock, lock timeout).
_PG_RETRY = {"40001", "40P01", "55P03"}


def _text(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()
    return first[0] if first else type(orig).__name__


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the database was locked by someone else (worth retrying)."""
    orig = getattr(exc, "orig", None) or exc
    if getattr(orig, "sqlstate", None) in _PG_RETRY:
        return True
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig).lower()


def translate(exc: BaseException) -> StoreError:
    """One Japanese line for a database or file-system failure (the original is chained)."""
    if isinstance(exc, StoreError):
        return exc
    orig = getattr(exc, "orig", None) or exc
    msg = str(orig).lower()
    detail = _text(exc)
    code = getattr(orig, "sqlstate", None) or ""
    err = getattr(orig, "errno", None)
    if is_busy(exc):
        return DatabaseBusyError(
            "データベースが他の処理 (計算の保存・取り込みなど) で使用中のため、待ちましたが"
            "書き込めませんでした。しばらくしてからもう一度実行してください"
        )
    if isinstance(exc, sa_exc.IntegrityError) and (code == "23505" or "unique" in msg):
        return ConflictError(
            "同時に行われた別の変更と重なったため保存できませんでした。"
            f"最新の内容を読み込んでから、もう一度操作してください ({detail})"
        )
    if code == "53100" or err == errno.ENOSPC or "disk is full" in msg or "no space" in msg:
        return StorageFullError(
            "ディスクの空きがないため書き込めませんでした。"
            f"空きを作ってから再実行してください ({detail})"
        )
    if (
        code == "25006"
        or err in (errno.EROFS, errno.EACCES, errno.EPERM)
        or "readonly" in msg
        or "read-only" in msg
    ):
        return ReadOnlyError(
            "データベース (またはそのフォルダ) に書き込む権限がありません。"
            f"ファイルの権限と置き場所を確認してください ({detail})"
        )
    if (
        isinstance(orig, sa_exc.InterfaceError)
        or code.startswith("08")
        or code in ("3D000", "28000", "28P01", "57P01", "57P03")
        or "unable to open" in msg
        or "connection" in msg
        or "does not exist" in msg
        or err == errno.ENOENT
    ):
        return DatabaseUnavailableError(
            f"データベースに接続できません。KYORYOKU_DATABASE_URL と、データベースが起動・作成"
            f"されているかを確認してください ({detail})"
        )
    if isinstance(orig, OSError):
        return DatabaseError(f"ファイルの読み書きに失敗しました ({detail})")
    return DatabaseError(f"データベースの操作に失敗しました ({detail})")


@contextmanager
def translated() -> Iterator[None]:
    """Turn database and OS errors raised in the block into ``DatabaseError`` (one line)."""
    try:
        yield
    except MatcherError:
        raise
    except (sa_exc.IntegrityError, sa_exc.ProgrammingError, sa_exc.DataError) as exc:
        # A unique violation is a concurrent change; other integrity errors (checks, foreign
        # keys), bad SQL and bad values are the caller's bug and stay as they are.
        if isinstance(exc, sa_exc.IntegrityError) and isinstance(translate(exc), ConflictError):
            raise translate(exc) from exc
        raise
    except sa_exc.InternalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "P0001":  # a trigger's RAISE (append-only)
            raise
        raise translate(exc) from exc
    except (sa_exc.DBAPIError, sa_exc.TimeoutError, sqlite3.Error, OSError) as exc:
        raise translate(exc) from exc


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else ``KYORYOKU_DATABASE_URL``, else ``sqlite:///kyoryoku.db``."""
    if url:
        return url
    env = get_settings().database_url.strip()
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_FILE}"


def _sqlite_events(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own would be deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN"
        )


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (see :func:`database_url`) with the settings this store relies on.

    SQLite: one statement waits ``KYORYOKU_BUSY_TIMEOUT_MS`` (as set when the engine is made)
    for another writer.
    """
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        busy_ms = get_settings().busy_timeout_ms
        engine = create_engine(url, connect_args={"timeout": busy_ms / 1000}, **kwargs)
        _sqlite_events(engine, busy_ms)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {"connect_timeout": 5})
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
        with translated(), self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose block is one transaction: committed on success, rolled back on error.

        The transaction starts at once (SQLite: the write lock is taken before the block runs),
        and taking it is retried while another writer holds the database.
        """
        with translated():
            session = self._open_write()
            with session:
                try:
                    yield session
                except BaseException:
                    session.rollback()
                    raise
                session.commit()
            global _local_commits
            _local_commits += 1

    def _open_write(self) -> Session:
        for attempt in range(WRITE_ATTEMPTS):
            session = self._write()
            try:
                session.begin()
                session.connection()  # SQLite: BEGIN IMMEDIATE now, not at the first statement
                return session
            except sa_exc.OperationalError as exc:
                session.close()
                if not is_busy(exc) or attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 + random.random() * 0.2)
        raise AssertionError("unreachable")  # pragma: no cover

    def transact(self, fn: Callable[[Session], T], attempts: int = WRITE_ATTEMPTS) -> T:
        """``fn(session)`` in one write transaction, run again (from scratch) when the database
        reports a lock conflict (PostgreSQL deadlock or serialization failure, SQLite busy).
        ``fn`` must be a short write with no effect outside the transaction."""
        for attempt in range(attempts):
            try:
                with self.write() as session:
                    return fn(session)
            except DatabaseBusyError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 + random.random() * 0.2)
        raise AssertionError("unreachable")  # pragma: no cover

    def upgrade(self, revision: str = "head") -> None:
        """Apply the packaged Alembic migrations up to ``revision``."""
        from .migrate import upgrade

        with translated():
            upgrade(self.engine, revision)

    def check_schema(self) -> None:
        """Raise a Japanese ``StoreError`` if the migrations have not been applied."""
        from .migrate import current_revision, head_revision

        with translated():
            current = current_revision(self.engine)
        if current != head_revision():
            have = current or "未作成"
            raise SchemaOutdatedError(
                f"データベースのスキーマが最新ではありません (現在: {have})。"
                "先に `kyoryoku db upgrade` を実行してください"
            )

    def table_names(self) -> list[str]:
        with translated():
            return inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None, upgrade: bool = False) -> Store:
    """Open the store at ``url`` (default: ``KYORYOKU_DATABASE_URL`` or ``./kyoryoku.db``)."""
    with translated():
        store = Store(make_engine(url))
    if upgrade:
        store.upgrade()
    return store
