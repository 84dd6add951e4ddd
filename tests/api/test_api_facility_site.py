"""The facility page lists the other registrations of its building (``matcher.sites``)."""

from __future__ import annotations

import re

import pytest
from api_support import A_LAT, A_LON, PASSWORD, make_app
from fastapi.testclient import TestClient

from matcher.store.models import FacilityRow


@pytest.fixture()
def client(tmp_path):
    app = make_app(tmp_path)
    with app.state.store.write() as s:
        s.get(FacilityRow, "FA2").extra = {"corporate_number": "7000000000002"}
        s.add(
            FacilityRow(
                facility_id="FA3",
                name="さくら特養ユニット型",
                kind="tokuyo",
                lat=A_LAT + 0.02,
                lon=A_LON,
                municipality_code="392014",
                code5="39201",
                address="高知市2-2",
                extra={"corporate_number": "7000000000002"},
            )
        )
    with TestClient(app, follow_redirects=False) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert token
        data = {"username": "coord_a", "password": PASSWORD, "next": "/"}
        assert c.post("/login", data={**data, "csrf_token": token.group(1)}).status_code == 303
        yield c
    app.state.jobs.join_all()
    app.state.store.dispose()


def test_facility_page_lists_the_building(client) -> None:
    page = client.get("/facilities/FA2")
    assert page.status_code == 200
    section = re.search(r'<section id="facility-site">(.*?)</section>', page.text, re.S)
    assert section is not None and "同じ建物の事業所" in section.group(1)
    assert 'href="/facilities/FA3"' in section.group(1)
    assert "FA2</li>" not in section.group(1)  # not itself


def test_a_facility_alone_shows_no_building(client) -> None:
    page = client.get("/facilities/FA1")
    assert page.status_code == 200
    assert 'id="facility-site"' not in page.text
