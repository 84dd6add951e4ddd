"""条件付き依頼 are shown where people see proposals, on SQLite and PostgreSQL: the proposals list
page, one proposal's page, the JSON API (``backup_for``), the area's CSV export, and the printed
request letter of the stored run (a mark and the sentence saying when it applies) and the
facility's notice (the backup institution marked, in its table and its 回答票) — and no
longer once the request it backs is declined (then it is an ordinary request); the run preview
says what a backup would cover (its rows are rolled back)."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from api_support import PASSWORD, csrf_of, login, page_login, run_form
from fastapi.testclient import TestClient
from test_store_round_strategy import backups, props, seed

from api.main import create_app
from api.users import add_user
from matcher.params import MatchParams
from matcher.reports.pages import (
    BACKUP_SENTENCE_JA,
    facility_context,
    institution_context,
    render_letter,
)
from matcher.reports.tables import ReportData
from matcher.store import round_strategy as round_strategy_module
from matcher.store.models import ProposalRow
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.report_input import run_input
from matcher.vocab import BACKUP_LABEL_JA


def seeded(store) -> None:
    """The seeded region (``seed``) and a coordinator of the whole prefecture."""
    seed(store)
    with store.write() as s:
        add_user(s, "pref", PASSWORD, "coordinator", ["39"], "pref", actor="test")


@pytest.fixture()
def planned(store):
    """``seeded`` and a run with one backup: (run id, backup, the request it backs)."""
    seeded(store)
    report = run_plan(store, "39", MatchParams(round_strategy="reserve+backups"), actor="t")
    ((backup, primary),) = backups(store).items()
    return report.run_id, backup, primary


@pytest.fixture()
def web(store, db_url, tmp_path):
    app = create_app(db_url, secret_key="test-secret", tiles_url="", report_dir=tmp_path / "r")
    with TestClient(app, follow_redirects=False) as c:
        yield c
    app.state.jobs.join_all()
    app.state.store.dispose()


def test_list_page_api_and_csv_mark_the_backup(store, planned, web):
    run_id, backup, primary = planned
    login(web, "pref")
    listed = {p["id"]: p for p in web.get("/api/proposals").json()}
    assert listed[backup]["backup_for"] == primary
    assert listed[primary]["backup_for"] is None
    assert web.get(f"/api/proposals/{backup}").json()["backup_for"] == primary
    page = web.get("/proposals").text
    assert f'data-proposal="{backup}"' in page
    assert f'data-backup-for="{primary}"' in page and BACKUP_LABEL_JA in page
    assert page.count("data-backup-for=") == 2  # the row and its note, for the backup only
    one = web.get(f"/proposals/{backup}").text
    assert 'id="proposal-backup"' in one and f"提案 {primary}" in one
    # the facility's page marks the backup among its proposals, the request it backs not
    facility = listed[backup]["facility_id"]
    mine = web.get(f"/facilities/{facility}").text
    proposals = re.search(r'<table id="proposals".*?</table>', mine, re.S)
    assert proposals is not None
    marked = re.findall(
        r'<tr data-proposal="(\d+)"[^>]*>(?:(?!</tr>).)*data-backup-for="(\d+)"',
        proposals.group(0),
        re.S,
    )
    assert marked == [(str(backup), str(primary))]
    body = web.get("/api/exports/proposals.csv", params={"area": "39"}).content.decode("utf-8-sig")
    rows = {int(r["proposal_id"]): r for r in csv.DictReader(io.StringIO(body))}
    assert rows[backup]["backup_for"] == str(primary) and rows[primary]["backup_for"] == ""
    assert f"提案 {primary}" in rows[backup][BACKUP_LABEL_JA]
    # the request declined: the backup is an ordinary request, shown as one
    with store.write() as s:
        p = s.get(ProposalRow, primary)
        set_status(s, primary, "declined", p.version, "t")
    listed = {p["id"]: p for p in web.get("/api/proposals").json()}
    assert listed[backup]["backup_for"] is None
    assert "data-backup-for=" not in web.get("/proposals").text
    assert "data-backup-for=" not in web.get(f"/facilities/{facility}").text


def _letter(store, run_id: int, institution_id: str) -> str:
    with store.read() as s:
        got = run_input(s, run_id)
    data = ReportData(got.instance, got.result)
    return render_letter(institution_context(data, data.institution[institution_id]))


def test_the_stored_runs_request_letter_marks_the_backup(store, planned):
    run_id, backup, primary = planned
    rows = props(store)
    asked = _letter(store, run_id, rows[backup].institution_id)
    assert f"【{BACKUP_LABEL_JA}】" in asked and BACKUP_SENTENCE_JA in asked
    # the 回答票 printed after the letter marks the same row
    form = asked[asked.index("お願いに対する回答票") :]
    assert f"【{BACKUP_LABEL_JA}】" in form
    first = _letter(store, run_id, rows[primary].institution_id)
    assert BACKUP_LABEL_JA not in first and BACKUP_SENTENCE_JA not in first


def test_the_stored_runs_facility_notice_marks_the_backup_institution(store, planned):
    """The facility's notice lists the backup among its proposed institutions with the mark
    (and its 回答票 row too); the institution of the request it backs carries none."""
    run_id, backup, primary = planned
    rows = props(store)
    with store.read() as s:
        got = run_input(s, run_id)
    data = ReportData(got.instance, got.result)
    facility = data.facility[rows[backup].facility_id]
    notice = render_letter(facility_context(data, facility))
    names = {p: data.institution[rows[p].institution_id].name for p in (backup, primary)}
    table, form = notice.split("回答票", 1)
    for part in (table, form):
        row_of = {
            p: re.search(
                r"<td[^>]*>" + re.escape(html.escape(n)) + r"(?:(?!</tr>).)*</tr>", part, re.S
            )
            for p, n in names.items()
        }
        assert row_of[backup] is not None and row_of[primary] is not None, names
        assert BACKUP_LABEL_JA in row_of[backup].group(0)
        assert BACKUP_LABEL_JA not in row_of[primary].group(0)


def test_the_run_preview_says_what_a_backup_would_cover(store, web, monkeypatch):
    # only the request and its backup (the other held-back requests wait: ``RESERVE_JOINS`` off)
    monkeypatch.setattr(round_strategy_module, "RESERVE_JOINS", False)
    seeded(store)
    page_login(web, "pref")
    token = csrf_of(web.get("/runs/new", params={"area": "39"}).text)
    data = run_form(token, area_code="39", round_strategy="reserve+backups")
    page = web.post("/runs/preview", data=data)
    assert page.status_code == 200, page.text[-2000:]
    table = re.search(r'<table id="preview-changes".*?</table>', page.text, re.S)
    assert table is not None
    rows = [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td.*?</td>", r, re.S)
        ]
        for r in re.findall(r'<tr data-change="new">.*?</tr>', table.group(0), re.S)
    ]
    backup = [r for r in rows if BACKUP_LABEL_JA in r[5]]
    assert len(backup) == 1 and len(rows) == 2
    (primary,) = [r for r in rows if r not in backup]
    assert backup[0][3] == primary[3] != "なし"  # it covers what the request it backs covers
    assert backup[0][4] != "0.0 km"
    assert not props(store)  # a preview stores nothing
