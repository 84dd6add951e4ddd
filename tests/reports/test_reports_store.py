"""Reports of a stored run: the run's input rebuilt from the store, ``kyoryoku report RUN``."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from store_fixtures import fac, seed_small_region
from typer.testing import CliRunner

from matcher.cli import app
from matcher.fonts import missing_font_note
from matcher.match import match
from matcher.store.errors import NotFoundError
from matcher.store.imports import import_simple
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.proposals import list_proposals
from matcher.store.report_input import run_input

runner = CliRunner()


def seed(store) -> None:
    """The small region and F4, a 特養 already covered with a partner."""
    seed_small_region(store, fac("F4", "tokuyo", dlat=0.01, covered=1, has_partner=True))


def proposal_pairs(result) -> set[tuple[str, str]]:
    return {(p.facility_id, p.institution_id) for p in result.proposals}


def workbook_pairs(path: Path) -> set[tuple[str, str]]:
    """(施設ID, 医療機関ID) of every proposal in a report workbook's 提案一覧."""
    wb = load_workbook(path, read_only=True)
    rows = list(wb["提案一覧"].iter_rows(values_only=True))
    wb.close()
    header = rows[0]
    f, i = header.index("施設ID"), header.index("医療機関ID")
    return {(row[f], row[i]) for row in rows[1:]}


def test_run_is_rebuilt_exactly_after_later_decisions(store) -> None:
    seed(store)
    r1 = run_plan(store, "39", actor="山田")
    # Decisions after the run change the area's state, not what run 1 started from.
    first, second = sorted(r1.changes, key=lambda c: c.proposal_id)[:2]
    with store.write() as s:
        set_status(s, first.proposal_id, "contacted", 1, "山田")
        set_status(s, first.proposal_id, "agreed", 2, "山田")
        set_status(s, second.proposal_id, "declined", 1, "山田")
    r2 = run_plan(store, "39", actor="山田")
    with store.read() as s:
        got1, got2 = run_input(s, r1.run_id), run_input(s, r2.run_id)
    for got, want in ((got1, r1), (got2, r2)):
        assert got.exact and got.notes == ()
        assert got.instance == want.state.instance
        assert got.result.proposals == want.result.proposals
        assert got.result.outcomes == want.result.outcomes
        assert got.result.unmatched == want.result.unmatched
        assert got.result.alternatives == want.result.alternatives
        assert got.result.objective == want.result.objective
        assert got.result.counts == want.result.counts
    assert got1.result.info.mode == "optimal" and got1.result.info.details["run_id"] == r1.run_id
    assert (first.facility_id, first.institution_id) in proposal_pairs(got1.result)


def test_contacted_proposal_carried_into_a_run_is_coverage_not_a_proposal(store) -> None:
    seed(store)
    r1 = run_plan(store, "39")
    c = r1.changes[0]
    with store.write() as s:
        set_status(s, c.proposal_id, "contacted", 1, "山田")
    r2 = run_plan(store, "39")
    assert c.proposal_id in r2.state.kept
    with store.read() as s:
        got = run_input(s, r2.run_id)
        run_pairs = {(p.facility_id, p.institution_id) for p in list_proposals(s, run_id=r2.run_id)}
    assert got.exact
    assert (c.facility_id, c.institution_id) in run_pairs - proposal_pairs(got.result)
    assert proposal_pairs(got.result) == proposal_pairs(r2.result)


def test_changed_filing_is_said_in_the_notes(store) -> None:
    seed(store)
    r1 = run_plan(store, "39")
    with store.write() as s:  # F1 files full coverage after the run
        import_simple(s, [fac("F1", dlat=0.001, covered=3, has_partner=True)], [], 2025)
    with store.read() as s:
        got = run_input(s, r1.run_id)
    assert not got.exact
    assert any("計算時の入力をそのままは復元できませんでした" in n for n in got.notes)
    assert proposal_pairs(got.result) == proposal_pairs(r1.result)
    assert any(
        "候補の範囲外" in n for n in got.notes
    )  # F1 lacks nothing now: its pair left the graph


def test_unknown_run_is_not_found(store) -> None:
    with store.read() as s, pytest.raises(NotFoundError, match="計算 42 は存在しません"):
        run_input(s, 42)


def test_rebuilt_result_matches_a_fresh_match_on_the_same_input(store) -> None:
    seed(store)
    r1 = run_plan(store, "39", mode="greedy")
    with store.read() as s:
        got = run_input(s, r1.run_id)
    fresh = match(got.instance, got.result.params, "greedy", forbidden=r1.state.forbidden)
    assert got.result.proposals == fresh.proposals and got.result.alternatives == fresh.alternatives
    assert got.result.info.mode == "greedy"


def test_report_command_by_run_id(db_url, tmp_path) -> None:
    db = ["--db", db_url]
    assert runner.invoke(app, ["db", "upgrade", *db]).exit_code == 0
    from matcher.store.db import open_store

    s = open_store(db_url)
    try:
        seed(s)
        r1 = run_plan(s, "39", actor="山田")
    finally:
        s.dispose()
    out = tmp_path / "reports"
    r = runner.invoke(
        app,
        [
            "report",
            str(r1.run_id),
            "--out",
            str(out),
            "--pdf",
            "none",
            "--date",
            "2026-04-01",
            "--allow-missing-sender",
            *db,
        ],
    )
    assert r.exit_code == 0, r.output
    assert f"計算 {r1.run_id} を読み込みました" in r.output and "帳票を書き出しました" in r.output
    assert f"提案 {len(r1.result.proposals)} 件" in r.output
    assert workbook_pairs(out / "report.xlsx") == proposal_pairs(r1.result) != set()
    wb = load_workbook(out / "report.xlsx", read_only=True)
    assert "高知市" in wb.sheetnames
    wb.close()
    html = (out / "index.html").read_text("utf-8")
    warned = html.replace("注意: " + missing_font_note(), "")  # a machine without the fonts
    assert "帳票一式" in html and "注意:" not in warned
    assert (out / "csv" / "proposals.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_report_command_errors(db_url, tmp_path) -> None:
    db = ["--db", db_url]
    runner.invoke(app, ["db", "upgrade", *db])
    r = runner.invoke(app, ["report", "99", "--out", str(tmp_path / "o"), *db])
    assert r.exit_code == 2 and "計算 99 は存在しません" in r.output
    r = runner.invoke(app, ["report", "--out", str(tmp_path / "o"), *db])
    assert r.exit_code == 2 and "計算ID、または --facilities と --institutions の両方" in r.output
    r = runner.invoke(
        app, ["report", "1", "--facilities", "f.csv", "--out", str(tmp_path / "o"), *db]
    )
    assert r.exit_code == 2 and "計算IDを指定したときは" in r.output
    assert not (tmp_path / "o").exists()
