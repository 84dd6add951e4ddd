"""A run's report ZIP as a job (issue 26, item 3): built once and kept, followed by polling while
it is built, served at once afterwards; the 200 ZIP every client got before stays the answer of
a client that does not ask for JSON.

What keeps a ZIP: the run as stored (``report_fingerprint``) — agreeing with one of its proposals
does not rebuild it (the reports read statuses as at the run's end), an import does."""

from __future__ import annotations

import threading
import time
import zipfile
from io import BytesIO

import pytest
from api_support import csrf_of, login, page_login

from matcher.model import Institution
from matcher.store.imports import import_simple
from matcher.store.planning import run_plan
from matcher.store.proposals import list_proposals
from matcher.usecases import reports as usecase

FOLLOW_REDIRECTS = False
JSON = {"Accept": "application/json"}


@pytest.fixture()
def app(app):
    """The conftest app with one run planned in area A."""
    app.state.run_a = run_plan(app.state.store, "area-a", actor="coord_a")
    return app


@pytest.fixture()
def builds(monkeypatch):
    """How many times reports were written (and a gate that holds a build while closed)."""
    calls: list[int] = []
    gate = threading.Event()
    gate.set()
    real = usecase.write_reports

    def counted(*args, **kwargs):
        calls.append(1)
        assert gate.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(usecase, "write_reports", counted)
    return calls, gate


def url(app, **query) -> str:
    q = "&".join(f"{k}={v}" for k, v in {"date": "2026-04-01", **query}.items())
    return f"/api/runs/{app.state.run_a.run_id}/reports?{q}"


def poll_done(client, poll: str) -> dict:
    for _ in range(300):
        job = client.get(poll).json()
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("the report job did not end")


def test_a_json_client_polls_the_job_then_gets_the_kept_zip(app, client, builds):
    calls, gate = builds
    login(client, "coord_a")
    gate.clear()  # the build waits: the answer is the job
    r = client.get(url(app), headers=JSON)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["mode"] == "report" and job["state"] == "running"
    assert job["run_id"] == app.state.run_a.run_id
    assert job["poll"] == f"/api/runs/jobs/{job['job_id']}"
    assert r.headers["location"].startswith(f"/api/runs/{app.state.run_a.run_id}/reports?")
    # the same reports asked again while building: the same job, not a second build
    again = client.get(url(app), headers=JSON)
    assert again.status_code == 202 and again.json()["job_id"] == job["job_id"]
    gate.set()
    assert poll_done(client, job["poll"])["state"] == "done"
    first = client.get(url(app), headers=JSON)
    assert first.status_code == 200 and first.headers["content-type"] == "application/zip"
    assert f"run-{app.state.run_a.run_id}-reports.zip" in first.headers["content-disposition"]
    assert first.headers["x-report-input-exact"] == "true"
    assert "index.html" in zipfile.ZipFile(BytesIO(first.content)).namelist()
    # kept: served again without building, to anyone who may see the run
    login(client, "pref")
    second = client.get(url(app))
    assert second.status_code == 200 and second.content == first.content
    assert calls == [1]


def test_a_client_that_wants_the_zip_waits_for_it(app, client, builds):
    calls, _ = builds
    login(client, "viewer_a")
    for query in ({}, {"wait": "true"}):
        r = client.get(url(app, **query))  # no Accept: JSON — the ZIP, as before
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert calls == [1]
    # other options are other ZIPs
    assert client.get(url(app, date="2026-05-01")).status_code == 200
    assert calls == [1, 1]


def test_wait_false_answers_the_job_even_to_a_zip_client(app, client, builds):
    _, gate = builds
    login(client, "coord_a")
    gate.clear()
    r = client.get(url(app, wait="false"))
    assert r.status_code == 202 and r.json()["state"] == "running"
    gate.set()
    poll_done(client, r.json()["poll"])
    assert client.get(url(app, wait="false")).status_code == 200  # built: at once


def test_an_agreement_keeps_the_zip_an_import_rebuilds_it(app, client, builds):
    calls, _ = builds
    h = login(client, "coord_a")
    first = client.get(url(app))
    assert first.status_code == 200
    with app.state.store.read() as s:
        p = list_proposals(s, "area-a", status="proposed")[0]
    for status, version in (("contacted", p.version), ("agreed", p.version + 1)):
        r = client.post(
            f"/api/proposals/{p.id}/status",
            json={"status": status, "version": version},
            headers=h,
        )
        assert r.status_code == 200, r.text
    assert client.get(url(app)).content == first.content and calls == [1]
    with app.state.store.write() as s:  # the registry changes: the run is read on new data
        import_simple(
            s, [], [Institution("I9", "新病院", "hospital", 33.6, 133.6, 7, 2, "392014", "")], 2025
        )
    assert client.get(url(app)).status_code == 200 and calls == [1, 1]


def test_reports_of_another_areas_run_stay_404(app, client):
    login(client, "coord_b")
    r = client.get(url(app), headers=JSON)
    assert r.status_code == 404


def test_the_page_shows_progress_then_downloads(app, client, builds):
    _, gate = builds
    page_login(client, "coord_a")
    run_id = app.state.run_a.run_id
    gate.clear()
    page = client.get(f"/runs/{run_id}/reports")
    assert page.status_code == 200
    assert 'id="run-progress"' in page.text and "data-done=" in page.text
    assert "帳票を作成中" in page.text
    job_id = int(page.text.split('data-poll="/api/runs/jobs/')[1].split('"')[0])
    gate.set()
    poll_done(client, f"/api/runs/jobs/{job_id}")
    again = client.get(f"/runs/{run_id}/reports")  # built: straight to the download
    assert again.status_code == 303
    assert again.headers["location"].startswith(f"/api/runs/{run_id}/reports?pdf=false")
    got = client.get(again.headers["location"])
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    # the run's page links to this page, not to a download that keeps the browser waiting
    html = client.get(f"/runs/{run_id}").text
    assert f'href="/runs/{run_id}/reports"' in html and csrf_of(html) is not None


def test_a_failed_build_says_why_and_keeps_nothing(app, client, monkeypatch):
    from matcher.reports import ReportError

    def broken(*args, **kwargs):
        raise ReportError("PDF を作成できませんでした (テスト)")

    monkeypatch.setattr(usecase, "write_reports", broken)
    login(client, "coord_a")
    r = client.get(url(app))
    assert r.status_code == 422 and r.json()["detail"] == "PDF を作成できませんでした (テスト)"
    monkeypatch.undo()
    assert client.get(url(app)).status_code == 200  # nothing kept: built now
