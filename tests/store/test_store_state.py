"""One definition of a facility's state (MODEL.md): the dashboard table, the facility list, the
facility page, the CSV/Excel export and the planner's input agree facility by facility, in an
area with facilities in every state (filed partners, agreed, contacted, declined, withdrawn,
unknown)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter

import openpyxl
import pytest
from fastapi.testclient import TestClient
from store_fixtures import fac, inst

from api.deps import Session, current_session
from api.main import create_app
from api.users import User
from matcher.model import format_capabilities_ja, parse_capabilities
from matcher.store.areas import save_area
from matcher.store.export import state_frames
from matcher.store.imports import Filing, FilingPartner, import_filings, import_simple
from matcher.store.planner_input import load_state
from matcher.store.proposal_commands import propose, set_status
from matcher.vocab import CodeSet

AREA = "area-t"
# facility id → (kind, status, covered now, missing, pending (打診中))
EXPECTED = {
    "F1": ("gh", "partial", "consult", "care", ""),  # filed partner covering ①
    "F2": ("gh", "all", "consult+care", "", ""),  # no filing, agreed ①②
    "F3": ("tokuyo", "partial", "consult", "care+admit", "care+admit"),  # filed ①, contacted ②③
    "F4": ("gh", "no_partner", "", "consult+care", ""),  # filed no partner, declined
    "F5": ("gh", "none", "", "consult+care", ""),  # filed a partner covering nothing, withdrawn
    "F6": ("tokuyo", "unknown", "", "consult+care+admit", ""),  # nothing at all
    "F7": ("gh", "unknown", "", "consult+care", "consult+care"),  # no filing, only contacted
    "F8": ("tokuyo", "all", "consult+care+admit", "", ""),  # filed everything
}
# Capacity used = agreed + contacted: H1 (F3 contacted), C1 (F2 agreed, F7 contacted).
USED = {"H1": 1, "C1": 2, "H2": 0}


def seed(store) -> None:
    facs = [
        fac("F1", dlat=0.001),
        fac("F2", dlat=0.002, has_partner=None),
        fac("F3", "tokuyo", dlat=0.003, covered=1, has_partner=True),
        fac("F4", dlat=0.004, covered=0, has_partner=False),
        fac("F5", dlat=0.005, covered=0, has_partner=True),
        fac("F6", "tokuyo", dlat=0.006, has_partner=None),
        fac("F7", dlat=0.007, has_partner=None),
        fac("F8", "tokuyo", dlat=0.008, covered=7, has_partner=True),
        fac("FX", muni="392022"),  # another municipality: outside the area
    ]
    insts = [
        inst("H1", capacity=5),
        inst("H2", dlon=0.01, capacity=3),
        inst("C1", "clinic", dlat=0.01, offers=7, capacity=4),  # a clinic never admits
    ]
    with store.write() as s:
        import_simple(s, facs, insts, 2025, dt.date(2025, 4, 1))
        import_filings(s, [Filing("F1", 2025, True, (FilingPartner("高知病院", 1, "H1"),))])
        save_area(s, AREA, "テスト地区", "renkei", ["39201"])
        f2 = propose(s, "F2", "C1", "山田")
        f3 = propose(s, "F3", "H1", "山田")
        f4 = propose(s, "F4", "H1", "山田")
        f5 = propose(s, "F5", "H2", "山田")
        f7 = propose(s, "F7", "C1", "山田")
        s.flush()
        ids = {k: p.id for k, p in {"F2": f2, "F3": f3, "F4": f4, "F5": f5, "F7": f7}.items()}
    with store.write() as s:
        set_status(s, ids["F2"], "contacted", 1, "山田")
        set_status(s, ids["F2"], "agreed", 2, "山田")
        set_status(s, ids["F3"], "contacted", 1, "山田")
        set_status(s, ids["F4"], "declined", 1, "山田")
        set_status(s, ids["F5"], "withdrawn", 1, "山田")
        set_status(s, ids["F7"], "contacted", 1, "山田")


def caps(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


@pytest.fixture
def client(store, db_url):
    seed(store)
    app = create_app(db_url, secret_key="test-secret", tiles_url="")
    user = User(1, "coord", "コーディネーター", "coordinator", ("39201",))
    app.dependency_overrides[current_session] = lambda: Session(user, "csrf", False)
    with TestClient(app) as c:
        yield c
    app.state.jobs.join_all()
    app.state.store.dispose()


def expected(field: int) -> dict[str, str]:
    return {fid: row[field] for fid, row in EXPECTED.items()}


def test_every_view_shows_the_same_state(store, client) -> None:
    statuses, covered, missing, pending = expected(1), expected(2), expected(3), expected(4)

    # the facility list (API)
    items = {
        d["facility_id"]: d
        for d in client.get("/api/facilities", params={"area": AREA}).json()["items"]
    }
    assert {k: d["status"] for k, d in items.items()} == statuses
    assert {k: d["covered"] for k, d in items.items()} == covered
    assert {k: d["missing"] for k, d in items.items()} == missing
    assert {k: d["pending"] for k, d in items.items()} == pending
    assert {k for k, d in items.items() if d["unknown"]} == {"F6", "F7"}

    # the facility page: its data and the page itself
    for fid in EXPECTED:
        body = client.get(f"/api/facilities/{fid}").json()
        assert (body["status"], body["covered"], body["missing"], body["pending"]) == (
            statuses[fid],
            covered[fid],
            missing[fid],
            pending[fid],
        ), fid
        html = client.get(f"/facilities/{fid}").text
        assert (
            re.search(r'id="facility-status" data-status="(\w+)"', html).group(1) == statuses[fid]
        )
        shown = re.search(r'<dd id="facility-pending"[^>]*>(.*?)</dd>', html, re.S)
        assert shown is not None, fid
        if pending[fid]:  # shown as 打診中 next to the status, never as coverage
            assert format_capabilities_ja(parse_capabilities(pending[fid])) in shown.group(1), fid
        else:
            assert "①" not in shown.group(1) and "②" not in shown.group(1), fid

    # the dashboard's status table (counts per kind and status)
    rows = client.get("/api/status-table", params={"area": AREA}).json()["rows"]
    want = Counter((kind, status) for kind, status, *_ in EXPECTED.values())
    got = Counter(
        {
            (r["kind"], s): r[s]
            for r in rows
            if r["kind"] != "total"
            for s in ("all", "partial", "none", "no_partner", "unknown")
            if r[s]
        }
    )
    assert got == want

    # the export: the store's tables, the API's CSV and Excel
    with store.read() as s:
        frame = state_frames(s, AREA)["facilities"]
    exported = {r.facility_id: r for r in frame.itertuples()}
    assert {k: r.status for k, r in exported.items()} == statuses
    assert {k: caps(r.missing) for k, r in exported.items()} == missing
    assert {k: caps(r.pending) for k, r in exported.items()} == pending
    text = client.get("/api/exports/facilities.csv", params={"area": AREA}).content
    table = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert {r["facility_id"]: r["status"] for r in table} == statuses
    assert {r["facility_id"]: r["pending"] for r in table} == pending
    wb = openpyxl.load_workbook(
        io.BytesIO(client.get("/api/exports/state.xlsx", params={"area": AREA}).content)
    )
    sheet = list(wb["施設"].iter_rows(values_only=True))
    header = sheet[0]
    xl = [dict(zip(header, r, strict=True)) for r in sheet[1:]]
    assert {r["facility_id"]: r["status"] for r in xl} == statuses
    assert {r["facility_id"]: caps(r["missing"]) for r in xl} == missing
    insts = {
        i["institution_id"]: i["used_capacity"] for i in client.get("/api/institutions").json()
    }
    assert insts == USED

    # the planner's input: the same states; contacted pairs carried (not re-planned, capacity
    # used) but not shown as coverage
    with store.read() as s:
        state = load_state(s, AREA)
    assert {st.facility_id: st.status.value for st in state.states} == statuses
    planned = {f.facility_id: f for f in state.instance.facilities}
    assert set(planned) == set(EXPECTED)
    assert planned["F3"].covered == 7 and planned["F7"].covered == 3
    assert planned["F7"].has_partner is True
    assert {f: planned[f].covered for f in ("F1", "F2", "F4", "F5", "F6", "F8")} == {
        "F1": 1,
        "F2": 3,
        "F4": 0,
        "F5": 0,
        "F6": 0,
        "F8": 7,
    }
    assert state.capacity_used == {k: v for k, v in USED.items() if v}
    offers = {i.institution_id: i.offers for i in state.instance.institutions}
    assert offers["C1"] == 3  # clinics never admit, in the planner as in the API
    capacity = {i.institution_id: i.capacity for i in state.instance.institutions}
    assert capacity == {"H1": 4, "H2": 3, "C1": 2}


def test_scope_as_a_code_set_filters_like_the_area() -> None:
    scope = CodeSet.of(["39201"])
    assert scope.contains("392014") and not scope.contains("392022")
    assert CodeSet.of(["39"]).covers(scope) and not scope.covers(CodeSet.of(["39"]))
    assert not scope.covers(CodeSet())
