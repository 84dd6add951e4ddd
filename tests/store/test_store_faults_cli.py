"""Failures seen through the command line: one Japanese line, a distinct exit code, no
traceback, nothing created."""

from __future__ import annotations

from sqlalchemy import func, select
from store_fixtures import fac, inst
from typer.testing import CliRunner

from matcher.cli import app
from matcher.sources.simple_csv import write_facilities, write_institutions
from matcher.store.db import open_store
from matcher.store.imports import import_simple
from matcher.store.locks import area_lock
from matcher.store.models import AreaRow

runner = CliRunner()


def kyoryoku(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    text = result.output
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.startswith("エラー")]
    assert len(lines) == 1, text
    return lines[0]


def seeded(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    store = open_store(url, upgrade=True)
    with store.write() as s:
        import_simple(s, [fac("F1"), fac("F2", dlat=0.01)], [inst("H1")], 2025)
    return url, store


def test_unknown_area_exits_2_and_creates_nothing(tmp_path):
    url, store = seeded(tmp_path)
    r = kyoryoku("run", "--area", "99", "--db", url)
    assert r.exit_code == 2 and "登録されて" in one_line_error(r)
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(AreaRow)) == 0
    store.dispose()


def test_run_while_another_run_holds_the_area(tmp_path):
    url, store = seeded(tmp_path)
    assert kyoryoku("run", "--area", "39", "--db", url).exit_code == 0
    with area_lock(store, "39"):
        r = kyoryoku("run", "--area", "39", "--wait", "0.2", "--db", url)
    assert r.exit_code == 5 and "別の計算が実行中です" in one_line_error(r)
    store.dispose()


def test_unreachable_database_exits_7(tmp_path):
    r = kyoryoku("proposals", "list", "--db", "postgresql+psycopg://postgres@127.0.0.1:1/x")
    assert r.exit_code == 7 and "データベースに接続できません" in one_line_error(r)


def test_read_only_database_exits_10(tmp_path):
    url, store = seeded(tmp_path)
    store.dispose()
    write_facilities([fac("F9")], tmp_path / "f.csv")
    write_institutions([inst("H9")], tmp_path / "i.csv")
    ro = f"sqlite:///file:{tmp_path / 'k.db'}?mode=ro&uri=true"
    r = kyoryoku("db", "import-csv", tmp_path / "f.csv", tmp_path / "i.csv", "--db", ro)
    assert r.exit_code == 10 and "書き込む権限がありません" in one_line_error(r)


def test_match_into_an_unwritable_place_exits_11(tmp_path):
    write_facilities([fac("F1")], tmp_path / "f.csv")
    write_institutions([inst("H1")], tmp_path / "i.csv")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = kyoryoku("match", tmp_path / "f.csv", tmp_path / "i.csv", "--out", blocker / "out")
    assert r.exit_code == 11 and "読み書きできません" in one_line_error(r)
