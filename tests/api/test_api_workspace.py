"""The coordinator's workspace pages through TestClient: facility and institution lists (search,
filters, sorting, pages kept in the URL), Japanese labels, the facility page's story, confirmed
proposal actions with notes and history, the audit page, the run page (preview before confirm,
then the changes and downloads), the map's bundled background, error pages in the layout."""

from __future__ import annotations

import re

import api_support
from api_support import PASSWORD, csrf_of, make_app, run_form
from fastapi.testclient import TestClient

FOLLOW_REDIRECTS = False


def page_login(client, username: str) -> str:
    """Log in through the login page; returns the CSRF token of the home page's forms."""
    api_support.page_login(client, username)
    return csrf_of(client.get("/").text)


def rows(html: str, attr: str) -> list[str]:
    return re.findall(rf'{attr}="([^"]+)"', html)


def test_facility_list_search_filters_sort_and_pages(client):
    page_login(client, "pref")
    html = client.get("/facilities").text
    assert rows(html, "data-facility") == ["FA1", "FA2", "FB1"]
    assert "認知症対応型共同生活介護" in html and "努力義務" in html  # labels, not codes
    assert rows(client.get("/facilities", params={"q": "さくら"}).text, "data-facility") == ["FA2"]
    assert rows(client.get("/facilities", params={"q": "室戸市"}).text, "data-facility") == ["FB1"]
    assert rows(client.get("/facilities", params={"q": "fa1"}).text, "data-facility") == ["FA1"]
    got = client.get("/facilities", params={"kind": "tokuyo", "sort": "id", "desc": "1"}).text
    assert rows(got, "data-facility") == ["FB1", "FA2"]
    assert rows(client.get("/facilities", params={"duty": "effort"}).text, "data-facility") == [
        "FA1"
    ]
    assert rows(client.get("/facilities", params={"status": "unknown"}).text, "data-facility") == [
        "FA2"
    ]
    only_admit = client.get("/facilities", params={"missing": "admit"}).text
    assert rows(only_admit, "data-facility") == ["FA2", "FB1"]  # a group home never needs ③
    assert rows(
        client.get("/facilities", params={"municipality": "39202"}).text, "data-facility"
    ) == ["FB1"]
    near = client.get("/facilities", params={"near": "39202", "km": "5", "sort": "distance"}).text
    assert rows(near, "data-facility") == ["FB1"] and " km</td>" in near
    assert rows(client.get("/facilities", params={"area": "area-a"}).text, "data-facility") == [
        "FA1",
        "FA2",
    ]
    # sorting links and pages keep every filter in the URL
    assert (
        'href="/facilities?kind=tokuyo&amp;sort=name'
        in client.get("/facilities", params={"kind": "tokuyo"}).text
    )
    first = client.get("/facilities", params={"per": "20", "page": "9"}).text  # clamped
    assert "3 件中 1〜3 件" in first


def test_facility_list_scope_and_proposal_filter(client):
    page_login(client, "coord_a")
    html = client.get("/facilities").text
    assert rows(html, "data-facility") == ["FA1", "FA2"]  # FB1 is outside the scope
    assert rows(client.get("/facilities", params={"proposal": "none"}).text, "data-facility") == [
        "FA1",
        "FA2",
    ]
    assert client.get("/facilities", params={"area": "area-b"}).status_code == 404


def test_institution_list_capacity_offers_requests(client):
    page_login(client, "coord_a")
    html = client.get("/institutions").text
    assert rows(html, "data-institution") == ["I1", "I2"]
    assert "診療所" in html and "申告なし(上限なし)" in html and "①相談対応・②診療" in html
    assert rows(
        client.get("/institutions", params={"offers": "admit"}).text, "data-institution"
    ) == ["I2"]
    assert rows(
        client.get("/institutions", params={"capacity": "undeclared"}).text, "data-institution"
    ) == ["I2"]
    by_left = client.get("/institutions", params={"sort": "remaining"}).text
    assert rows(by_left, "data-institution") == ["I1", "I2"]  # 2 left, then unlimited


def test_facility_page_story_and_no_redundant_proposal(client):
    token = page_login(client, "coord_a")
    html = client.get("/facilities/FA1").text
    assert "②診療" in html and "consult" not in html.split("<main")[1].replace('value="', "")
    assert 'id="facility-summary"' in html and "候補が" in html
    assert "提案する" in html
    # propose I1 and I2 by hand, agree I1: the group home is fully covered
    for iid in ("I1", "I2"):
        r = client.post(
            "/facilities/FA1/propose",
            data={"institution_id": iid, "csrf_token": token, "note": "電話で相談済み"},
        )
        assert r.status_code == 303
    html = client.get("/facilities/FA1").text
    ids = re.findall(r'data-proposal="(\d+)"', html)
    first = min(ids, key=int)
    r = client.post(
        f"/proposals/{first}/status",
        data={"status": "agreed", "version": "1", "csrf_token": token, "next": "/facilities/FA1"},
    )
    assert r.status_code == 303
    html = client.get("/facilities/FA1").text
    assert 'data-status="all"' in html
    assert "新たな協力医療機関を探す必要はありません" in html
    assert "すべての要件を満たしているため、候補は表示しません" in html
    # the other proposal is marked redundant and offers only withdrawal
    second = max(ids, key=int)
    row = re.search(rf'<tr data-proposal="{second}".*?</tr>', html, re.S).group(0)
    assert 'data-redundant="1"' in row and "不要" in row
    assert "act-withdrawn" in row and "act-agreed" not in row and "act-contacted" not in row


