"""Requests a coordinator takes by telephone, in person or by mail (相談窓口).

The API (``POST /api/intake``) and the page (``/intake/new``, with the session's CSRF token):
the channel, who took it and when (JST in, UTC stored) land in the same queue and move through
the same states (受付 → 対応中 → 完了), audited; only a writer of the scope may enter one, for a
facility or a municipality of the scope; a future time, an unknown channel, a missing taker are
refused with what is wrong (the form shown again with the values kept).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from api_support import login
from fastapi import FastAPI
from fastapi.testclient import TestClient

from matcher.store.models import AuditRow

FOLLOW_REDIRECTS = False
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PHONE = {
    "channel": "phone",
    "taken_by": "山田(拠点)",
    "taken_at": "2026-12-01T10:30:00",  # JST
    "facility_id": "FA1",
    "topic": "partner_search",
    "message": "夜間の相談先を探している",
    "person": "施設長 佐藤",
    "contact": "088-000-0000",
}


def _take(client: TestClient, h: dict[str, str], **changes: Any) -> Any:
    return client.post("/api/intake", json={**PHONE, **changes}, headers=h)


def test_a_request_taken_by_phone_joins_the_queue_and_moves_through_it(
    app: FastAPI, client: TestClient
) -> None:
    h = login(client, "coord_a")
    r = _take(client, h)
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["channel"], got["channel_ja"], got["status"]) == ("phone", "電話", "received")
    assert (got["facility_id"], got["facility_name"]) == ("FA1", "あおばグループホーム")
    assert got["taken_by"] == "山田(拠点)"
    assert got["taken_at"] == "2026-12-01T01:30:00"  # 10:30 JST, stored in UTC
    rid = got["id"]
    visit = _take(
        client,
        h,
        channel="visit",
        facility_id=None,
        facility_name="ひまわり荘",
        municipality="39201",
        taken_at="2026-12-02T09:00:00+09:00",
    )
    assert visit.status_code == 201 and visit.json()["channel_ja"] == "来所"
    assert visit.json()["facility_id"] is None and visit.json()["facility_name"] == "ひまわり荘"
    queue = client.get("/api/intake").json()
    assert {(q["id"], q["channel"]) for q in queue} == {
        (rid, "phone"),
        (visit.json()["id"], "visit"),
    }
    for version, status in ((1, "in_progress"), (2, "done")):
        r = client.post(
            f"/api/intake/{rid}", json={"version": version, "status": status}, headers=h
        )
        assert r.status_code == 200 and r.json()["status"] == status
    with app.state.store.read() as s:
        audit = [
            (a.action, a.detail)
            for a in s.query(AuditRow)
            .filter(AuditRow.target == f"相談 R{rid}")
            .order_by(AuditRow.id)
        ]
    assert [a for a, _ in audit] == ["intake.submit", "intake.update", "intake.update"]
    assert audit[0][1]["channel"] == "phone" and audit[0][1]["taken_by"] == "山田(拠点)"
    assert audit[0][1]["taken_at"] == "2026-12-01T01:30:00"
    # the other coordinator's queue does not have it
    login(client, "coord_b")
    assert client.get("/api/intake").json() == []
    assert client.get(f"/api/intake/{rid}").status_code == 404


def test_only_a_writer_of_the_scope_takes_a_request_and_wrong_ones_are_refused(
    client: TestClient,
) -> None:
    h = login(client, "viewer_a")
    assert _take(client, h).status_code == 403
    h = login(client, "coord_a")
    assert _take(client, h, facility_id="FB1").status_code == 404  # 室戸市: coord_b's
    r = _take(client, h, facility_id=None, facility_name="むろと荘", municipality="39202")
    assert r.status_code == 422 and "担当地域の市区町村" in r.text
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    r = _take(client, h, taken_at=future)
    assert r.status_code == 422 and "未来" in r.text
    r = _take(client, h, channel="link")
    assert r.status_code == 422 and "受付の経路" in r.text
    assert _take(client, h, taken_by="").status_code == 422
    r = _take(client, h, taken_by="   ")
    assert r.status_code == 422 and "受け付けた人" in r.text
    assert client.get("/api/intake").json() == []


def test_the_page_form_takes_a_request_with_the_sessions_token(client: TestClient) -> None:
    h = login(client, "coord_a")
    queue = client.get("/intake")
    assert 'href="/intake/new"' in queue.text
    form = client.get("/intake/new")
    assert form.status_code == 200
    assert 'name="taken_at"' in form.text and 'value="coord_a"' in form.text
    token = CSRF.search(form.text)
    assert token is not None and token.group(1) == h["X-CSRF-Token"]
    fields = {**PHONE, "channel": "mail", "taken_at": "2026-12-03T14:05"}
    assert client.post("/intake/new", data=fields).status_code == 403  # no token
    assert client.get("/api/intake").json() == []
    wrong = client.post(
        "/intake/new", data={**fields, "taken_by": "", "csrf_token": token.group(1)}
    )
    assert wrong.status_code == 422 and "受け付けた人" in wrong.text
    assert "夜間の相談先を探している" in wrong.text  # the values are kept
    r = client.post("/intake/new", data={**fields, "csrf_token": token.group(1)})
    assert r.status_code == 303, r.text
    (req,) = client.get("/api/intake").json()
    assert r.headers["location"].startswith(f"/intake/{req['id']}?")
    assert (req["channel"], req["taken_at"]) == ("mail", "2026-12-03T05:05:00")
    page = client.get(r.headers["location"])
    assert "電話・来所・メールの相談を受付に登録しました" in page.text
    assert 'id="intake-taken">山田(拠点)(2026-12-03 14:05' in page.text
    listed = client.get("/intake").text
    row = re.search(rf'<tr data-request="{req["id"]}".*?</tr>', listed, re.DOTALL)
    assert row is not None
    assert '<td data-channel="mail">メール<br><small>受付: 山田(拠点)</small></td>' in row.group(0)
    assert "2026-12-03 14:05" in row.group(0)


def test_a_viewer_has_no_form(client: TestClient) -> None:
    login(client, "viewer_a")
    assert client.get("/intake/new").status_code == 403
    assert 'href="/intake/new"' not in client.get("/intake").text
