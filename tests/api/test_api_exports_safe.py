"""Issue 12: the web's exports (CSV and Excel) neutralise formula-like text and drop control
characters, as every other spreadsheet the project writes."""

from __future__ import annotations

import io

import openpyxl
from api_support import login, make_app
from fastapi.testclient import TestClient
from sqlalchemy import update

from matcher.store.models import FacilityRow

EVIL = '=HYPERLINK("http://evil.example","x")\x07'


def test_exports_never_evaluate_a_facility_name(tmp_path) -> None:
    app = make_app(tmp_path)
    with app.state.store.write() as s:
        s.execute(update(FacilityRow).where(FacilityRow.facility_id == "FA1").values(name=EVIL))
    try:
        with TestClient(app) as c:
            login(c, "pref")
            csv = c.get("/api/exports/facilities.csv", params={"area": "area-a"})
            assert csv.status_code == 200
            assert "\"'=HYPERLINK(" in csv.text and "\x07" not in csv.text
            r = c.get("/api/exports/state.xlsx", params={"area": "area-a"})
            ws = openpyxl.load_workbook(io.BytesIO(r.content))["施設"]
            cells = [c for row in ws.iter_rows() for c in row if "HYPERLINK" in str(c.value)]
            assert [(x.value, x.data_type) for x in cells] == [("'" + EVIL[:-1], "s")]
    finally:
        app.state.store.dispose()
