"""Issue 16 points 3–4 on both databases: 第二種協定指定医療機関 flows from a filing (or a
declaration) to the institution, the facility's state, the planner's input, the export, the
status table and the pages; the progress table of two filing years is exactly what the filings
say, with the 好事例 candidates ranked by the rise of ①."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from store_fixtures import fac, inst

from api.deps import Session, current_session
from api.main import create_app
from api.users import User
from matcher.store.areas import save_area
from matcher.store.dashboard import status_table
from matcher.store.export import state_frames
from matcher.store.imports import (
    Declaration,
    Filing,
    FilingPartner,
    import_declarations,
    import_filings,
    import_simple,
)
from matcher.store.models import AreaRow
from matcher.store.planner_input import load_state
from matcher.store.progress import progress_by_year
from matcher.store.proposal_commands import propose, set_status
from matcher.store.state import all_facility_states, infection_institutions, institution_states
from matcher.vocab import CodeSet

AREA = "area-i"
DAY = dt.date(2025, 4, 1)


def seed_infection(store) -> None:
    """F1 files H1 as 第二種協定; F2 files C1 without saying; F3 (no filing) agrees with H2,
    which declares itself one; F4 filed C1 as one in 2024 but not any more in 2025."""
    facs = [
        fac("F1", "tokuyo", dlat=0.001),
        fac("F2", dlat=0.002),
        fac("F3", "roken", dlat=0.003, has_partner=None),
        fac("F4", dlat=0.004),
    ]
    insts = [inst("H1"), inst("H2", dlon=0.01), inst("C1", "clinic", dlat=0.01, offers=3)]
    with store.write() as s:
        import_simple(s, facs, insts, 2025, DAY)
        import_filings(
            s,
            [
                Filing("F1", 2025, True, (FilingPartner("高知病院", 7, "H1", True),)),
                Filing("F2", 2025, True, (FilingPartner("Cクリニック", 3, "C1", None),)),
                Filing("F4", 2024, True, (FilingPartner("Cクリニック", 3, "C1", True),)),
                Filing("F4", 2025, True, (FilingPartner("Cクリニック", 3, "C1", False),)),
            ],
        )
        import_declarations(s, [Declaration("H2", DAY, 5, None, True, None, "", True)])
        save_area(s, AREA, "テスト地区", "renkei", ["39201"])
        p = propose(s, "F3", "H2", "山田")
        s.flush()
        pid = p.id
    with store.write() as s:
        set_status(s, pid, "contacted", 1, "山田")
    return pid


@pytest.fixture
def client(store, db_url):
    pid = seed_infection(store)
    app = create_app(db_url, secret_key="test-secret", tiles_url="")
    user = User(1, "coord", "コーディネーター", "coordinator", ("39201",))
    app.dependency_overrides[current_session] = lambda: Session(user, "csrf", False)
    with TestClient(app) as c:
        yield c, pid
    app.state.jobs.join_all()
    app.state.store.dispose()


def flags(store) -> tuple[set[str], dict[str, bool]]:
    with store.read() as s:
        insts = infection_institutions(s, None, DAY)
        facs = {st.facility_id: st.has_infection_partner for st in all_facility_states(s)}
    return insts, facs


def test_infection_flag_flows_from_filings_and_declarations_to_every_view(store, client) -> None:
    c, pid = client
    insts, facs = flags(store)
    # H1: a current filing says so; H2: its declaration; C1: only a superseded filing said so.
    assert insts == {"H1", "H2"}
    # F3 is only contacted with H2: not a partner yet.
    assert facs == {"F1": True, "F2": False, "F3": False, "F4": False}
    with store.write() as s:
        set_status(s, pid, "agreed", 2, "山田")
    insts, facs = flags(store)
    assert facs == {"F1": True, "F2": False, "F3": True, "F4": False}

    with store.read() as s:
        from matcher.store.models import InstitutionRow

        rows = list(s.query(InstitutionRow).order_by(InstitutionRow.institution_id))
        states = institution_states(s, rows, DAY)
        assert {k for k, v in states.items() if v.infection_agreement} == {"H1", "H2"}
        # the planner's input carries the store's flags for the core (matcher.infection)
        state = load_state(s, AREA, on=DAY)
        by_id = {i.institution_id: i for i in state.instance.institutions}
        assert by_id["H1"].extra.get("infection_agreement") == "true"
        assert "infection_agreement" not in by_id["C1"].extra
        fac_extra = {f.facility_id: f.extra for f in state.instance.facilities}
        assert fac_extra["F1"].get("infection_partner") == "true"
        assert "infection_partner" not in fac_extra["F2"]
        frames = state_frames(s, AREA, DAY)
        area = s.query(AreaRow).filter_by(code=AREA).one()
        table = status_table(s, CodeSet.of(["39201"]), [area])

    f = frames["facilities"].set_index("facility_id")
    assert f["has_infection_partner"].to_dict() == {
        "F1": "true",
        "F2": "false",
        "F3": "true",
        "F4": "false",
    }
    assert f.loc["F1", "第二種協定の協力医療機関"] == "あり"
    i = frames["institutions"].set_index("institution_id")
    assert i["infection_agreement"].to_dict() == {"C1": "false", "H1": "true", "H2": "true"}
    by_kind = {r["kind"]: r for r in table}
    assert by_kind["tokuyo"]["infection_partner"] == 1
    assert by_kind["gh"]["infection_partner"] == 0
    assert by_kind["total"]["infection_partner"] == 2
    assert by_kind["total"]["share_infection_partner"] == 50.0

    # the API and the pages
    assert c.get("/api/facilities/F1").json()["has_infection_partner"] is True
    assert c.get("/api/facilities/F2").json()["has_infection_partner"] is False
    html = c.get("/facilities/F1").text
    assert re.search(r'id="facility-infection" data-infection="1"', html)
    partners = re.search(r'<table id="partners">(.*?)</table>', html, re.S).group(1)
    assert '<th scope="col">第二種協定</th>' in partners and "<td>○</td>" in partners
    assert re.search(r'id="facility-infection" data-infection="0"', c.get("/facilities/F2").text)
    dashboard = c.get("/").text
    assert re.search(r'data-kind="total" data-infection="1">2<', dashboard)
    assert c.get("/api/status-table").json()["rows"][-1]["infection_partner"] == 2


def test_the_declaration_flag_is_part_of_its_content(store) -> None:
    with store.write() as s:
        import_simple(s, [fac("F1")], [inst("H1")], 2025, DAY)
        first = import_declarations(s, [Declaration("H1", DAY, 2)])
        again = import_declarations(s, [Declaration("H1", DAY, 2)])
        said = import_declarations(s, [Declaration("H1", DAY, 2, infection_agreement=True)])
    assert (first.inserted, again.unchanged, said.updated) == (1, 1, 1)
    assert flags(store)[0] == {"H1"}


# --- progress over filing years ------------------------------------------------------------------

# 高知市 (39201): four group homes and two 特養; 室戸市 (39202): two group homes.
# facility → {年度: (covered, has_partner)}; a year without a filing is ④.
FILED: dict[str, tuple[str, str, dict[int, tuple[int, bool]]]] = {
    "K1": ("gh", "392014", {2024: (1, True), 2025: (3, True)}),  # ② → ①
    "K2": ("gh", "392014", {2025: (3, True)}),  # ④ → ①
    "K3": ("gh", "392014", {2024: (0, False), 2025: (0, True)}),  # なし → ③
    "K4": ("gh", "392014", {2024: (3, True), 2025: (3, True)}),  # ① → ①
    "K5": ("tokuyo", "392014", {2024: (3, True), 2025: (7, True)}),  # ② → ①
    "K6": ("tokuyo", "392014", {}),  # ④ → ④
    "M1": ("gh", "392022", {2024: (3, True), 2025: (3, True)}),  # ① → ①
    "M2": ("gh", "392022", {2024: (0, False)}),  # なし → ④ (did not file again)
}
KEYS = ("all", "partial", "none", "no_partner", "unknown")


def seed_years(store) -> None:
    facs = [
        fac(fid, kind, dlat=0.001 * n, has_partner=None, muni=m)
        for n, (fid, (kind, m, _)) in enumerate(FILED.items())
    ]
    with store.write() as s:
        import_simple(s, facs, [inst("H1")], 2025, DAY)  # no filing: has_partner None
        import_filings(
            s,
            [
                Filing(fid, year, has, (), covered)
                for fid, (_, _, years) in FILED.items()
                for year, (covered, has) in years.items()
            ],
        )


def test_progress_table_of_two_filing_years_is_exact(store) -> None:
    seed_years(store)
    with store.read() as s:
        p = progress_by_year(s, CodeSet.of(["39"]))
    assert p.years == (2024, 2025) and p.has_years
    got = [
        (r["municipality_code"], r["kind"], r["year"], r["total"], *(r[k] for k in KEYS))
        for r in p.table.to_dict("records")
    ]
    assert got == [
        ("39201", "tokuyo", 2024, 2, 0, 1, 0, 0, 1),
        ("39201", "tokuyo", 2025, 2, 1, 0, 0, 0, 1),
        ("39201", "gh", 2024, 4, 1, 1, 0, 1, 1),
        ("39201", "gh", 2025, 4, 3, 0, 1, 0, 0),
        ("39201", "total", 2024, 6, 1, 2, 0, 1, 2),
        ("39201", "total", 2025, 6, 4, 0, 1, 0, 1),
        ("39202", "gh", 2024, 2, 1, 0, 0, 1, 0),
        ("39202", "gh", 2025, 2, 1, 0, 0, 0, 1),
        ("39202", "total", 2024, 2, 1, 0, 0, 1, 0),
        ("39202", "total", 2025, 2, 1, 0, 0, 0, 1),
    ]
    shares = p.table.set_index(["municipality_code", "kind", "year"])
    assert shares.loc[("39201", "gh", 2024), "share_all"] == 25.0
    assert shares.loc[("39201", "total", 2025), "share_all"] == 66.7
    assert shares.loc[("39201", "total", 2024), "share_unknown"] == 33.3
    assert shares.loc[("39201", "total", 2024)]["municipality_name"] == "高知市"

    ch = p.changes().set_index(["municipality_code", "kind"])
    assert ch.loc[("39201", "total"), "delta_all"] == 50.0  # 16.7 % → 66.7 %
    assert ch.loc[("39201", "total"), "gained_all"] == 3
    assert ch.loc[("39202", "gh"), "delta_unknown"] == 50.0

    good = p.good_practices()
    assert list(good["municipality_code"]) == ["39201"]  # 室戸市 did not improve ①
    assert good.loc[0, "share_all_from"] == 16.7 and good.loc[0, "share_all_to"] == 66.7

    # scoped to one municipality, the same rows
    with store.read() as s:
        only = progress_by_year(s, CodeSet.of(["39202"]))
    assert set(only.table["municipality_code"]) == {"39202"}


def test_dashboard_shows_progress_and_good_practices(store, db_url) -> None:
    seed_years(store)
    app = create_app(db_url, secret_key="test-secret", tiles_url="")
    user = User(1, "pref", "県", "prefecture", ("39",))
    app.dependency_overrides[current_session] = lambda: Session(user, "csrf", False)
    with TestClient(app) as c:
        html = c.get("/").text
    app.state.store.dispose()
    assert 'id="progress-table"' in html
    cell = re.search(r'data-kind="total" data-year="2025" data-status="all">([\d.]+)<', html)
    assert cell is not None and cell.group(1) == "62.5"  # 5 of 8 facilities
    good = re.search(r'<ol id="good-practices">(.*?)</ol>', html, re.S).group(1)
    assert "高知市" in good and "+50.0ポイント" in good and "室戸市" not in good


def test_one_filing_year_shows_no_progress(store, db_url) -> None:
    with store.write() as s:
        import_simple(s, [fac("F1", covered=3, has_partner=True)], [inst("H1")], 2025, DAY)
        p = progress_by_year(s, CodeSet.of(["39"]))
    assert p.years == (2025,) and not p.has_years
    assert p.changes().empty and p.good_practices().empty
