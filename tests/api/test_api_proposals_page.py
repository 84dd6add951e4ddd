"""提案一覧 (issue 22, item 6): filters by status, area, municipality, institution and facility
search, pages, a <title>; grouped by institution with the printable list of each."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from api_support import A_LAT, A_LON, csrf_of, page_login

from matcher.model import Facility
from matcher.store.imports import import_facilities
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import propose

FOLLOW_REDIRECTS = False
EXTRA = 22  # facilities FX01… in 高知市, each proposed to I2 by hand: 25 proposals in all


@pytest.fixture(autouse=True)
def _proposals(app) -> None:
    """Both areas planned (FA1–I1, FA2–I2, FB1–I3) and the extra facilities' proposals, before
    the client starts."""
    run_plan(app.state.store, "area-a", actor="test")
    run_plan(app.state.store, "area-b", actor="test")
    with app.state.store.write() as s:
        extra = [
            Facility(
                f"FX{i:02d}",
                f"追加施設{i:02d}",
                "tokuyo",
                A_LAT + i * 0.001,
                A_LON,
                municipality_code="392014",
                address=f"高知市9-{i}",
            )
            for i in range(1, EXTRA + 1)
        ]
        import_facilities(s, extra)
        for f in extra:
            propose(s, f.facility_id, "I2", actor="test", override_reason="一覧のテスト")


def listed(client, **params: str) -> list[str]:
    """The facility ids the list shows (this page), in order."""
    r = client.get("/proposals", params=params)
    assert r.status_code == 200, r.text[-1000:]
    return re.findall(r'<tr data-proposal="\d+" data-facility="([^"]+)"', r.text)


def test_title_groups_and_pages(client):
    page_login(client, "pref")
    r = client.get("/proposals")
    assert "<title>提案一覧 - 協力医療機関マッチング</title>" in r.text
    assert "25 件中 1〜20 件" in r.text and "1 / 2 ページ" in r.text
    first = listed(client)
    assert first == ["FA1", "FA2"] + [f"FX{i:02d}" for i in range(1, 19)]  # I1, I2's by facility
    assert re.findall(r'<section data-institution="(\w+)"', r.text) == ["I1", "I2"]
    assert 'href="/institutions/I1/print"' in r.text
    assert listed(client, page="2") == ["FX19", "FX20", "FX21", "FX22", "FB1"]
    assert listed(client, page="9") == listed(client, page="2")  # clamped to the last
    assert len(listed(client, per="50")) == 25
    nxt = re.search(r'<a href="([^"]+)" rel="next">', client.get("/proposals?q=FX").text)
    assert nxt and htmllib.unescape(nxt.group(1)) == "/proposals?q=FX&page=2"


def test_status_filter(client):
    page_login(client, "coord_a")
    page = client.get("/proposals", params={"q": "FX01"}).text
    pid = re.search(r'<tr data-proposal="(\d+)" data-facility="FX01"', page).group(1)
    r = client.post(
        f"/proposals/{pid}/status",
        data={"status": "withdrawn", "version": "1", "csrf_token": csrf_of(page), "next": "/"},
    )
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    assert "FX01" not in listed(client, per="50")  # the list leaves out what was withdrawn
    assert listed(client, status="withdrawn") == ["FX01"]
    assert len(listed(client, status="proposed", per="50")) == 23
    none = client.get("/proposals", params={"status": "agreed"}).text
    assert "条件に合う提案はありません" in none


def test_area_municipality_institution_and_search(client):
    page_login(client, "pref")
    assert listed(client, area="area-b") == ["FB1"]
    assert listed(client, municipality="39202") == ["FB1"]
    assert len(listed(client, municipality="392014", per="50")) == 24
    assert listed(client, institution="I3") == ["FB1"]
    assert listed(client, institution="I1") == ["FA1"]
    assert listed(client, institution="nobody") == []
    assert listed(client, q="むろと") == ["FB1"]
    assert listed(client, q="fx0") == [f"FX0{i}" for i in range(1, 10)]  # case and width
    assert listed(client, q="追加施設１") == [f"FX1{i}" for i in range(10)]
    assert listed(client, area="area-a", institution="I3") == []
    choices = client.get("/proposals").text
    select = re.search(r'<select id="p-inst" name="institution">(.*?)</select>', choices, re.S)
    assert select and re.findall(r'<option value="(I\d)"', select.group(1)) == ["I1", "I2", "I3"]


def test_scope(client):
    page_login(client, "coord_a")
    assert "FB1" not in listed(client, per="50")
    r = client.get("/proposals", params={"area": "area-b"})
    assert r.status_code == 404 and "見つかりません" in r.text
    assert listed(client, institution="I3") == []
