"""Errors on the pages answer inside the layout, in Japanese (issue 22, item 6): a refused query
or form parameter is a 422 page naming the parameter and what it accepts, never the value sent;
a path parameter refused or an unknown path is the 404 page. The JSON API keeps its JSON."""

from __future__ import annotations

import re

import pytest
from api_support import csrf_of, page_login, run_form

FOLLOW_REDIRECTS = False
MARK = "zq<b>"  # a value that must never come back in a page


def fields(html: str) -> list[str]:
    """The lines of the error page's list of refused parameters."""
    box = re.search(r'<ul id="error-fields">(.*?)</ul>', html, re.S)
    assert box, html[html.find("<main") :][:500]
    return re.findall(r"<li>(.*?)</li>", box.group(1))


def assert_in_layout(r, status: int) -> None:
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert 'lang="ja"' in r.text and "ログアウト" in r.text  # the layout, with the navigation


@pytest.mark.parametrize(
    ("url", "line"),
    [
        ("/facilities?page=0", "「ページ」(page) は 1 以上の整数で指定してください"),
        ("/facilities?page=-1", "「ページ」(page) は 1 以上の整数で指定してください"),
        ("/facilities?page=abc", "「ページ」(page) は 1 以上の整数で指定してください"),
        ("/facilities/FA1?cpage=-1", "「候補のページ」(cpage) は 1 以上の整数で指定してください"),
        ("/facilities?km=5000", "「半径 (km)」(km) は 0 より大きく 200 以下の数で指定してください"),
        ("/institutions?km=0", "「半径 (km)」(km) は 0 より大きく 200 以下の数で指定してください"),
        ("/facilities?q=" + "x" * 201, "「検索」(q) は 200 文字以内で指定してください"),
        ("/proposals?q=" + "x" * 201, "「検索」(q) は 200 文字以内で指定してください"),
        ("/facilities?desc=maybe", "「降順」(desc) は 1 か 0 (true か false)で指定してください"),
        ("/audit?page=0", "「ページ」(page) は 1 以上の整数で指定してください"),
    ],
)
def test_a_refused_query_parameter_is_a_japanese_page(client, url, line):
    page_login(client, "pref")
    r = client.get(url)
    assert_in_layout(r, 422)
    assert "入力に誤りがあります" in r.text
    assert fields(r.text) == [line]
    assert '"detail"' not in r.text  # not FastAPI's JSON


def test_the_page_names_every_refused_parameter_but_never_echoes_a_value(client):
    page_login(client, "coord_a")
    r = client.get("/facilities", params={"page": f"-9{MARK}", "km": "987654", "q": MARK * 50})
    assert_in_layout(r, 422)
    assert [line.split(" ", 1)[0] for line in fields(r.text)] == [
        "「検索」(q)",
        "「半径",
        "「ページ」(page)",
    ]
    assert "987654" not in r.text and "zq" not in r.text
    # the way out: the same page without the refused query
    assert '<a href="/facilities" id="error-reset">' in r.text


def test_unknown_paths_and_refused_path_parameters_are_the_404_page(client):
    page_login(client, "coord_a")
    for url in ("/no-such-page", "/facilities/FA1/nothing", "/runs/jobs/0", "/proposals/abc"):
        r = client.get(url)
        assert_in_layout(r, 404)
        assert "このページは見つかりません" in r.text, url
        assert "no-such-page" not in r.text and "nothing" not in r.text.split("<main")[1]


def test_unknown_page_without_a_session_is_still_a_page(client):
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "このページは見つかりません" in r.text and "ログアウト" not in r.text


def test_the_json_api_keeps_its_json_errors(client):
    page_login(client, "coord_a")
    r = client.get("/api/no-such-thing")
    assert r.status_code == 404 and r.json() == {"detail": "見つかりません"}
    r = client.get("/api/facilities", params={"limit": "0"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "limit"]
    assert client.get("/static/no-such-file.js").headers["content-type"] == "application/json"


def test_run_form_out_of_range_is_a_page_not_a_crash(client):
    """Regression: the run form built ``RunIn`` in a dependency, so a distance over 500 km was a
    pydantic error FastAPI did not catch (500). Now it is the 422 page, and no run starts."""
    page_login(client, "coord_a")
    token = csrf_of(client.get("/").text)
    r = client.post("/runs/confirm", data=run_form(token, consult_km="600"))
    assert_in_layout(r, 422)
    assert fields(r.text) == [
        "「①相談対応の距離の上限 (km)」(consult_km) は 500 以下の数で指定してください"
    ]
    assert client.app.state.jobs.get(1) is None
    r = client.get("/runs/preview", params={**run_form(""), "max_new_partners": "0"})
    assert_in_layout(r, 422)
    assert fields(r.text) == [
        "「1施設あたりの新規協力医療機関の上限」(max_new_partners) は 1 以上の整数で"
        "指定してください"
    ]


def test_an_unknown_run_mode_is_refused_not_replaced(client):
    page_login(client, "coord_a")
    token = csrf_of(client.get("/").text)
    r = client.post("/runs", data={"area_code": "area-a", "mode": "fastest", "csrf_token": token})
    assert_in_layout(r, 422)
    assert fields(r.text) == [
        "「方式」(mode) は optimal・greedy・stable のいずれかで指定してください"
    ]
    r = client.get("/runs/preview", params={"mode": "optimal"})
    assert fields(r.text) == ["「地域」(area_code) を指定してください"]
