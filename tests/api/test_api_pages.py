"""Japanese pages through TestClient: login, redirects, scope (404), CSRF on forms, one-click
status changes, uploads showing rejects, the printable list."""

from __future__ import annotations

import datetime as dt
import re

from api_support import PASSWORD, csrf_of, make_app, page_login
from fastapi.testclient import TestClient

from matcher.wareki import today as today_jp

FOLLOW_REDIRECTS = False


def test_pages_redirect_to_login(client):
    for path in (
        "/",
        "/map",
        "/facilities/FA1",
        "/proposals",
        "/imports",
        "/institutions/I1/print",
    ):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_login_page_and_bad_password(client):
    html = client.get("/login").text
    assert "ログイン" in html
    r = client.post(
        "/login", data={"username": "coord_a", "password": "wrong-one", "csrf_token": csrf_of(html)}
    )
    assert r.status_code == 401 and "パスワードが違います" in r.text
    # the page shown again carries a token that works
    r = client.post(
        "/login", data={"username": "coord_a", "password": PASSWORD, "csrf_token": csrf_of(r.text)}
    )
    assert r.status_code == 303 and "kyoryoku_session" in r.cookies


def test_login_never_redirects_off_site(client):
    token = csrf_of(client.get("/login").text)
    r = client.post(
        "/login",
        data={
            "username": "coord_a",
            "password": PASSWORD,
            "next": "//evil.example",
            "csrf_token": token,
        },
    )
    assert r.headers["location"] == "/"


def test_login_form_needs_its_csrf_token(client, tmp_path):
    good = {"username": "coord_a", "password": PASSWORD}
    r = client.post("/login", data=good)  # no token, no login cookie: a cross-site form
    assert r.status_code == 403 and "トークン" in r.text and "kyoryoku_session" not in r.cookies
    token = csrf_of(client.get("/login").text)
    assert client.post("/login", data={**good, "csrf_token": "forged"}).status_code == 403
    (tmp_path / "other").mkdir()
    other = make_app(tmp_path / "other", secret_key="another-secret")
    with TestClient(other, follow_redirects=False) as c:  # signed by another server
        c.cookies.set("kyoryoku_login", client.cookies["kyoryoku_login"], path="/login")
        assert c.post("/login", data={**good, "csrf_token": token}).status_code == 403
        assert (
            c.post("/login", data={**good, "csrf_token": csrf_of(c.get("/login").text)}).status_code
            == 303
        )
    other.state.store.dispose()
    nonce = client.cookies["kyoryoku_login"]
    client.cookies.delete("kyoryoku_login")
    assert client.post("/login", data={**good, "csrf_token": token}).status_code == 403  # no cookie
    client.cookies.set("kyoryoku_login", "x" * 32, path="/login")
    assert (
        client.post("/login", data={**good, "csrf_token": token}).status_code == 403
    )  # another browser's
    client.cookies.delete("kyoryoku_login")
    client.cookies.set("kyoryoku_login", nonce, path="/login")
    r = client.post("/login", data={**good, "csrf_token": token})
    assert r.status_code == 303 and "kyoryoku_session" in r.cookies


