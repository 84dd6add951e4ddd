"""The way back from a facility page to the list keeps the list's filters (issue 22, item 1): the
list's links pass its query (``back``), and the facility page rebuilds the link from the list's
own parameter model (``FacilityListParams``), never from the raw value."""

from __future__ import annotations

import html as htmllib
import re
from urllib.parse import parse_qs, urlsplit

from api_support import csrf_of, page_login

FOLLOW_REDIRECTS = False


def href(page: str, element_id: str) -> str:
    m = re.search(rf'<a href="([^"]*)" id="{element_id}"', page)
    assert m, f"no #{element_id}"
    return htmllib.unescape(m.group(1))


def facility_link(page: str, facility_id: str) -> str:
    m = re.search(rf'<a href="(/facilities/{facility_id}[^"]*)"', page)
    assert m, f"no link to {facility_id}"
    return htmllib.unescape(m.group(1))


def test_the_back_link_keeps_the_lists_filters(client):
    page_login(client, "pref")
    listing = client.get(
        "/facilities",
        params={"q": "特養", "kind": "tokuyo", "sort": "name", "desc": "1", "per": "50"},
    ).text
    link = facility_link(listing, "FA2")
    assert parse_qs(urlsplit(link).query)["back"] == [
        "q=%E7%89%B9%E9%A4%8A&kind=tokuyo&sort=name&desc=1&per=50"
    ]
    page = client.get(link).text
    expected = "/facilities?q=%E7%89%B9%E9%A4%8A&kind=tokuyo&sort=name&desc=1&per=50"
    assert href(page, "back-to-list") == expected
    assert href(page, "crumb-list") == expected
    # the list the link leads to is the filtered one
    assert re.findall(r'data-facility="([^"]+)"', client.get(expected).text) == ["FB1", "FA2"]


def test_an_unfiltered_list_links_plainly(client):
    page_login(client, "coord_a")
    assert facility_link(client.get("/facilities").text, "FA1") == "/facilities/FA1"
    page = client.get("/facilities/FA1").text
    assert href(page, "back-to-list") == "/facilities" and href(page, "crumb-list") == "/facilities"


def test_back_is_rebuilt_from_known_parameters_only(client):
    page_login(client, "coord_a")
    back = 'kind=gh&evil=%22%3E%3Cscript%3E&next=//evil.example&q="><i>x</i>'
    page = client.get("/facilities/FA1", params={"back": back}).text
    link = href(page, "back-to-list")
    assert parse_qs(urlsplit(link).query) == {"q": ['"><i>x</i>'], "kind": ["gh"]}
    assert "evil" not in page and "<i>x</i>" not in page and "<script>" not in page


def test_a_query_the_list_would_refuse_gives_the_plain_list(client):
    page_login(client, "coord_a")
    for back in ("page=0", "km=5000", "q=" + "x" * 201, "//evil.example/", "https://evil.example"):
        page = client.get("/facilities/FA1", params={"back": back})
        assert page.status_code == 200, back
        assert href(page.text, "back-to-list") == "/facilities", back
    too_long = client.get("/facilities/FA1", params={"back": "q=" + "x" * 2001})
    assert too_long.status_code == 422 and "一覧の条件" in too_long.text


def test_actions_on_the_facility_page_come_back_with_the_lists_query(client):
    page_login(client, "coord_a")
    link = facility_link(client.get("/facilities", params={"kind": "gh"}).text, "FA1")
    page = client.get(link).text
    token = csrf_of(page)
    propose = re.search(
        r'<form method="post" action="/facilities/FA1/propose".*?</form>', page, re.S
    )
    assert propose and '<input type="hidden" name="back" value="kind=gh">' in propose.group(0)
    r = client.post(
        "/facilities/FA1/propose",
        data={"institution_id": "I1", "csrf_token": token, "back": "kind=gh"},
    )
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/facilities/FA1?back=kind%3Dgh") and "msg=proposed" in location
    page = client.get(location).text
    assert href(page, "back-to-list") == "/facilities?kind=gh"
    # the proposal's status forms return to the same facility page, list query and all
    assert 'name="next" value="/facilities/FA1?back=kind%3Dgh"' in page
