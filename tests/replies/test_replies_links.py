"""The public reply pages from outside, and the coordinator's side of them.

Hostile: guessed, malformed, expired, revoked and re-issued tokens; a token used for another
letter's rows; missing or foreign CSRF tokens and cross-site posts; floods and guessing (429);
oversized bodies; a locked letter. Friendly: form → confirmation → sent → decision, seen by
the coordinator; tokens neither in the access log nor in the audit; issue → ZIP with the forms
and links; returned Excel forms through the API and the page.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import zipfile
from typing import Any

import pytest
from api_support import login
from fastapi import FastAPI
from fastapi.testclient import TestClient

from matcher.reports.replyform import form_workbook, read_form
from matcher.store.db import Store
from matcher.store.models import AuditRow, ProposalRow
from matcher.store.planning import run_plan
from matcher.store.replies import IssuedLink, issue_links, letter_view, reissue_link, set_locked
from matcher.store.reply_models import ReplyTokenRow
from matcher.wareki import today as today_jp

FOLLOW_REDIRECTS = False
DEADLINE = today_jp() + dt.timedelta(days=10)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def _links(app: FastAPI) -> dict[str, IssuedLink]:
    """Area A planned and its letters' links, by recipient id (FA1, FA2, I1, I2)."""
    report = run_plan(app.state.store, "area-a", actor="test")
    with app.state.store.write() as s:
        links = issue_links(s, report.run_id, DEADLINE, "coord_a")
    return {x.recipient_id: x for x in links}


def _status(app: FastAPI, pid: int) -> str:
    store: Store = app.state.store
    with store.read() as s:
        p = s.get(ProposalRow, pid)
        assert p is not None
        return p.status


def _row_of(app: FastAPI, link: IssuedLink) -> int:
    with app.state.store.read() as s:
        return letter_view(s, link.letter_id).rows[0].proposal_id


def _form(client: TestClient, link: IssuedLink) -> str:
    r = client.get(link.path())
    assert r.status_code == 200, r.text
    match = CSRF.search(r.text)
    assert match is not None
    return match.group(1)


def _confirm(
    client: TestClient, link: IssuedLink, fields: dict[str, str], csrf: str | None = None
) -> Any:
    csrf = csrf if csrf is not None else _form(client, link)
    return client.post(link.path(), data={"csrf_token": csrf, **fields})


def _send(client: TestClient, link: IssuedLink, fields: dict[str, str]) -> Any:
    r = _confirm(client, link, fields)
    assert r.status_code == 200, r.text
    hidden = dict(HIDDEN.findall(r.text))
    return client.post(link.path() + "/send", data={**hidden, "action": "send"})


def test_link_answer_becomes_a_decision_the_coordinator_sees(
    app: FastAPI,
    client: TestClient,
) -> None:
    links = _links(app)
    i1 = links["I1"]
    pid = _row_of(app, i1)
    page = client.get(i1.path())
    assert "みどりクリニック" in page.text and "あおばグループホーム" in page.text
    assert "さくら特養" not in page.text  # another letter's row (I2's)
    r = _confirm(client, i1, {f"a_{pid}": "accept", f"from_{pid}": "2026-04-01"})
    assert r.status_code == 200 and "この内容で送信する" in r.text and "受入可" in r.text
    assert _status(app, pid) == "contacted"  # as issuing left it: confirmation first
    r = _send(client, i1, {f"a_{pid}": "accept", f"from_{pid}": "2026-04-01"})
    assert r.status_code == 303 and r.headers["location"] == i1.path() + "/done"
    done = client.get(r.headers["location"])
    assert done.status_code == 200 and "ご回答を受け付けました" in done.text
    assert _status(app, pid) == "agreed"
    # reopened: the form shows the answer, to correct until the letter is locked
    again = client.get(i1.path())
    assert 'value="accept" checked' in again.text
    login(client, "coord_a")
    page = client.get(f"/replies/letters/{i1.letter_id}")
    assert page.status_code == 200
    assert 'data-status="agreed"' in page.text and "回答リンク" in page.text


