"""The 相談窓口 from outside and from the coordinator's desk.

Hostile, on the public page (``/soudan``, switched on by ``KYORYOKU_INTAKE_PUBLIC``): off means
404; oversized bodies (413 before reading) and fields (422, nothing stored); floods and the
send windows (429 with ``Retry-After``); missing, foreign and cross-site form tokens (403, and
counted until the address is locked); nothing of any facility shown, a facility id posted along
ignored, a municipality the page did not offer refused. Through a letter's link: only a
facility's letter has one, and it shows that facility only. The coordinator: the queue of their
municipalities only, roles, the version check, and a confirmation that writes the filing.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from api_support import login
from fastapi import FastAPI
from fastapi.testclient import TestClient

from matcher.store.models import FilingRow
from matcher.store.planning import run_plan
from matcher.store.replies import IssuedLink, issue_links
from matcher.wareki import today as today_jp

FOLLOW_REDIRECTS = False
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
# every facility of the test store (api_support): none may show on a public page
FACILITY_NAMES = ("あおばグループホーム", "さくら特養", "むろと特養")
GOOD = {
    "facility_name": "ひまわり荘",
    "municipality": "39201",
    "topic": "partner_search",
    "message": "夜間に相談できる医療機関を探しています",
    "person": "山田",
    "contact": "088-000-0000",
}


@pytest.fixture()
def app_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KYORYOKU_INTAKE_PUBLIC", "1")


def _csrf(client: TestClient, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, r.text
    match = CSRF.search(r.text)
    assert match is not None
    return match.group(1)


def _confirm(client: TestClient, path: str, fields: dict[str, str], **kw: Any) -> Any:
    return client.post(path, data={"csrf_token": _csrf(client, path), **fields}, **kw)


def _send(client: TestClient, path: str, fields: dict[str, str]) -> Any:
    r = _confirm(client, path, fields)
    assert r.status_code == 200, r.text
    return client.post(path + "/send", data={**dict(HIDDEN.findall(r.text)), "action": "send"})


def _requests(client: TestClient, user: str) -> list[dict[str, Any]]:
    login(client, user)
    got: list[dict[str, Any]] = client.get("/api/intake").json()
    client.cookies.clear()
    return got


def test_the_public_page_is_off_unless_switched_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KYORYOKU_INTAKE_PUBLIC")
    assert client.get("/soudan").status_code == 404
    assert client.post("/soudan", data={"topic": "other"}).status_code == 404
    assert client.post("/soudan/send", data=GOOD).status_code == 404


def test_a_public_request_reaches_its_coordinators_and_shows_no_facility(
    app: FastAPI, client: TestClient
) -> None:
    form = client.get("/soudan")
    assert form.status_code == 200 and "高知市" in form.text and "室戸市" in form.text
    assert "<script" not in form.text and 'name="viewport"' in form.text
    cookie = form.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/soudan" in cookie
    confirm = _confirm(client, "/soudan", {**GOOD, "facility_id": "FA1"})
    assert confirm.status_code == 200 and "ひまわり荘" in confirm.text and "高知市" in confirm.text
    r = client.post("/soudan/send", data={**dict(HIDDEN.findall(confirm.text)), "action": "send"})
    assert r.status_code == 303 and r.headers["location"] == "/soudan/done"
    done = client.get("/soudan/done")
    assert done.status_code == 200 and "受け付けました" in done.text
    for page in (form, confirm, done):
        assert not any(name in page.text for name in FACILITY_NAMES)
        assert "R1" not in page.text  # not even the request's number
    (mine,) = _requests(client, "coord_a")
    assert (mine["facility_name"], mine["facility_id"], mine["channel"]) == (
        "ひまわり荘",
        None,  # the posted facility id is ignored
        "public",
    )
    assert _requests(client, "coord_b") == []


@pytest.mark.parametrize(
    "fields, message",
    [
        ({**GOOD, "message": "あ" * 2001}, "2000 文字以内"),
        ({**GOOD, "municipality": "13101"}, "一覧から選んで"),  # not an area of this service
        ({**GOOD, "facility_name": ""}, "施設名を書いて"),
        ({**GOOD, "contact": ""}, "ご担当者と連絡先"),
        ({**GOOD, "message": "a\x07b"}, "使えない文字"),
        ({**GOOD, "topic": "<script>"}, "相談の種類"),
    ],
)
def test_wrong_fields_show_the_form_again_and_store_nothing(
    client: TestClient, fields: dict[str, str], message: str
) -> None:
    for step in ("/soudan", "/soudan/send"):  # the confirmation, and a send past it
        r = client.post(step, data={"csrf_token": _csrf(client, "/soudan"), **fields})
        assert r.status_code == 422 and message in r.text, r.text
        assert "<script>" not in r.text and 'id="intake-form"' in r.text
    assert _requests(client, "pref") == []


def test_oversized_bodies_are_refused_before_reading(client: TestClient) -> None:
    csrf = _csrf(client, "/soudan")
    r = client.post("/soudan", data={"csrf_token": csrf, **GOOD, "message": "あ" * 30_000})
    assert r.status_code == 413
    r = client.post("/soudan/send", content=b"x" * 70_000, headers={"Content-Type": "text/plain"})
    assert r.status_code == 413


def test_forms_without_the_right_token_are_refused_and_counted(
    app: FastAPI, client: TestClient
) -> None:
    assert client.post("/soudan", data=GOOD).status_code == 403
    report = run_plan(app.state.store, "area-a", actor="t")
    with app.state.store.write() as s:
        fa1 = next(
            x for x in issue_links(s, report.run_id, _deadline(), "c") if x.kind == "facility"
        )
    foreign = _csrf(client, fa1.path() + "/soudan")  # signed for a letter's 相談窓口
    assert _post(client, "/soudan/send", foreign).status_code == 403
    csrf = _csrf(client, "/soudan")
    r = client.post(
        "/soudan", data={**GOOD, "csrf_token": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    client.cookies.clear()  # a cross-site form carries no cookie of ours
    assert _post(client, "/soudan/send", csrf).status_code == 403
    for _ in range(7):
        client.post("/soudan", data=GOOD)
    r = client.get("/soudan")  # ten refusals: the address waits
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert _requests(client, "pref") == []


def _post(client: TestClient, path: str, csrf: str) -> Any:
    return client.post(path, data={**GOOD, "csrf_token": csrf, "action": "send"})


def _deadline() -> dt.date:
    return today_jp() + dt.timedelta(days=7)


def test_sends_are_limited_per_address_and_in_all(app: FastAPI, client: TestClient) -> None:
    codes = [_send(client, "/soudan", GOOD).status_code for _ in range(6)]
    assert codes == [303] * 5 + [429]
    assert len(_requests(client, "coord_a")) == 5
    from api.security.public import RateWindow

    app.state.intake_per_address = RateWindow(100, 3600.0)
    app.state.intake_per_hour = RateWindow(1, 3600.0)  # the window of all addresses
    assert _send(client, "/soudan", GOOD).status_code == 303
    r = _send(client, "/soudan", GOOD)
    assert r.status_code == 429 and "一時的に受け付けを止めています" in r.text


def test_a_flood_of_page_views_is_answered_429(client: TestClient) -> None:
    codes = [client.get("/soudan").status_code for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429


def _links(app: FastAPI) -> dict[str, IssuedLink]:
    report = run_plan(app.state.store, "area-a", actor="t")
    with app.state.store.write() as s:
        return {x.recipient_id: x for x in issue_links(s, report.run_id, _deadline(), "c")}


def test_a_facility_asks_through_its_link_and_sees_only_itself(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KYORYOKU_INTAKE_PUBLIC")  # the link's 相談窓口 needs no public page
    links = _links(app)
    assert client.get(links["I1"].path() + "/soudan").status_code == 404  # a request letter
    assert client.get("/r/" + "A" * 43 + "/soudan").status_code == 404
    fa1 = links["FA1"].path() + "/soudan"
    form = client.get(fa1)
    assert form.status_code == 200 and "あおばグループホーム" in form.text
    assert "さくら特養" not in form.text and "municipality" not in form.text
    fields = {
        "topic": "other",
        "message": "協定書のひな形はありますか",
        "pc_name_0": "中央病院",
        "pc_change_0": "add",
        "pc_admit_0": "on",
    }
    r = _send(client, fa1, fields)
    assert r.status_code == 303 and r.headers["location"] == fa1 + "/done"
    assert client.get(r.headers["location"]).status_code == 200
    (req,) = _requests(client, "coord_a")
    assert (req["facility_id"], req["letter_id"], req["channel"]) == (
        "FA1",
        links["FA1"].letter_id,
        "link",
    )
    assert req["partner_changes"] == [
        {
            "name": "中央病院",
            "change": "add",
            "change_ja": "追加",
            "covers": 4,
            "institution_id": None,
        }
    ]


def test_the_coordinator_works_the_queue_and_confirms_into_the_filing(
    app: FastAPI, client: TestClient
) -> None:
    links = _links(app)
    fa1 = links["FA1"].path() + "/soudan"
    _send(client, fa1, {"topic": "partners", "pc_name_0": "中央病院", "pc_change_0": "add"})
    (req,) = _requests(client, "coord_a")
    rid = req["id"]
    login(client, "coord_b")
    assert client.get(f"/intake/{rid}").status_code == 404
    assert client.get(f"/api/intake/{rid}").status_code == 404
    h = login(client, "viewer_a")
    assert client.get(f"/intake/{rid}").status_code == 200
    assert client.post(f"/api/intake/{rid}", json={"version": 1}, headers=h).status_code == 403
    h = login(client, "coord_a")
    page = client.get(f"/intake/{rid}")
    assert page.status_code == 200 and 'value="I2"' in page.text  # 中央病院 is I2
    assert 'id="filing-preview"' in page.text
    r = client.post(
        f"/intake/{rid}/update",
        data={
            "version": "1",
            "status": "in_progress",
            "assignee": "coord_a",
            "note": "電話予定",
            "due_date": "2026-12-24",
            "csrf_token": h["X-CSRF-Token"],
        },
    )
    assert r.status_code == 303
    stale = client.post(f"/api/intake/{rid}", json={"version": 1, "status": "done"}, headers=h)
    assert stale.status_code == 409
    r = client.post(
        f"/intake/{rid}/confirm",
        data={
            "version": "2",
            "c_name_0": "中央病院",
            "c_change_0": "add",
            "c_iid_0": "I2",
            "c_admit_0": "on",
            "c_care_0": "on",
            "csrf_token": h["X-CSRF-Token"],
        },
    )
    assert r.status_code == 303, r.text
    got = client.get(f"/api/intake/{rid}").json()
    assert (got["status"], got["assignee"], got["due_date"], got["filing_year"]) == (
        "in_progress",
        "coord_a",
        "2026-12-24",
        got["filing_year"],
    )
    assert got["confirmed_by"] == "coord_a" and [n["text"] for n in got["notes"]][0] == "電話予定"
    with app.state.store.read() as s:
        filing = max(s.query(FilingRow).filter_by(facility_id="FA1"), key=lambda f: f.filing_year)
        partners = [(p.institution_id, p.covers) for p in filing.partners]
        assert filing.source.startswith(f"相談 R{rid} (回答リンクの相談窓口、確認: coord_a)")
    assert partners == [("I2", 6)]
    r = client.post(f"/api/intake/{rid}", json={"version": 3, "status": "done"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "done"
    queue = client.get("/intake?status=done")
    assert f'data-request="{rid}"' in queue.text
