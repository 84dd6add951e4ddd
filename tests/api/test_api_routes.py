"""JSON API: every route's happy path, bad input (422 naming the field), another area (404),
no login (401), stale version (409), roles and CSRF."""

from __future__ import annotations

import io
import time

import pytest
from api_support import PASSWORD, assert_session_expires, login, make_app
from fastapi.testclient import TestClient


def fields(body: dict) -> list[str]:
    """The field each validation error names (last name in its location, list indexes skipped)."""
    return [next(str(x) for x in reversed(e["loc"]) if isinstance(x, str)) for e in body["detail"]]


def planned(client, headers, area="area-a") -> list[dict]:
    r = client.post("/api/runs", json={"area_code": area}, headers=headers)
    if r.status_code == 202:  # over the 1 s inline wait (a cold process on a loaded machine)
        job = r.json()
        poll = job["poll"]
        for _ in range(600):
            job = client.get(poll).json()
            if job["state"] != "running":
                break
            time.sleep(0.1)
        assert job["state"] == "done" and job["run_id"], job
    else:
        assert r.status_code == 201, r.text
    return client.get("/api/proposals", params={"area": area}).json()


# --- session -----------------------------------------------------------------------------------


def test_login_returns_token_and_cookie(client):
    r = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["role"] == "coordinator" and body["user"]["scope"] == ["39201"]
    assert "kyoryoku_session" in r.cookies
    assert client.get("/api/session").json()["user"]["username"] == "coord_a"


def test_login_wrong_password_is_401(client):
    r = client.post("/api/session", json={"username": "coord_a", "password": "nope-nope"})
    assert r.status_code == 401
    assert "パスワード" in r.json()["detail"]


def test_login_missing_field_is_422_naming_it(client):
    r = client.post("/api/session", json={"username": "coord_a"})
    assert r.status_code == 422
    assert fields(r.json()) == ["password"]


def test_bearer_token_works_without_cookie(app):
    with TestClient(app) as c:
        token = c.post("/api/session", json={"username": "coord_a", "password": PASSWORD}).json()[
            "token"
        ]
    with TestClient(app) as fresh:
        r = fresh.get("/api/areas", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert [a["code"] for a in r.json()] == ["area-a"]
        assert (
            fresh.get("/api/areas", headers={"Authorization": "Bearer forged"}).status_code == 401
        )


def test_session_expires(tmp_path):
    assert_session_expires(tmp_path, 2.1, session_seconds=1)


def test_logout_ends_the_cookie_session(client):
    h = login(client, "coord_a")
    assert client.delete("/api/session", headers=h).status_code == 200
    assert client.get("/api/areas").status_code == 401


def test_password_change_ends_old_sessions(app, client):
    login(client, "coord_a")
    from api.users import add_user

    with app.state.store.write() as s:
        add_user(s, "coord_a", "another-pass-9", "coordinator", ["39201"])
    assert client.get("/api/areas").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/session",
        "/api/areas",
        "/api/areas/area-a",
        "/api/facilities",
        "/api/facilities/FA1",
        "/api/institutions",
        "/api/institutions/I1",
        "/api/proposals",
        "/api/proposals/1",
        "/api/runs",
        "/api/runs/1",
        "/api/runs/jobs/1",
        "/api/status-table",
        "/api/map",
        "/api/audit",
        "/api/exports/facilities.csv?area=area-a",
        "/api/exports/state.xlsx?area=area-a",
    ],
)
def test_no_login_is_401(client, path):
    r = client.get(path)
    assert r.status_code == 401
    assert r.json()["detail"] == "ログインしてください"


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/runs", {"area_code": "area-a"}),
        ("/api/proposals/1/status", {"status": "agreed", "version": 1}),
        ("/api/facilities/FA1/proposals", {"institution_id": "I1"}),
    ],
)
def test_no_login_is_401_for_changes(client, path, body):
    assert client.post(path, json=body).status_code == 401


# --- areas -------------------------------------------------------------------------------------


def test_areas_are_scoped(client):
    login(client, "coord_a")
    assert [a["code"] for a in client.get("/api/areas").json()] == ["area-a"]
    r = client.get("/api/areas/area-a")
    assert r.status_code == 200
    assert r.json()["status_counts"]["partial"] == 1 and r.json()["status_counts"]["unknown"] == 1
    assert client.get("/api/areas/area-b").status_code == 404