def test_proposal_page_confirm_with_note_and_history(client):
    token = page_login(client, "coord_a")
    client.post("/facilities/FA1/propose", data={"institution_id": "I1", "csrf_token": token})
    html = client.get("/facilities/FA1").text
    pid = re.search(r'data-proposal="(\d+)"', html).group(1)
    page = client.get(f"/proposals/{pid}", params={"action": "contacted"}).text
    assert '<details class="action" open>' in page and "メモ(任意)" in page
    r = client.post(
        f"/proposals/{pid}/status",
        data={
            "status": "contacted",
            "version": "1",
            "note": "院長に電話、来週回答",
            "csrf_token": token,
            "next": f"/proposals/{pid}",
        },
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"/proposals/{pid}?msg=")
    page = client.get(r.headers["location"]).text
    assert "院長に電話、来週回答" in page and "提案中 → 打診中" in page
    assert 'id="proposal-status" data-status="contacted"' in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page)  # JST time with seconds
    assert client.get("/proposals/99999").status_code == 404


def test_audit_page_for_prefecture_only(client):
    token = page_login(client, "coord_a")
    client.post("/facilities/FA1/propose", data={"institution_id": "I1", "csrf_token": token})
    assert client.get("/audit").status_code == 403
    assert 'href="/audit"' not in client.get("/").text
    client.cookies.clear()
    page_login(client, "pref")
    html = client.get("/audit").text
    assert 'href="/audit"' in html and "coord_a" in html and "あおばグループホーム" in html
    assert (
        "coord_a" not in client.get("/audit", params={"actor": "nobody"}).text.split("<tbody>")[1]
    )
    assert "条件に合う変更はありません" in client.get("/audit", params={"what": "run"}).text


def test_run_page_preview_then_confirm(client):
    token = page_login(client, "coord_a")
    form = client.get("/runs/new", params={"area": "area-a"}).text
    assert "最適化" in form and 'name="consult_km"' in form and 'value="area-a" selected' in form
    data = run_form(token)
    preview = client.post("/runs/preview", data=data)
    assert preview.status_code == 200, preview.text[-2000:]
    assert "まだ保存していません" in preview.text and 'data-change="new"' in preview.text
    with client.app.state.store.read() as s:
        from matcher.store.models import ProposalRow, RunRow

        assert s.query(RunRow).count() == 0 and s.query(ProposalRow).count() == 0
    r = client.post("/runs/confirm", data=data)
    assert r.status_code == 303
    client.app.state.jobs.join_all()
    target = r.headers["location"]
    page = client.get(target, follow_redirects=True)
    assert page.status_code == 200
    html = page.text
    run_id = page.url.path.rstrip("/").rsplit("/", 1)[-1]  # the run's page, after any progress page
    # the reports: through their page (a job with progress, then the kept ZIP)
    assert "前回との比較" in html and f'href="/runs/{run_id}/reports"' in html and "依頼状" in html
    assert "最適化" in html and "optimal</td>" not in html
    assert client.get("/runs/999").status_code == 404


def test_viewer_navigation_and_forms(client):
    page_login(client, "viewer_a")
    html = client.get("/").text
    assert 'href="/imports"' not in html and 'href="/runs/new"' not in html
    imports = client.get("/imports").text
    assert 'action="/imports"' not in imports and 'id="viewer-note"' in imports
    assert client.get("/runs/new").status_code == 403
    assert "提案する" not in client.get("/facilities/FA1").text


def test_error_pages_keep_the_navigation(client):
    page_login(client, "coord_a")
    r = client.get("/facilities/FB1")
    assert r.status_code == 404 and 'href="/facilities"' in r.text and "ログアウト" in r.text


def test_login_redirect_keeps_the_query(client):
    r = client.get("/facilities", params={"kind": "gh", "q": "あおば"})
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/login?next=")
    login = client.get(location).text
    assert "/facilities?kind=gh&amp;q=" in login
    token = csrf_of(login)
    nxt = re.search(r'name="next" value="([^"]+)"', login).group(1).replace("&amp;", "&")
    r = client.post(
        "/login",
        data={"username": "coord_a", "password": PASSWORD, "next": nxt, "csrf_token": token},
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/facilities?kind=gh&q=")


def test_map_fallback_background(client):
    page_login(client, "coord_a")
    data = client.get("/api/map/fallback").json()
    assert [o["name"] for o in data["outlines"]] == ["高知県"]
    assert len(data["outlines"][0]["rings"]) > 10
    assert [m["name"] for m in data["municipalities"]] == ["高知市"]
    html = client.get("/map").text
    assert 'data-fallback="/api/map/fallback"' in html and "四角" not in html


def test_run_progress_page_while_running(tmp_path):
    app = make_app(tmp_path, run_wait=0.0)
    with TestClient(app, follow_redirects=False) as c:
        token = page_login(c, "coord_a")
        r = c.post("/runs/confirm", data={"area_code": "area-a", "csrf_token": token})
        assert r.status_code == 303
        location = r.headers["location"]
        if location.startswith("/runs/progress/"):
            page = c.get(location)
            assert page.status_code in (200, 303)
            if page.status_code == 200:
                assert 'data-poll="/api/runs/jobs/' in page.text and "/static/runs.js" in page.text
        app.state.jobs.join_all()
        done = c.get(location, follow_redirects=True)
        assert done.status_code == 200 and "前回との比較" in done.text
    app.state.store.dispose()