def test_api_login_stays_token_based(client):
    """API clients log in with JSON and no form token; a form-encoded or text body is refused."""
    r = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["token"]
    me = client.get("/api/session", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.status_code == 200 and me.json()["user"]["username"] == "coord_a"
    for kwargs in (
        {"data": {"username": "coord_a", "password": PASSWORD}},
        {
            "content": f'{{"username": "coord_a", "password": "{PASSWORD}"}}',
            "headers": {"content-type": "text/plain"},
        },
    ):
        assert TestClient(client.app).post("/api/session", **kwargs).status_code == 422


def test_dashboard_shows_days_left_and_status(client):
    page_login(client, "coord_a")
    html = client.get("/").text
    assert "2027年3月31日" in html and 'id="days-left"' in html
    assert 'data-kind="total" data-status="partial">1<' in html
    assert "高知市地区" in html and "室戸市地区" not in html


def test_map_page_lists_facilities_in_scope(client):
    page_login(client, "coord_a")
    html = client.get("/map").text
    assert "/static/vendor/leaflet/leaflet.js" in html and "あおばグループホーム" in html
    assert "むろと特養" not in html
    assert client.get("/map", params={"area": "area-b"}).status_code == 404
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200


def test_facility_page_scope(client):
    page_login(client, "coord_a")
    r = client.get("/facilities/FA1")
    assert r.status_code == 200 and "みどりクリニック" in r.text and "提案する" in r.text
    r = client.get("/facilities/FB1")
    assert r.status_code == 404 and "見つかりません" in r.text


def test_one_click_propose_and_agree(client):
    page_login(client, "coord_a")
    html = client.get("/facilities/FA1").text
    token = csrf_of(html)
    r = client.post("/facilities/FA1/propose", data={"institution_id": "I1", "csrf_token": token})
    assert r.status_code == 303
    html = client.get("/facilities/FA1").text
    pid = re.search(r'data-proposal="(\d+)"', html).group(1)
    r = client.post(
        f"/proposals/{pid}/status",
        data={"status": "agreed", "version": "1", "csrf_token": token, "next": "/facilities/FA1"},
    )
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    html = client.get("/facilities/FA1").text
    assert 'data-status="all"' in html
    # the same click again, from a stale page: a message, not a crash
    r = client.post(
        f"/proposals/{pid}/status",
        data={"status": "declined", "version": "1", "csrf_token": token, "next": "/facilities/FA1"},
    )
    assert r.status_code == 303 and "err=" in r.headers["location"]
    assert 'data-kind="total" data-status="all">1<' in client.get("/").text


def test_forms_need_csrf(client):
    page_login(client, "coord_a")
    r = client.post("/facilities/FA1/propose", data={"institution_id": "I1"})
    assert r.status_code == 403
    r = client.post(
        "/facilities/FA1/propose", data={"institution_id": "I1", "csrf_token": "forged"}
    )
    assert r.status_code == 403


def test_viewer_sees_no_buttons_and_cannot_post(client):
    page_login(client, "viewer_a")
    html = client.get("/facilities/FA1").text
    assert "提案する" not in html
    r = client.post(
        "/facilities/FA1/propose", data={"institution_id": "I1", "csrf_token": csrf_of(html)}
    )
    assert r.status_code == 403


def test_run_from_dashboard_and_printable_list(client):
    page_login(client, "coord_a")
    token = csrf_of(client.get("/").text)
    r = client.post("/runs", data={"area_code": "area-a", "csrf_token": token})
    assert r.status_code == 303
    job = client.get(r.headers["location"])
    assert job.status_code == 200 and ("完了しました" in job.text or "計算中" in job.text)
    client.app.state.jobs.join_all()
    html = client.get("/proposals").text
    assert "印刷用" in html
    r = client.get("/institutions/I1/print")
    assert r.status_code == 200 and "あおばグループホーム" in r.text and "data-print" in r.text
    assert client.get("/institutions/I3/print").status_code == 404


def test_upload_page_shows_rejects(client):
    page_login(client, "coord_a")
    page = client.get("/imports").text
    token = csrf_of(page)
    # the declaration start defaults to the day in Japan (what the server takes when blank)
    assert f'id="declared-on" value="{today_jp().isoformat()}"' in page
    csv = (
        "facility_id,name,kind,lat,lon,covered,has_partner,municipality_code\n"
        "FA7,良い施設,gh,33.57,133.54,,,392014\n"
        "FA6,悪い施設,castle,33.57,133.54,,,392014\n"
    )
    r = client.post(
        "/imports",
        data={"kind": "facilities", "csrf_token": token},
        files={"file": ("facilities.csv", csv.encode("utf-8"))},
    )
    assert r.status_code == 200
    assert 'id="accepted">1<' in r.text and 'id="rejected">1<' in r.text and "castle" in r.text
    r = client.post(
        "/imports",
        data={"kind": "facilities", "csrf_token": token},
        files={"file": ("f.csv", b"a,b\n1,2\n")},
    )
    assert r.status_code == 422 and "見出し行" in r.text  # as the CLI says it


def test_logout(client):
    page_login(client, "coord_a")
    token = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 303


def test_a_refused_hand_proposal_names_the_rule_keeps_the_note_and_offers_the_override(tmp_path):
    """提案する beyond the planner's rules: the page comes back (422) at that candidate with each
    rule named, the typed note kept and the override asked for; with a reason it is made."""
    app = make_app(tmp_path)
    with TestClient(app, follow_redirects=False) as c:
        page_login(c, "coord_a")
        page = c.get("/facilities/FA1")
        assert page.status_code == 200
        token = csrf_of(page.text)
        # a declared capacity of 0 for I1 makes the ledger refuse it
        from matcher.store.imports import Declaration, import_declarations

        with app.state.store.write() as s:
            import_declarations(s, [Declaration("I1", dt.date(2025, 4, 1), 0)])
        form = {"csrf_token": token, "institution_id": "I1", "note": "院長に電話済み"}
        r = c.post("/facilities/FA1/propose", data=form)
        assert r.status_code == 422
        assert 'id="propose-refused"' in r.text and "受入枠:" in r.text
        assert "院長に電話済み</textarea>" in r.text
        assert 'name="override_reason"' in r.text
        token = csrf_of(r.text)
        ok = c.post(
            "/facilities/FA1/propose",
            data={**form, "csrf_token": token, "override_reason": "県の調整会議で了承"},
        )
        assert ok.status_code == 303
    app.state.store.dispose()