def test_prefecture_sees_every_area(client):
    login(client, "pref")
    assert [a["code"] for a in client.get("/api/areas").json()] == ["area-a", "area-b"]


# --- facilities --------------------------------------------------------------------------------


def test_facilities_list_and_filters(client):
    login(client, "coord_a")
    body = client.get("/api/facilities").json()
    assert body["total"] == 2 and {f["facility_id"] for f in body["items"]} == {"FA1", "FA2"}
    only = client.get("/api/facilities", params={"status": "partial"}).json()["items"]
    assert [f["facility_id"] for f in only] == ["FA1"]
    assert only[0]["missing"] == "care"
    tokuyo = client.get("/api/facilities", params={"kind": "tokuyo"}).json()["items"]
    assert [f["facility_id"] for f in tokuyo] == ["FA2"] and tokuyo[0]["unknown"] is True
    by_muni = client.get("/api/facilities", params={"municipality": "392014"}).json()
    assert by_muni["total"] == 2


def test_facilities_bad_filters_are_422_naming_the_field(client):
    login(client, "coord_a")
    r = client.get("/api/facilities", params={"kind": "castle"})
    assert r.status_code == 422 and fields(r.json()) == ["kind"]
    r = client.get("/api/facilities", params={"status": "great"})
    assert r.status_code == 422 and "status" in fields(r.json())
    r = client.get("/api/facilities", params={"municipality": "abc"})
    assert r.status_code == 422 and fields(r.json()) == ["municipality"]


def test_facilities_of_another_area_are_404(client):
    login(client, "coord_a")
    assert client.get("/api/facilities/FB1").status_code == 404
    assert client.get("/api/facilities", params={"area": "area-b"}).status_code == 404
    assert client.get("/api/facilities/NOPE").status_code == 404


def test_facility_detail_has_candidates_and_alternatives(client):
    login(client, "coord_a")
    d = client.get("/api/facilities/FA1").json()
    assert d["status"] == "partial" and d["missing"] == "care"
    ids = [c["institution_id"] for c in d["candidates"]]
    assert ids[0] == "I1" and set(ids) == {"I1", "I2"}
    assert d["candidates"][0]["covers"] == "care" and d["candidates"][0]["remaining_capacity"] == 2
    assert d["alternatives"] == d["candidates"]  # nothing proposed yet


def test_hand_made_proposal(client):
    h = login(client, "coord_a")
    r = client.post(
        "/api/facilities/FA1/proposals",
        json={"institution_id": "I1", "note": "電話で相談"},
        headers=h,
    )
    assert r.status_code == 201
    # the planner's rule: what I1 offers of what FA1 still misses (① is already filed)
    assert r.json()["status"] == "proposed" and r.json()["covers"] == "care"
    again = client.post("/api/facilities/FA1/proposals", json={"institution_id": "I1"}, headers=h)
    assert again.status_code == 409
    d = client.get("/api/facilities/FA1").json()
    assert d["proposals"][0]["institution_id"] == "I1"
    assert "I1" not in [a["institution_id"] for a in d["alternatives"]]


def test_hand_made_proposal_errors(client):
    h = login(client, "coord_a")
    r = client.post("/api/facilities/FA1/proposals", json={"institution_id": ""}, headers=h)
    assert r.status_code == 422 and fields(r.json()) == ["institution_id"]
    assert (
        client.post(
            "/api/facilities/FA1/proposals", json={"institution_id": "ZZ"}, headers=h
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/facilities/FB1/proposals", json={"institution_id": "I3"}, headers=h
        ).status_code
        == 404
    )


def test_viewer_cannot_change(client):
    h = login(client, "viewer_a")
    assert client.get("/api/facilities/FA1").status_code == 200
    r = client.post("/api/facilities/FA1/proposals", json={"institution_id": "I1"}, headers=h)
    assert r.status_code == 403


