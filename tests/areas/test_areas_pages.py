"""The workspace's pages per area: linked from the dashboard, scoped like every page, and every
link on them resolves for each role."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import pytest
from api_support import PASSWORD, login
from areas_support import build_scenario
from fastapi.testclient import TestClient

from api.main import create_app
from api.users import add_user
from matcher.store.db import open_store

AKI = ["39202", "39203", "39301", "39302", "39303", "39304", "39305", "39306", "39307"]
USERS = {
    "pref": ("prefecture", ["39", "36"]),
    "viewer": ("viewer", ["39"]),
    "coord_aki": ("coordinator", AKI),
    "coord_kochi_city": ("coordinator", ["39201"]),
}
HREF = re.compile(r'href="(/[^"#]*)"')


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("areas-web") / "web.db"
    store = open_store(f"sqlite:///{path}", upgrade=True)
    build_scenario(store)
    with store.write() as s:
        for name, (role, scope) in USERS.items():
            add_user(s, name, PASSWORD, role, scope, name, actor="test")
    store.dispose()
    return create_app(f"sqlite:///{path}", secret_key="test-secret", tiles_url="")


def _client(app, user: str) -> TestClient:
    client = TestClient(app)
    login(client, user)
    return client


def _links(page: str) -> list[str]:
    return sorted({html.unescape(h) for h in HREF.findall(page)})


def _visible(client: TestClient) -> list[str]:
    r = client.get("/areas")
    assert r.status_code == 200
    return re.findall(r'<tr data-area="([^"]+)">', r.text)


@pytest.mark.parametrize(
    ("user", "areas"),
    [
        (
            "pref",
            [
                "kousou-3901",
                "kousou-3902",
                "kousou-3903",
                "kousou-3904",
                "kousou-36-県北",
                "kousou-36-県南",
            ],
        ),
        ("viewer", ["kousou-3901", "kousou-3902", "kousou-3903", "kousou-3904"]),
        ("coord_aki", ["kousou-3901"]),
        ("coord_kochi_city", []),
    ],
)
def test_every_link_resolves_for_each_role(app, user, areas) -> None:
    client = _client(app, user)
    dashboard = client.get("/")
    assert dashboard.status_code == 200 and 'href="/areas"' in dashboard.text
    assert sorted(_visible(client)) == sorted(areas)
    seen: set[str] = set()
    pages = ["/", "/areas"] + [f"/areas/{a}" for a in areas]
    for page in pages:
        r = client.get(page)
        assert r.status_code == 200, (user, page)
        for link in _links(r.text):
            if link in seen or link.startswith("/static/"):
                continue
            seen.add(link)
            got = client.get(link)
            assert got.status_code == 200, (user, page, link, got.status_code)
    # each visible area's page is linked (from the dashboard and the list)
    assert {f"/areas/{a}" for a in areas} <= {unquote(link) for link in seen}


def test_an_area_outside_the_scope_answers_404(app) -> None:
    client = _client(app, "coord_aki")
    assert client.get("/areas/kousou-3902").status_code == 404
    assert client.get("/areas/kousou-3902/meeting.xlsx").status_code == 404
    assert "見られる区域がありません" in _client(app, "coord_kochi_city").get("/areas").text


def test_the_page_shows_the_figures_and_filters(app) -> None:
    client = _client(app, "coord_aki")
    row = client.get("/areas").text.split('<tr data-area="kousou-3901">')[1].split("</tr>")[0]
    assert re.findall(r"<td>(\d+)</td>", row) == ["8", "7", "4"]  # facilities, short, 義務
    page = client.get("/areas/kousou-3901").text
    assert '<span data-figure="short">7</span>' in page
    assert '<span data-figure="cross">3</span>' in page and "(うち他県 2)" in page
    assert re.findall(r'<tr data-facility="(\w+)">', page) == [
        "F1",
        "F5",
        "F6",
        "F8",
        "F2",
        "F4",
        "F7",
    ]
    assert 'href="/runs/new?area=kousou-3901"' in page  # a coordinator may run the area
    filtered = client.get("/areas/kousou-3901", params={"duty": "effort", "missing": "care"}).text
    assert re.findall(r'<tr data-facility="(\w+)">', filtered) == ["F2", "F4", "F7"]
    by_town = client.get("/areas/kousou-3901", params={"municipality": "39301"}).text
    assert re.findall(r'<tr data-facility="(\w+)">', by_town) == ["F6", "F8"]
    whatif = client.get("/areas/kousou-3901", params={"whatif": "1"}).text
    assert "医療機関T1 の受入枠を 1 増やす" in whatif
    viewer = _client(app, "viewer").get("/areas/kousou-3901").text
    assert "/runs/new" not in viewer


def test_the_workbook_downloads(app) -> None:
    r = _client(app, "viewer").get("/areas/kousou-3901/meeting.xlsx")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert "attachment" in r.headers["content-disposition"]
