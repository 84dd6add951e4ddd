"""``kyoryoku report`` end to end on the hand-made case, and its errors."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from reports_case import instance
from typer.testing import CliRunner

from matcher.cli import app
from matcher.sources.simple_csv import write_facilities, write_institutions
from matcher.wareki import today as today_jp
from matcher.wareki import wareki

runner = CliRunner()


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    inst = instance()
    return (
        write_facilities(inst.facilities, tmp_path / "facilities.csv"),
        write_institutions(inst.institutions, tmp_path / "institutions.csv"),
    )


def report(facilities: Path, institutions: Path, out: Path, *options: str):
    """``kyoryoku report`` on the two input files, writing to ``out``."""
    return runner.invoke(
        app,
        [
            "report",
            "--facilities",
            str(facilities),
            "--institutions",
            str(institutions),
            "--out",
            str(out),
            *options,
        ],
    )


def test_report_command_writes_everything(tmp_path: Path) -> None:
    facs, insts = _inputs(tmp_path)
    out = tmp_path / "out"
    # The letter is dated 2026-04-01 (the countdown below); the reply deadline must not be past
    # on the day the test runs.
    reply_by = max(today_jp(), date(2026, 4, 1)) + timedelta(days=30)
    r = report(
        facs,
        insts,
        out,
        "--pdf",
        "none",
        "--date",
        "2026-04-01",
        "--sender-org",
        "高知県 長寿社会課",
        "--reply-by",
        reply_by.isoformat(),
        "--allow-missing-sender",
    )
    assert r.exit_code == 0, r.output
    assert "帳票を書き出しました" in r.output and "医療機関への依頼 2 件" in r.output
    letter = (out / "institutions" / "高知中央病院_H1.html").read_text("utf-8")
    assert "高知県 長寿社会課" in letter and f"{wareki(reply_by, weekday=True)}まで" in letter
    assert "【未設定: 担当者】" in letter  # the options not given stay visible placeholders
    assert "施設へのお知らせ 4 件" in r.output
    wb = load_workbook(out / "report.xlsx")
    assert "高知市" in wb.sheetnames
    assert (out / "institutions" / "高知中央病院_H1.html").is_file() and (
        out / "facilities" / "特養やまびこ_F4.html"
    ).is_file()
    assert "あと 364 日" in (out / "overview.html").read_text("utf-8")
    assert (out / "csv" / "proposals.csv").is_file()


@pytest.mark.parametrize(
    ("facilities", "extra", "message"),
    [
        (None, ["--pdf", "paper"], "不明な PDF の指定「paper」"),
        (None, ["--date", "2026/04/01"], "--date の日付「2026/04/01」が不正です"),
        ("none.csv", [], "ファイルを開けません"),
    ],
    ids=["pdf", "date", "missing-file"],
)
def test_report_command_rejects_bad_options(
    tmp_path: Path, facilities: str | None, extra: list[str], message: str
) -> None:
    facs, insts = _inputs(tmp_path)
    if facilities is not None:
        facs = tmp_path / facilities
    r = report(facs, insts, tmp_path / "o", *extra)
    assert r.exit_code == 2 and message in r.output