def test_cookie_change_without_csrf_is_403(client):
    login(client, "coord_a")
    r = client.post("/api/facilities/FA1/proposals", json={"institution_id": "I1"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = client.post(
        "/api/facilities/FA1/proposals",
        json={"institution_id": "I1"},
        headers={"X-CSRF-Token": "x"},
    )
    assert r.status_code == 403


# --- institutions ------------------------------------------------------------------------------


def test_institutions_with_declared_and_used_capacity(client):
    h = login(client, "coord_a")
    insts = {i["institution_id"]: i for i in client.get("/api/institutions").json()}
    assert set(insts) == {"I1", "I2"}
    assert insts["I1"]["declared_capacity"] == 2 and insts["I1"]["used_capacity"] == 0
    assert insts["I2"]["declared_capacity"] is None and insts["I2"]["remaining_capacity"] is None
    p = client.post(
        "/api/facilities/FA1/proposals", json={"institution_id": "I1"}, headers=h
    ).json()
    client.post(
        f"/api/proposals/{p['id']}/status",
        json={"status": "agreed", "version": p["version"]},
        headers=h,
    )
    d = client.get("/api/institutions/I1").json()
    assert d["used_capacity"] == 1 and d["remaining_capacity"] == 1
    assert [x["facility_id"] for x in d["proposals"]] == ["FA1"]
    assert [
        i["institution_id"]
        for i in client.get("/api/institutions", params={"kind": "clinic"}).json()
    ] == ["I1"]


def test_institutions_bad_kind_and_other_area(client):
    login(client, "coord_a")
    r = client.get("/api/institutions", params={"kind": "pharmacy"})
    assert r.status_code == 422 and fields(r.json()) == ["kind"]
    assert client.get("/api/institutions/I3").status_code == 404


# --- runs --------------------------------------------------------------------------------------


def test_run_stores_proposals(client):
    h = login(client, "coord_a")
    r = client.post("/api/runs", json={"area_code": "area-a", "max_km": {"care": 10}}, headers=h)
    assert r.status_code == 201
    run = r.json()["run"]
    assert run["params"]["max_km"]["care"] == 10 and run["n_new"] >= 1
    runs = client.get("/api/runs").json()
    assert [x["id"] for x in runs] == [run["id"]]
    d = client.get(f"/api/runs/{run['id']}").json()
    assert {c["facility_id"] for c in d["changes"]} >= {"FA1"}
    assert client.get("/api/runs", params={"area": "area-a"}).status_code == 200


def test_run_bad_input_is_422_naming_the_field(client):
    h = login(client, "coord_a")
    r = client.post("/api/runs", json={"area_code": "area-a", "max_new_partners": 0}, headers=h)
    assert r.status_code == 422 and fields(r.json()) == ["max_new_partners"]
    r = client.post("/api/runs", json={"area_code": "area-a", "mode": "magic"}, headers=h)
    assert r.status_code == 422 and fields(r.json()) == ["mode"]
    r = client.post("/api/runs", json={"area_code": "area-a", "max_km": {"care": -1}}, headers=h)
    assert r.status_code == 422 and fields(r.json()) == ["care"]


def test_run_of_another_area_is_404(client):
    h = login(client, "coord_a")
    assert client.post("/api/runs", json={"area_code": "area-b"}, headers=h).status_code == 404
    assert client.get("/api/runs", params={"area": "area-b"}).status_code == 404
    h_b = login(client, "coord_b")
    run_b = client.post("/api/runs", json={"area_code": "area-b"}, headers=h_b).json()["run"]["id"]
    login(client, "coord_a")
    assert client.get(f"/api/runs/{run_b}").status_code == 404
    assert client.get("/api/runs/9999").status_code == 404


def test_long_run_goes_to_the_background(tmp_path):
    app = make_app(tmp_path, run_wait=0.0)
    with TestClient(app) as c:
        h = login(c, "coord_a")
        r = c.post("/api/runs", json={"area_code": "area-a"}, headers=h)
        if r.status_code == 201:  # finished before the first poll: still a valid answer
            return
        assert r.status_code == 202
        job = r.json()
        poll = job["poll"]
        for _ in range(200):
            job = c.get(poll).json()
            if job["state"] != "running":
                break
            time.sleep(0.05)
        assert job["state"] == "done" and job["run_id"] is not None
        assert c.get("/api/runs/jobs/999").status_code == 404
        login(c, "coord_b")
        assert c.get(f"/api/runs/jobs/{job['job_id']}").status_code == 404
    app.state.jobs.join_all()


# --- proposals ---------------------------------------------------------------------------------


def test_proposal_status_change_and_history(client):
    h = login(client, "coord_a")
    props = planned(client, h)
    p = next(x for x in props if x["facility_id"] == "FA1")
    r = client.post(
        f"/api/proposals/{p['id']}/status",
        json={"status": "contacted", "version": p["version"], "note": "院長に電話"},
        headers=h,
    )
    assert (
        r.status_code == 200
        and r.json()["status"] == "contacted"
        and r.json()["version"] == p["version"] + 1
    )
    d = client.get(f"/api/proposals/{p['id']}").json()
    assert [x["to_status"] for x in d["history"]] == ["proposed", "contacted"]
    assert d["history"][-1]["actor"] == "coord_a" and d["history"][-1]["note"] == "院長に電話"
    assert client.get("/api/proposals", params={"status": "contacted"}).json()[0]["id"] == p["id"]


def test_stale_version_is_409(client):
    h = login(client, "coord_a")
    p = next(x for x in planned(client, h) if x["facility_id"] == "FA1")
    ok = client.post(
        f"/api/proposals/{p['id']}/status",
        json={"status": "contacted", "version": p["version"]},
        headers=h,
    )
    assert ok.status_code == 200
    stale = client.post(
        f"/api/proposals/{p['id']}/status",
        json={"status": "agreed", "version": p["version"]},
        headers=h,
    )
    assert stale.status_code == 409
    assert (
        stale.json()["actual_version"] == p["version"] + 1
        and "他の人が先に更新" in stale.json()["detail"]
    )


def test_proposal_bad_input(client):
    h = login(client, "coord_a")
    p = next(x for x in planned(client, h) if x["facility_id"] == "FA1")
    r = client.post(
        f"/api/proposals/{p['id']}/status", json={"status": "married", "version": 1}, headers=h
    )
    assert r.status_code == 422 and fields(r.json()) == ["status"]
    r = client.post(f"/api/proposals/{p['id']}/status", json={"status": "agreed"}, headers=h)
    assert r.status_code == 422 and fields(r.json()) == ["version"]
    client.post(
        f"/api/proposals/{p['id']}/status",
        json={"status": "declined", "version": p["version"]},
        headers=h,
    )
    r = client.post(
        f"/api/proposals/{p['id']}/status",
        json={"status": "agreed", "version": p["version"] + 1},
        headers=h,
    )
    # not allowed from its current state: a conflict with that state (issue 13), not bad input
    assert r.status_code == 409 and "変更できません" in r.json()["detail"]
    r = client.get("/api/proposals", params={"status": "married"})
    assert r.status_code == 422 and "status" in fields(r.json())


def test_proposal_of_another_area_is_404(client):
    h_b = login(client, "coord_b")
    pb = planned(client, h_b, "area-b")[0]
    h = login(client, "coord_a")
    assert client.get(f"/api/proposals/{pb['id']}").status_code == 404
    r = client.post(
        f"/api/proposals/{pb['id']}/status",
        json={"status": "agreed", "version": pb["version"]},
        headers=h,
    )
    assert r.status_code == 404
    assert all(p["facility_id"] != "FB1" for p in client.get("/api/proposals").json())
    assert client.get("/api/proposals", params={"area": "area-b"}).status_code == 404


# --- imports -----------------------------------------------------------------------------------

FAC_CSV = (
    "facility_id,name,kind,lat,lon,covered,has_partner,municipality_code,address\n"
    "FA9,新しい施設,gh,33.57,133.54,consult,true,392014,高知市9\n"
    "FA8,壊れた施設,castle,33.57,133.54,,,392014,高知市8\n"
    "FB9,よその施設,gh,33.30,134.15,,,392022,室戸市9\n"
)


def test_import_facilities_reports_rejects(client):
    h = login(client, "coord_a")
    r = client.post(
        "/api/imports/facilities",
        files={"file": ("facilities.csv", FAC_CSV.encode("utf-8-sig"))},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 1 and body["rejected"] == 2
    by_row = {x["row"]: x["issues"][0] for x in body["rejects"]}
    assert by_row[3]["column"] == "kind" and by_row[4]["column"] == "municipality_code"
    assert client.get("/api/facilities/FA9").json()["status"] == "partial"
    audit = client.get("/api/audit").json()
    assert audit[0]["action"] == "import.facilities" and audit[0]["detail"]["accepted"] == 1


def test_import_institutions_cp932(client):
    h = login(client, "coord_a")
    csv = (
        "institution_id,name,kind,lat,lon,offers,capacity,municipality_code\n"
        "I9,新病院,病院,33.55,133.52,①②③,4,392014\n"
    )
    r = client.post(
        "/api/imports/institutions", files={"file": ("inst.csv", csv.encode("cp932"))}, headers=h
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert client.get("/api/institutions/I9").json()["declared_capacity"] == 4


def test_import_missing_column_is_422_naming_it(client):
    h = login(client, "coord_a")
    bad = "facility_id,name,lat,lon\nX,x,33,133\n"
    r = client.post("/api/imports/facilities", files={"file": ("f.csv", bad.encode())}, headers=h)
    assert r.status_code == 422
    assert any(str(i["column"]).startswith("kind") for i in r.json()["issues"])
    r = client.post("/api/imports/dogs", files={"file": ("f.csv", bad.encode())}, headers=h)
    assert r.status_code == 422 and fields(r.json()) == ["kind"]
    r = client.post("/api/imports/facilities", headers=h)
    assert r.status_code == 422 and fields(r.json()) == ["file"]
    r = client.post("/api/imports/facilities", files={"file": ("f.csv", b"")}, headers=h)
    assert r.status_code == 422 and r.json()["issues"][0]["column"] == "file"


def test_import_needs_login_and_writer(client):
    assert (
        client.post(
            "/api/imports/facilities", files={"file": ("f.csv", FAC_CSV.encode())}
        ).status_code
        == 401
    )
    h = login(client, "viewer_a")
    assert (
        client.post(
            "/api/imports/facilities", files={"file": ("f.csv", FAC_CSV.encode())}, headers=h
        ).status_code
        == 403
    )


# --- exports and the status table --------------------------------------------------------------


def test_export_csv_has_bom(client):
    login(client, "coord_a")
    r = client.get("/api/exports/facilities.csv", params={"area": "area-a"})
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    assert "FA1" in r.content.decode("utf-8-sig") and "FB1" not in r.content.decode("utf-8-sig")
    s = client.get("/api/exports/status.csv", params={"area": "area-a"}).content.decode("utf-8-sig")
    assert s.splitlines()[0].startswith("area_code,area_name,kind")


def test_export_xlsx(client):
    login(client, "coord_a")
    r = client.get("/api/exports/state.xlsx", params={"area": "area-a"})
    assert r.status_code == 200 and r.content[:2] == b"PK"
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert "施設" in wb.sheetnames and "状況表" in wb.sheetnames


def test_export_errors(client):
    login(client, "coord_a")
    assert client.get("/api/exports/facilities.csv", params={"area": "area-b"}).status_code == 404
    r = client.get("/api/exports/secrets.csv", params={"area": "area-a"})
    assert r.status_code == 422 and fields(r.json()) == ["table"]
    r = client.get("/api/exports/facilities.csv")
    assert r.status_code == 422 and fields(r.json()) == ["area"]


def test_status_table_in_seed_form(client):
    login(client, "coord_a")
    body = client.get("/api/status-table").json()
    assert [c["key"] for c in body["columns"]] == [
        "all",
        "partial",
        "none",
        "no_partner",
        "unknown",
    ]
    assert body["columns"][0]["label"].startswith("①")
    rows = {(r["area_code"], r["kind"]): r for r in body["rows"]}
    assert rows[("area-a", "gh")]["partial"] == 1 and rows[("area-a", "tokuyo")]["unknown"] == 1
    assert rows[("area-a", "total")]["total"] == 2 and ("area-b", "total") not in rows
    assert body["days_left"] > 0 or body["days_left"] <= 0  # an integer either way
    assert client.get("/api/status-table", params={"area": "area-b"}).status_code == 404


def test_map_layers(client):
    h = login(client, "coord_a")
    planned(client, h)
    m = client.get("/api/map", params={"area": "area-a"}).json()
    assert {f["facility_id"] for f in m["facilities"]} == {"FA1", "FA2"}
    assert {"I1", "I2"} <= {i["institution_id"] for i in m["institutions"]}
    assert m["proposals"] and client.get("/api/map", params={"area": "area-b"}).status_code == 404


def test_audit_trail_records_changes(client):
    h = login(client, "coord_a")
    p = next(x for x in planned(client, h) if x["facility_id"] == "FA1")
    client.post(
        f"/api/proposals/{p['id']}/status",
        json={"status": "agreed", "version": p["version"]},
        headers=h,
    )
    actions = [a["action"] for a in client.get("/api/audit").json()]
    assert actions[:2] == ["proposal.status", "run.create"]
    login(client, "viewer_a")
    assert client.get("/api/audit").status_code == 403
    login(client, "pref")
    assert "proposal.status" in [a["action"] for a in client.get("/api/audit").json()]
