"""``kyoryoku areas import|export|list|report`` end to end on the hand-made region."""

from __future__ import annotations

from pathlib import Path

from areas_support import SAMPLE, scenario_fixture  # noqa: F401
from typer.testing import CliRunner

from matcher.cli import app
from matcher.sources.area_tables import read_area_table

runner = CliRunner()


def _flat(text: str) -> str:
    """Output without the console's line breaks and spaces (it wraps at its width)."""
    return "".join(text.split())


def _db(scenario) -> list[str]:
    store, _ = scenario
    return ["--db", store.engine.url.render_as_string(hide_password=False)]


def test_import_edit_export_and_list(scenario, tmp_path: Path) -> None:
    db = _db(scenario)
    r = runner.invoke(app, ["areas", "import", str(SAMPLE), "--kind", "ishikai", *db])
    assert r.exit_code == 0, r.output
    assert "区域 7 件を登録しました" in r.output and "39204" in r.output  # 南国市 is split
    out = tmp_path / "ishikai.csv"
    r = runner.invoke(app, ["areas", "export", "--kind", "ishikai", "--out", str(out), *db])
    assert r.exit_code == 0, r.output
    assert read_area_table(out, "ishikai") == read_area_table(SAMPLE, "ishikai")
    # edit: 芸西村 moves to its own association; the others are kept
    text = out.read_text("utf-8-sig").replace(
        "39307,芸西村,,安芸郡市医師会(サンプル)", "39307,芸西村,,芸西村医師会"
    )
    out.write_text(text, encoding="utf-8-sig")
    r = runner.invoke(app, ["areas", "import", str(out), "--kind", "ishikai", *db])
    assert r.exit_code == 0 and "区域 8 件を登録しました" in r.output, r.output
    r = runner.invoke(app, ["areas", "list", "--kind", "ishikai", *db])
    assert r.exit_code == 0, r.output
    lines = {line.split("\t")[0]: line for line in r.output.splitlines()}
    assert lines["ishikai-39-芸西村医師会"].endswith("施設 2\t不足 2")  # F4, F7


def test_report_writes_the_meeting_material(scenario, tmp_path: Path) -> None:
    out = tmp_path / "aki"
    r = runner.invoke(
        app,
        ["areas", "report", "kousou-3901", "--out", str(out), "--no-pdf", "--date", "2026-04-01"]
        + _db(scenario),
    )
    assert r.exit_code == 0, r.output
    assert "安芸(構想区域):施設8件、不足7件、範囲内に医療機関なし1件、広域3件" in _flat(r.output)
    assert sorted(p.name for p in out.iterdir()) == ["meeting.html", "meeting.xlsx"]


def test_bad_input_exits_2_and_says_where(scenario, tmp_path: Path) -> None:
    db = _db(scenario)
    bad = tmp_path / "plan.csv"
    bad.write_text("市区町村コード,二次医療圏\n39201,中央\n39201,安芸\n", encoding="utf-8")
    r = runner.invoke(app, ["areas", "import", str(bad), *db])
    assert r.exit_code == 2 and "plan.csv列「市区町村コード」値「39201」:高知市が二つ" in _flat(
        r.output
    )
    r = runner.invoke(app, ["areas", "import", str(bad), "--bundled", *db])
    assert r.exit_code == 2 and "どちらか一方" in _flat(r.output)
    r = runner.invoke(app, ["areas", "import", "--bundled", "--kind", "ishikai", *db])
    assert r.exit_code == 2 and "同梱の表は構想区域" in _flat(r.output)
    r = runner.invoke(app, ["areas", "report", "kousou-9999", "--out", str(tmp_path), *db])
    assert r.exit_code == 2 and "登録されていません" in _flat(r.output)
