"""Settings are read when used, never at import: an environment variable changed after the
modules were imported takes effect (run lock wait, SQLite busy timeout, upload limit), and no
module of ``matcher/`` or ``api/`` reads a setting or the environment while being imported."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
from store_fixtures import write_held

from matcher._errors import InputError
from matcher.store.db import open_store
from matcher.store.errors import DatabaseBusyError, RunInProgressError
from matcher.store.locks import area_lock
from matcher.usecases.actor import Actor
from matcher.usecases.imports import run_import, run_source_import
from matcher.usecases.unit import UnitOfWork
from matcher.vocab import CodeSet

ROOT = Path(__file__).resolve().parents[2]
USER = Actor("coord", "coordinator", CodeSet.of(["39"]))


@pytest.fixture
def sqlite_store(tmp_path):
    # Nothing here needs tables: the lock, the write lock and the size checks come first.
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    yield store
    store.dispose()


def _refused_after(store, area: str) -> tuple[float, str]:
    start = time.perf_counter()
    with pytest.raises(RunInProgressError, match="別の計算が実行中") as info:
        with area_lock(store, area):
            pass
    return time.perf_counter() - start, str(info.value)


def test_run_lock_wait_is_read_when_a_run_waits(sqlite_store, monkeypatch):
    with area_lock(sqlite_store, "39"):
        monkeypatch.setenv("KYORYOKU_RUN_LOCK_WAIT", "1")
        waited, message = _refused_after(sqlite_store, "39")
        assert 0.9 <= waited < 5 and "(1 秒待ちました)" in message
        monkeypatch.setenv("KYORYOKU_RUN_LOCK_WAIT", "0")
        waited, message = _refused_after(sqlite_store, "39")
        assert waited < 0.9 and "(0 秒待ちました)" in message


def test_busy_timeout_is_read_when_a_store_is_opened(tmp_path, monkeypatch):
    for ms in (1234, 4321):
        monkeypatch.setenv("KYORYOKU_BUSY_TIMEOUT_MS", str(ms))
        store = open_store(f"sqlite:///{tmp_path / f'{ms}.db'}")
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == ms
        store.dispose()


def test_a_short_busy_timeout_gives_up_soon(tmp_path, monkeypatch):
    monkeypatch.setenv("KYORYOKU_BUSY_TIMEOUT_MS", "100")
    store = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        with write_held(store):
            start = time.perf_counter()
            with pytest.raises(DatabaseBusyError, match="使用中"):
                with store.write():
                    pass
            # 3 attempts of 0.1 s (and short pauses), not of the default 10 s
            assert time.perf_counter() - start < 5
    finally:
        store.dispose()


def test_upload_limit_is_read_per_upload_and_named_in_the_message(sqlite_store, monkeypatch):
    data = b"facility_id,name\n" + b"F1,x\n" * 300  # 1,517 bytes
    monkeypatch.setenv("KYORYOKU_MAX_UPLOAD_BYTES", "1000")
    with pytest.raises(InputError, match=r"1,517 バイト、上限 1,000 バイト"):
        run_import(UnitOfWork(sqlite_store), USER, "facilities", "f.csv", data)
    monkeypatch.setenv("KYORYOKU_MAX_UPLOAD_BYTES", "1500")
    with pytest.raises(InputError, match=r"上限 1,500 バイト"):
        run_import(UnitOfWork(sqlite_store), USER, "facilities", "f.csv", data)


def test_upload_limit_applies_to_the_total_of_a_source_import(sqlite_store, monkeypatch):
    data = b"x" * 600
    monkeypatch.setenv("KYORYOKU_MAX_UPLOAD_BYTES", "1000")
    with pytest.raises(InputError, match=r"合計 1,200 バイト、上限 1,000 バイト"):
        run_source_import(
            UnitOfWork(sqlite_store), USER, "kaigo", [("a.csv", data), ("b.csv", data)]
        )


# --- nothing reads a setting at import ------------------------------------------------------


def _import_time_reads(source: str, name: str) -> list[str]:
    """Lines that read a setting or the environment while the module is imported: module and
    class bodies, decorators and default values (function bodies run later)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            now = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
            if not isinstance(node, ast.Lambda):
                now += node.decorator_list
            for child in now:
                visit(child)
            return
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            if func.split(".")[-1] in ("get_settings", "Settings", "getenv"):
                found.append(f"{name}:{node.lineno} {ast.unparse(node)[:60]}")
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            found.append(f"{name}:{node.lineno} {ast.unparse(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source, name))
    return found


def test_no_module_reads_a_setting_at_import():
    files = sorted(p for pkg in ("matcher", "api") for p in (ROOT / pkg).rglob("*.py"))
    assert len(files) > 80
    found = [
        hit
        for p in files
        for hit in _import_time_reads(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))
    ]
    assert found == [], f"read the setting where it is used (matcher.settings): {found}"


@pytest.mark.parametrize(
    "source",
    [
        'WAIT_SECONDS = float(os.environ.get("KYORYOKU_RUN_LOCK_WAIT", "10"))\n',
        "BUSY_TIMEOUT_MS = get_settings().busy_timeout_ms\n",
        "class C:\n    limit = settings.get_settings().max_upload_bytes\n",
        "def f(limit=get_settings().max_upload_bytes):\n    return limit\n",
    ],
)
def test_the_scan_catches_a_read_at_import(source):
    assert _import_time_reads(source, "m.py")


def test_the_scan_allows_a_read_at_use():
    source = (
        "def f(wait=None):\n    return get_settings().run_lock_wait if wait is None else wait\n"
    )
    assert _import_time_reads(source, "m.py") == []
