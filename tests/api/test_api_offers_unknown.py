"""Issue 12: "offers unknown" is loud on every view of a run — the run page, the dashboard, the
reports of the stored run and the store export — derived from what is stored with the run."""

from __future__ import annotations

import io

import openpyxl
import pytest
from api_support import make_app
from fastapi.testclient import TestClient
from sqlalchemy import update
from test_api_workspace import page_login

from matcher.result import OFFERS_UNKNOWN_WARNING_JA, warnings_of_counts
from matcher.store.models import DeclarationRow, InstitutionRow, RunRow
from matcher.store.planning import run_plan
from matcher.store.report_input import run_input

WARNING_HEAD = OFFERS_UNKNOWN_WARNING_JA.split("{n}")[0]


@pytest.fixture()
def client(tmp_path):
    app = make_app(tmp_path)
    store = app.state.store
    with store.write() as s:  # 室戸病院 without a 名簿 or a declaration of what it offers
        s.execute(
            update(InstitutionRow).where(InstitutionRow.institution_id == "I3").values(offers=0)
        )
        s.execute(
            update(DeclarationRow).where(DeclarationRow.institution_id == "I3").values(offers=None)
        )
    with TestClient(app, follow_redirects=False) as c:
        yield c
    app.state.jobs.join_all()
    store.dispose()


def test_offers_unknown_warning_on_every_view_of_a_stored_run(client) -> None:
    store = client.app.state.store
    report = run_plan(store, "area-b", actor="test")
    assert report.result.warnings_ja  # FB1 (特養) has only I3 in range
    with store.read() as s:
        run = s.get(RunRow, report.run_id)
        assert run is not None
        assert warnings_of_counts(run.counts) == report.result.warnings_ja
        # reports of the stored run (overview, index) read the rebuilt result
        assert run_input(s, report.run_id).result.warnings_ja == report.result.warnings_ja
    page_login(client, "coord_b")
    html = client.get(f"/runs/{report.run_id}").text
    assert 'id="run-warnings"' in html and WARNING_HEAD in html
    dash = client.get("/").text
    assert f'id="latest-warnings-{report.run_id}"' in dash and WARNING_HEAD in dash
    wb = openpyxl.load_workbook(
        io.BytesIO(client.get("/api/exports/state.xlsx", params={"area": "area-b"}).content)
    )
    summary = [tuple(r) for r in wb["概要"].iter_rows(values_only=True)]
    assert summary[1][0] == "警告" and str(summary[1][1]).startswith(WARNING_HEAD)
    csv = client.get("/api/exports/summary.csv", params={"area": "area-b"}).text
    assert WARNING_HEAD in csv


def test_no_warning_when_offers_are_known(tmp_path) -> None:
    app = make_app(tmp_path)
    try:
        report = run_plan(app.state.store, "area-b", actor="test")
        assert report.result.warnings_ja == ()
        with TestClient(app, follow_redirects=False) as c:
            page_login(c, "coord_b")
            assert WARNING_HEAD not in c.get(f"/runs/{report.run_id}").text
            assert "latest-warnings" not in c.get("/").text
    finally:
        app.state.store.dispose()
