"""``kyoryoku report RUN`` and the facility page give one answer on capacity: after a second
area's run has reserved capacity at the same institutions, the letters of the first run say
what the ledger (``state.capacity_use``: every area's proposed, contacted and agreed pairs, a
site once) leaves — the request's お願い後の残り枠 and each alternative's 残り are the 残り the
facility pages show, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

from store_fixtures import fac, inst
from typer.testing import CliRunner

from matcher.cli import app
from matcher.store.db import open_store
from matcher.store.facilities import facility_detail
from matcher.store.imports import import_simple
from matcher.store.planning import run_plan
from matcher.store.report_input import run_input

runner = CliRunner()
AREA_A, AREA_B = "39201", "39202"  # 高知市, 室戸市 (placed side by side here)


def seed(store) -> None:
    """Two グループホーム of area A and two of area B around H1 (room for 3) and H2 (room for 2,
    ①② only, a little further)."""
    facilities = [
        fac("FA1", dlat=0.001),
        fac("FA2", dlat=0.002),
        fac("FB1", dlat=-0.001, muni="392022"),
        fac("FB2", dlat=-0.002, muni="392022"),
    ]
    institutions = [inst("H1", capacity=3), inst("H2", dlon=0.03, offers=3, capacity=2)]
    with store.write() as s:
        import_simple(s, facilities, institutions, 2025)


def page_capacity(store) -> dict[str, tuple[int | None, int, int | None]]:
    """institution id → (申告, 使用, 残り) as the facility pages show them (every page agrees)."""
    out: dict[str, tuple[int | None, int, int | None]] = {}
    with store.read() as s:
        for fid in ("FA1", "FA2", "FB1", "FB2"):
            for c in facility_detail(s, fid)["candidates"]:
                now = (c["declared_capacity"], c["used_capacity"], c["remaining_capacity"])
                assert out.setdefault(str(c["institution_id"]), now) == now  # type: ignore[arg-type]
    return out


def letters(out: Path) -> tuple[dict[str, int], dict[str, set[int]]]:
    """From the written letters: institution id → お願い後の残り枠 of its request; institution
    name → the 残り shown for it as an alternative in the facilities' notices."""
    left = {}
    for path in (out / "institutions").glob("*.html"):
        found = re.search(r"お願い後の残り枠(\d+)施設", path.read_text("utf-8"))
        assert found, path.name
        left[path.stem.rsplit("_", 1)[1]] = int(found.group(1))
    alternatives: dict[str, set[int]] = {}
    for path in (out / "facilities").glob("*.html"):
        html = path.read_text("utf-8")
        for name, n in re.findall(r"<td>(医療機関H\d)</td>.*?<td>残り (\d+)</td>", html):
            alternatives.setdefault(name, set()).add(int(n))
    return left, alternatives


def test_report_letters_say_the_ledgers_capacity_after_another_areas_run(db_url, tmp_path):
    assert runner.invoke(app, ["db", "upgrade", "--db", db_url]).exit_code == 0
    store = open_store(db_url)
    try:
        seed(store)
        run_a = run_plan(store, AREA_A, actor="山田")
        assert {p.institution_id for p in run_a.result.proposals} == {"H1"}
        # area B plans over what A reserved: H1 has one place left, H2 takes the other facility
        run_b = run_plan(store, AREA_B, actor="田中")
        assert sorted(p.institution_id for p in run_b.result.proposals) == ["H1", "H2"]
        shown = page_capacity(store)
        assert shown == {"H1": (3, 3, 0), "H2": (2, 1, 1)}
        with store.read() as s:
            rebuilt = run_input(s, run_a.run_id)
    finally:
        store.dispose()
    assert rebuilt.exact  # A's input as it was solved; the capacity shown is the ledger's
    assert any("受入枠" in n and "台帳" in n for n in rebuilt.notes), rebuilt.notes

    out = tmp_path / "reports"
    r = runner.invoke(
        app,
        [
            "report",
            str(run_a.run_id),
            "--out",
            str(out),
            "--pdf",
            "none",
            "--date",
            "2026-04-01",
            "--allow-missing-sender",
            "--db",
            db_url,
        ],
    )
    assert r.exit_code == 0, r.output
    left, alternatives = letters(out)
    assert left == {"H1": shown["H1"][2]}  # H1 is asked for FA1 and FA2: nothing left after
    assert alternatives == {"医療機関H2": {shown["H2"][2]}}  # the alternative: what B left
