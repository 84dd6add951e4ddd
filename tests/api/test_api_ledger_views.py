"""Every view shows 使用/残り from the one capacity ledger (issue 21): after a prefecture run, an
area run over the same facilities and a few decisions, the institution list and detail of the
API, the facility page's candidates, the institution print page and the export all say what
``store.state.institution_states`` says — a second way of counting would disagree here."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
from api_support import login, make_app, page_login
from fastapi.testclient import TestClient
from sqlalchemy import select

from matcher.store.imports import Declaration, import_declarations
from matcher.store.models import InstitutionRow
from matcher.store.state import institution_states
from matcher.wareki import today as today_jp


def test_every_view_reads_the_ledger(tmp_path):
    app = make_app(tmp_path, run_wait=30.0)
    store = app.state.store
    with store.write() as s:  # small capacities, so that the ledger matters
        rows = list(s.scalars(select(InstitutionRow).order_by(InstitutionRow.institution_id)))
        import_declarations(
            s,
            [
                Declaration(r.institution_id, dt.date(2025, 4, 1), 1 + k % 2)
                for k, r in enumerate(rows)
            ],
        )
    with TestClient(app) as c:
        h = login(c, "pref")
        for area, extra in (("39", {}), ("area-a", {"replace_other_areas": True})):
            r = c.post("/api/runs", json={"area_code": area, **extra}, headers=h)
            assert r.status_code in (201, 202), r.text
        app.state.jobs.join_all()
        live = c.get("/api/proposals", headers=h).json()
        items = live["items"] if isinstance(live, dict) else live
        first = next(p for p in items if p["status"] == "proposed")
        r = c.post(
            f"/api/proposals/{first['id']}/status",
            json={"status": "agreed", "version": first["version"]},
            headers=h,
        )
        assert r.status_code == 200, r.text
        with store.read() as s:
            rows = list(s.scalars(select(InstitutionRow)))
            truth = {
                i: (st.used, st.remaining)
                for i, st in institution_states(s, rows, today_jp()).items()
            }
        listed = c.get("/api/institutions", headers=h).json()
        listed = listed["items"] if isinstance(listed, dict) else listed
        assert listed
        for inst in listed:
            iid = inst["institution_id"]
            assert (inst["used_capacity"], inst["remaining_capacity"]) == truth[iid], iid
            detail = c.get(f"/api/institutions/{iid}", headers=h).json()
            assert (detail["used_capacity"], detail["remaining_capacity"]) == truth[iid], iid
        for fid in ("FA1", "FA2", "FB1"):
            page = c.get(f"/api/facilities/{fid}", headers=h).json()
            for cand in page.get("candidates", []):
                assert cand["remaining_capacity"] == truth[cand["institution_id"]][1], (fid, cand)
        export = c.get("/api/exports/state.xlsx?area=39", headers=h)
        assert export.status_code == 200
        sheets = pd.read_excel(io.BytesIO(export.content), sheet_name=None, dtype=str)
        inst_sheet = next(df for df in sheets.values() if "remaining" in df.columns)
        for _, row in inst_sheet.iterrows():
            used, left = truth[row["institution_id"]]
            assert int(row["used"]) == used
            assert (row["remaining"] if isinstance(row["remaining"], str) else "") == (
                "" if left is None else str(left)
            )
    with TestClient(app, follow_redirects=False) as c:
        page_login(c, "pref")
        for iid, (used, left) in truth.items():
            text = c.get(f"/institutions/{iid}/print").text
            if left is not None:
                assert f"使用 {used}" in text and f"残り {left}" in text, iid
    store.dispose()
