"""GET /api/runs/{id}/reports: a stored run's reports as one ZIP, scoped like the run itself."""

from __future__ import annotations

import io
import zipfile

import pytest
from api_support import login
from openpyxl import load_workbook

from matcher.store.planning import run_plan


@pytest.fixture()
def app(app):
    """The conftest app with one run planned in each area."""
    app.state.run_a = run_plan(app.state.store, "area-a", actor="coord_a")
    app.state.run_b = run_plan(app.state.store, "area-b", actor="coord_b")
    return app


def workbook_pairs(data: bytes) -> set[tuple[str, str]]:
    wb = load_workbook(io.BytesIO(data), read_only=True)
    pairs = set()
    for name in wb.sheetnames[6:]:  # one sheet per municipality after the fixed ones
        rows = list(wb[name].iter_rows(values_only=True))
        cols = [k for k, h in enumerate(rows[0]) if str(h).endswith("医療機関ID")]
        pairs |= {(row[0], row[k]) for row in rows[1:] for k in cols if row[k]}
    wb.close()
    return pairs


@pytest.mark.parametrize("user", ["coord_a", "viewer_a", "pref"])
def test_reports_zip_holds_the_runs_proposals(app, client, user):
    login(client, user)
    run = app.state.run_a
    r = client.get(f"/api/runs/{run.run_id}/reports", params={"date": "2026-04-01"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert f"run-{run.run_id}-reports.zip" in r.headers["content-disposition"]
    assert r.headers["x-report-input-exact"] == "true"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(z.namelist())
    assert {
        "index.html",
        "report.xlsx",
        "overview.html",
        "institutions.html",
        "facilities.html",
        "csv/proposals.csv",
        "chart_status.png",
    } <= names
    assert not any(n.endswith(".pdf") for n in names)  # PDFs only on request
    want = {(p.facility_id, p.institution_id) for p in run.result.proposals}
    assert want and workbook_pairs(z.read("report.xlsx")) == want
    assert "あと 364 日" in z.read("overview.html").decode("utf-8")
    notice = z.read("facilities.html").decode("utf-8")
    assert "あおばグループホーム" in notice and "むろと特養" not in notice  # area B stays out
    assert z.read("csv/proposals.csv").startswith(b"\xef\xbb\xbf")


def test_reports_of_another_areas_run_is_404(app, client):
    login(client, "coord_a")
    r = client.get(f"/api/runs/{app.state.run_b.run_id}/reports")
    assert r.status_code == 404
    assert r.json()["detail"] == f"計算 {app.state.run_b.run_id} は見つかりません"
    assert client.get("/api/runs/999/reports").status_code == 404


def test_reports_need_a_login(app, client):
    r = client.get(f"/api/runs/{app.state.run_a.run_id}/reports")
    assert r.status_code == 401 and r.json()["detail"] == "ログインしてください"


def test_reports_bad_query_is_422(app, client):
    login(client, "coord_a")
    r = client.get(f"/api/runs/{app.state.run_a.run_id}/reports", params={"date": "2026/04/01"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "date"
    for bad in ("0", "1700000000", "2026-02-30", "2026-4-1"):  # schemathesis: date=0 was a 200
        r = client.get(f"/api/runs/{app.state.run_a.run_id}/reports", params={"date": bad})
        assert r.status_code == 422, bad
        detail = r.json()["detail"][0]
        assert detail["loc"][-1] == "date"
        if bad != "2026-02-30":  # a real-looking day that does not exist: pydantic says so
            assert "YYYY-MM-DD の形で指定してください" in detail["msg"]


def test_reports_with_pdf_on_request(app, client):
    from reports_case import pdf_tools_or_skip

    pdf_tools_or_skip()
    login(client, "viewer_a")
    r = client.get(f"/api/runs/{app.state.run_a.run_id}/reports", params={"pdf": "true"})
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    for name in ("overview.pdf", "institutions.pdf", "facilities.pdf"):
        assert z.read(name).startswith(b"%PDF"), name
