"""The store's commands end to end on the sample: upgrade, import, run, proposals, export."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from matcher.cli import app

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
runner = CliRunner()


def kyoryoku(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_coordinator_session(db_url, tmp_path):
    db = ["--db", db_url]
    r = kyoryoku("db", "upgrade", *db)
    assert r.exit_code == 0, r.output
    assert "スキーマを最新にしました" in r.output
    files = [SAMPLE / "facilities.csv", SAMPLE / "institutions.csv"]
    r = kyoryoku("db", "import-csv", *files, "--filing-year", "2025", *db)
    assert r.exit_code == 0, r.output
    assert "施設: 追加 704 件" in r.output
    r = kyoryoku("db", "import-csv", *files, "--filing-year", "2025", *db)
    assert "変更はありませんでした" in r.output
    r = kyoryoku("run", "--area", "39", "--actor", "山田", *db)
    assert r.exit_code == 0, r.output
    assert re.search(r"計算 1 を保存しました.*初回の計算: 新規 \d+ 件", r.output.replace("\n", ""))
    r = kyoryoku("proposals", "list", "--area", "39", "--status", "proposed", *db)
    assert r.exit_code == 0, r.output
    first = int(re.search(r"│ (\d+)\s+│ 1\s+│ 提案中", r.output).group(1))
    r = kyoryoku(
        "proposals", "set-status", first, "contacted", "--version", "1", "--note", "電話済み", *db
    )
    assert r.exit_code == 0 and "新しい版: 2" in r.output, r.output
    r = kyoryoku("proposals", "set-status", first, "declined", "--version", "1", *db)
    assert r.exit_code == 3 and "他の人が先に更新しました" in r.output
    r = kyoryoku("proposals", "set-status", first, "contacted", "--version", "2", *db)
    assert r.exit_code == 2 and "変更できません" in r.output
    r = kyoryoku("proposals", "history", first, *db)
    assert "提案中 → 打診中" in r.output and "電話済み" in r.output
    r = kyoryoku("run", "--area", "39", *db)
    assert r.exit_code == 0 and "前回の計算 1 と比べて" in r.output.replace("\n", "")
    r = kyoryoku("export", "--area", "39", "--out", tmp_path / "state", *db)
    assert r.exit_code == 0, r.output
    raw = (tmp_path / "state" / "proposals.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    props = pd.read_csv(tmp_path / "state" / "proposals.csv", encoding="utf-8-sig")
    assert (props["status"] == "contacted").sum() == 1
    r = kyoryoku("export", "--area", "39", "--out", tmp_path / "state.xlsx", *db)
    assert r.exit_code == 0, r.output
    sheets = pd.read_excel(tmp_path / "state.xlsx", sheet_name=None)
    assert list(sheets) == ["概要", "施設", "提案", "医療機関"] and len(sheets["施設"]) == 704


def test_commands_before_upgrade_say_what_to_do(tmp_path):
    r = kyoryoku("run", "--area", "39", "--db", f"sqlite:///{tmp_path / 'k.db'}")
    assert r.exit_code == 2 and "kyoryoku db upgrade" in r.output


def test_unknown_area_and_bad_file(tmp_path):
    db = ["--db", f"sqlite:///{tmp_path / 'k.db'}"]
    kyoryoku("db", "upgrade", *db)
    r = kyoryoku("run", "--area", "どこか", *db)
    assert r.exit_code == 2 and "登録されていません" in r.output
    bad = tmp_path / "f.csv"
    bad.write_text("facility_id,name,kind,lat,lon\nX,a,unknown,35,135\n", encoding="utf-8")
    # A bad row is rejected as the web upload rejects it: the good rows (the institutions) are
    # stored, the row is listed with its reason in f.rejects.csv beside the file, exit code 1.
    r = kyoryoku("db", "import-csv", bad, SAMPLE / "institutions.csv", *db)
    assert r.exit_code == 1 and "不明な施設種別" in r.output, r.output
    rejects = pd.read_csv(tmp_path / "f.rejects.csv", encoding="utf-8-sig", dtype=str)
    assert rejects[["ファイル", "行", "列"]].values.tolist() == [["f.csv", "2", "kind"]]
    assert "不明な施設種別" in rejects["理由"][0]
    assert "医療機関: 追加" in r.output
    # A file refused whole (a required column missing) still stops with exit code 2.
    bad.write_text("facility_id,name,lat,lon\nX,a,35,135\n", encoding="utf-8")
    r = kyoryoku("db", "import-csv", bad, SAMPLE / "institutions.csv", *db)
    assert r.exit_code == 2 and "kind" in r.output, r.output