@pytest.mark.parametrize(
    "path", ["/r/" + "A" * 43, "/r/short", "/r/" + "A" * 43 + "/done", "/r/%00%2F..%2F"]
)
def test_guessed_tokens_show_nothing(app: FastAPI, client: TestClient, path: str) -> None:
    _links(app)
    r = client.get(path)
    assert r.status_code == 404
    assert "みどりクリニック" not in r.text and "あおば" not in r.text


def test_expired_revoked_and_reissued_tokens_are_refused(app: FastAPI, client: TestClient) -> None:
    links = _links(app)
    i1, i2, fa1 = links["I1"], links["I2"], links["FA1"]
    with app.state.store.write() as s:
        row = s.query(ReplyTokenRow).filter(ReplyTokenRow.letter_id == i1.letter_id).one()
        row.expires_at = dt.datetime(2020, 1, 1)
        new = reissue_link(s, i2.letter_id, "coord_a")
    r = client.get(i1.path())
    assert r.status_code == 410 and "回答期限を過ぎた" in r.text
    r = client.get(i2.path())  # the old link of a re-issued letter
    assert r.status_code == 410 and "使えなくなりました" in r.text
    assert client.get(new.path()).status_code == 200
    csrf = _form(client, fa1)
    login(client, "coord_a")
    assert (
        client.post(
            f"/replies/letters/{fa1.letter_id}/revoke", headers={"X-CSRF-Token": _csrf(client)}
        ).status_code
        == 303
    )
    pid = _row_of(app, fa1)
    r = client.post(fa1.path(), data={"csrf_token": csrf, f"a_{pid}": "decline"})
    assert r.status_code == 410
    assert _status(app, pid) == "contacted"  # as issuing left it


def _csrf(client: TestClient) -> str:
    token: str = client.get("/api/session").json()["csrf_token"]
    return token


def test_a_token_never_reaches_another_letters_rows(app: FastAPI, client: TestClient) -> None:
    links = _links(app)
    i1, i2 = links["I1"], links["I2"]
    other = _row_of(app, i2)
    mine = _row_of(app, i1)
    r = _confirm(client, i1, {f"a_{mine}": "accept", f"a_{other}": "decline"})
    assert r.status_code == 422 and "この回答票にない行" in r.text
    r = client.post(
        i1.path() + "/send", data={"csrf_token": _form(client, i1), f"a_{other}": "decline"}
    )
    assert r.status_code == 422
    assert (_status(app, mine), _status(app, other)) == ("contacted", "contacted")


def test_forms_without_the_right_csrf_token_are_refused(app: FastAPI, client: TestClient) -> None:
    links = _links(app)
    i1, i2 = links["I1"], links["I2"]
    pid = _row_of(app, i1)
    assert _confirm(client, i1, {f"a_{pid}": "accept"}, csrf="").status_code == 403
    foreign = _form(client, i2)  # signed for I2's letter
    assert _confirm(client, i1, {f"a_{pid}": "accept"}, csrf=foreign).status_code == 403
    csrf = _form(client, i1)
    client.cookies.clear()  # a cross-site form carries no cookie of ours
    assert _confirm(client, i1, {f"a_{pid}": "accept"}, csrf=csrf).status_code == 403
    csrf = _form(client, i1)
    r = client.post(
        i1.path(),
        data={"csrf_token": csrf, f"a_{pid}": "accept"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert _status(app, pid) == "contacted"  # as issuing left it


def test_a_flood_is_answered_429(app: FastAPI, client: TestClient) -> None:
    i1 = _links(app)["I1"]
    codes = [client.get(i1.path()).status_code for _ in range(61)]
    assert codes[:60] == [200] * 60
    assert codes[60] == 429
    r = client.get(i1.path())
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "一時的に受け付けを止めています" in r.text


def test_guessing_locks_the_address(app: FastAPI, client: TestClient) -> None:
    i1 = _links(app)["I1"]
    for k in range(10):
        assert client.get(f"/r/{'B' * 42}{k}").status_code == 404
    r = client.get(i1.path())
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_oversized_bodies_are_refused_before_reading(app: FastAPI, client: TestClient) -> None:
    i1 = _links(app)["I1"]
    csrf = _form(client, i1)
    r = client.post(i1.path(), data={"csrf_token": csrf, "note": "あ" * 40_000})
    assert r.status_code == 413


def test_a_locked_letter_shows_the_answer_and_takes_no_more(
    app: FastAPI,
    client: TestClient,
) -> None:
    fa1 = _links(app)["FA1"]
    pid = _row_of(app, fa1)
    assert _send(client, fa1, {f"a_{pid}": "conditional", f"reason_{pid}": "夜間が心配"})
    csrf = _form(client, fa1)
    with app.state.store.write() as s:
        set_locked(s, fa1.letter_id, True, "coord_a")
    page = client.get(fa1.path())
    assert page.status_code == 200 and "締め切られました" in page.text and "夜間が心配" in page.text
    r = client.post(fa1.path(), data={"csrf_token": csrf, f"a_{pid}": "decline"})
    assert r.status_code == 409
    assert _status(app, pid) == "contacted"


def test_reply_pages_are_safe_to_show(app: FastAPI, client: TestClient) -> None:
    i1 = _links(app)["I1"]
    r = client.get(i1.path())
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert "<script" not in r.text and "style=" not in r.text
    # same-origin: no Referer (and so no token) leaves for another site; "no-referrer" would
    # make browsers send ``Origin: null`` with the form, which the guard refuses
    assert r.headers["referrer-policy"] == "same-origin"
    assert 'name="viewport"' in r.text and '<html lang="ja">' in r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/r/" in cookie


def test_tokens_stay_out_of_the_access_log_and_the_audit(app: FastAPI, client: TestClient) -> None:
    i1 = _links(app)["I1"]
    pid = _row_of(app, i1)
    _send(client, i1, {f"a_{pid}": "decline"})
    access = logging.getLogger("uvicorn.access")
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", i1.path() + "/send", "1.1", 303),
        None,
    )
    assert all(f.filter(record) for f in access.filters if isinstance(f, logging.Filter))
    assert i1.token not in record.getMessage() and "/r/…/send" in record.getMessage()
    with app.state.store.read() as s:
        audit = [(a.actor, a.action, a.target, str(a.detail)) for a in s.query(AuditRow)]
    assert ("回答リンク", "reply.answer", f"回答票 L{i1.letter_id}") in [a[:3] for a in audit]
    assert not any(i1.token in " ".join(a) for a in audit)


def test_issuing_links_hands_out_the_forms_once(app: FastAPI, client: TestClient) -> None:
    report = run_plan(app.state.store, "area-a", actor="test")
    login(client, "viewer_a")
    r = client.post(
        f"/runs/{report.run_id}/replies/issue",
        data={"deadline": DEADLINE.isoformat(), "csrf_token": _csrf(client)},
    )
    assert r.status_code == 403
    login(client, "coord_b")
    r = client.post(
        f"/runs/{report.run_id}/replies/issue",
        data={"deadline": DEADLINE.isoformat(), "csrf_token": _csrf(client)},
    )
    assert r.status_code == 404
    login(client, "coord_a")
    r = client.post(
        f"/runs/{report.run_id}/replies/issue",
        data={"deadline": DEADLINE.isoformat(), "csrf_token": _csrf(client)},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    listing = list(csv.DictReader(io.StringIO(z.read("links.csv").decode("utf-8-sig"))))
    assert sorted(row["ID"] for row in listing) == ["FA1", "FA2", "I1", "I2"]
    htmls = [n for n in z.namelist() if n.endswith(".html")]
    xlsxs = [n for n in z.namelist() if n.endswith(".xlsx")]
    assert len(htmls) == len(xlsxs) == 4
    url = next(row["回答用アドレス"] for row in listing if row["ID"] == "I1")
    assert url.startswith("http://testserver/r/")
    html = next(z.read(n).decode() for n in htmls if "みどりクリニック" in n)
    assert url in html and "<svg" in html
    form = read_form(z.read(next(n for n in xlsxs if "みどり" in n)), "f.xlsx", app.state.reply_key)
    assert form.kind == "institution" and form.recipient_id == "I1"
    client.cookies.clear()
    assert client.get(url.removeprefix("http://testserver")).status_code == 200
    # issued again: the live links are kept, nothing new is handed out
    login(client, "coord_a")
    r = client.post(
        f"/runs/{report.run_id}/replies/issue",
        data={"deadline": DEADLINE.isoformat(), "csrf_token": _csrf(client)},
    )
    again = zipfile.ZipFile(io.BytesIO(r.content))
    assert again.namelist() == ["links.csv"]
    page = client.get(f"/runs/{report.run_id}/replies")
    assert page.status_code == 200
    assert '<strong data-round="sent">4</strong>' in page.text
    assert '<strong data-round="outstanding">4</strong>' in page.text
    assert len(client.get(f"/api/runs/{report.run_id}/replies").json()) == 4


def test_returned_excel_forms_through_the_api_and_the_page(
    app: FastAPI,
    client: TestClient,
) -> None:
    links = _links(app)
    i2 = links["I2"]
    pid = _row_of(app, i2)
    with app.state.store.read() as s:
        data = form_workbook(letter_view(s, i2.letter_id), app.state.reply_key)
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data))
    wb["回答票"]["G8"] = "不可"
    out = io.BytesIO()
    wb.save(out)
    login(client, "viewer_a")
    files = [("files", ("i2.xlsx", out.getvalue(), "application/octet-stream"))]
    headers = {"X-CSRF-Token": _csrf(client)}
    assert client.post("/api/imports/replies", files=files, headers=headers).status_code == 403
    login(client, "coord_b")  # another area's coordinator: not their letter
    r = client.post("/api/imports/replies", files=files, headers={"X-CSRF-Token": _csrf(client)})
    assert r.status_code == 200 and r.json()["files"][0]["outcome"] == "rejected"
    assert _status(app, pid) == "contacted"  # as issuing left it
    login(client, "coord_a")
    csrf = _csrf(client)
    r = client.post("/api/imports/replies", files=files, headers={"X-CSRF-Token": csrf})
    body = r.json()
    assert r.status_code == 200 and body["counts"]["applied"] == 1
    assert body["files"][0]["items"][0]["outcome"] == "applied"
    assert (body["files"][0]["outcome_ja"], body["files"][0]["items"][0]["outcome_ja"]) == (
        "反映しました",
        "反映しました",
    )
    assert _status(app, pid) == "declined"
    r = client.post("/api/imports/replies", files=files, data={"page": "true", "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"].startswith("/replies?batch=")
    page = client.get(r.headers["location"])
    assert 'data-outcome="duplicate"' in page.text and "i2.xlsx" in page.text


def test_held_answers_are_decided_on_the_page(app: FastAPI, client: TestClient) -> None:
    links = _links(app)
    i1 = links["I1"]
    pid = _row_of(app, i1)
    assert _status(app, pid) == "contacted"  # issuing the letter asked it
    with app.state.store.write() as s:
        p = s.get(ProposalRow, pid)
        p.covers = 1  # re-planned: another set of requirements since the letter
    client.cookies.clear()
    _send(client, i1, {f"a_{pid}": "accept"})
    assert _status(app, pid) == "contacted"
    login(client, "coord_a")
    held = client.get("/api/replies/held").json()
    assert [(h["proposal_id"], h["versions"]["now"]["status"]) for h in held] == [
        (pid, "contacted")
    ]
    page = client.get("/replies")
    assert f'data-item="{held[0]["id"]}"' in page.text
    r = client.post(
        f"/replies/items/{held[0]['id']}/resolve",
        data={"action": "apply", "csrf_token": _csrf(client)},
    )
    assert r.status_code == 303
    assert _status(app, pid) == "agreed"
    assert client.get("/api/replies/held").json() == []
    login(client, "coord_b")
    assert client.get(f"/replies/letters/{i1.letter_id}").status_code == 404
