"""Registry files, filings and declarations uploaded over the web (API and upload page): they go
through ``import_source``, a coordinator writes only inside their area, rejects come back with
reasons, a bad file is a 422 naming file/row/column and changes nothing. Also: the app runs on
the web tables the migrations create, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from api_support import PASSWORD, login
from fastapi.testclient import TestClient

from api.main import create_app
from api.users import add_user
from matcher.store.areas import code5_of

REGISTRY = Path(__file__).resolve().parents[2] / "data" / "sample" / "registry"
KAIGO = sorted((REGISTRY / "kaigo").glob("*.csv"))
NAVII = sorted((REGISTRY / "navii").glob("*.csv"))
KOUSEIKYOKU = sorted((REGISTRY / "kouseikyoku").glob("*.xlsx"))
DECLARATIONS = sorted((REGISTRY / "declarations").glob("*.csv"))
FILINGS = sorted((REGISTRY / "filings").glob("*.xlsx"))


FOLLOW_REDIRECTS = False


def files_of(paths: list[Path]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("file", (p.name, p.read_bytes())) for p in paths]


def upload(client, kind: str, paths: list[Path], headers: dict[str, str], **data) -> dict:
    r = client.post(f"/api/imports/{kind}", files=files_of(paths), data=data, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def facilities(client) -> list[dict]:
    return client.get("/api/facilities", params={"limit": 10000}).json()["items"]


def facility_ids(client) -> set[str]:
    return {f["facility_id"] for f in facilities(client)}


def test_kaigo_csvs_by_the_prefecture(client):
    h = login(client, "pref")
    body = upload(client, "kaigo", KAIGO, h)
    assert (body["accepted"], body["rejected"]) == (661, 20)
    assert body["counts"] == {
        "read": 681,
        "accepted": 661,
        "rejected": 20,
        "error": 0,
        "skipped": 20,
        "unmatched": 0,
        "warnings": 7,
    }
    assert body["stats"] == {"facilities": "追加 661 件、更新 0 件、変更なし 0 件"}
    short_stay = body["rejects"][0]
    assert short_stay["file"] == "jigyosho_551.csv" and short_stay["row"] == 2
    assert (
        short_stay["category"] == "skipped"
        and "対象施設ではありません" in short_stay["issues"][0]["message"]
    )
    assert body["warnings"][0]["column"] == "緯度"
    assert len(facility_ids(client)) == 3 + 661
    audit = client.get("/api/audit").json()[0]
    assert audit["action"] == "import.kaigo" and audit["detail"]["accepted"] == 661
    again = upload(client, "kaigo", KAIGO, h)  # the same files again change nothing
    assert again["stats"] == {"facilities": "追加 0 件、更新 0 件、変更なし 661 件"}


def test_a_coordinator_imports_only_their_area(client):
    h = login(client, "coord_a")
    body = upload(client, "kaigo", KAIGO, h)
    outside = [r for r in body["rejects"] if "担当地域外" in r["issues"][0]["message"]]
    assert body["accepted"] == 37 and len(outside) == body["rejected"] - 20
    assert outside[0]["issues"][0]["column"] == "municipality_code"
    assert all(code5_of(r["values"]["municipality_code"]) != "39201" for r in outside)
    ids = facility_ids(client)
    assert len(ids) == 2 + 37  # FA1, FA2 and the 高知市 facilities of the files
    login(client, "pref")
    stored = facilities(client)
    assert len(stored) == 3 + 37
    assert all(
        f["municipality_code"].startswith("39201")
        for f in stored
        if f["facility_id"] not in ("FB1",)
    )


def test_the_whole_registry_chain_and_the_filings_workbook(client):
    h = login(client, "pref")
    upload(client, "kaigo", KAIGO, h)
    navii = upload(client, "navii", NAVII, h)  # hospital and clinic 施設票 in one upload
    assert (
        navii["accepted"] == 408 and navii["rejects"][0]["category"] == "skipped"
    )  # a dental clinic
    flags = upload(client, "kouseikyoku", KOUSEIKYOKU, h)
    assert flags["stats"] == {"institutions": "追加 0 件、更新 408 件、変更なし 0 件"}
    decls = upload(client, "declarations", DECLARATIONS, h, declared_on="2025-07-01")
    assert decls["accepted"] == 240 and decls["rejects"][0]["category"] == "unmatched"
    body = upload(client, "filings", FILINGS, h)
    assert body["file"] == "kyoryoku_todokede_2025.xlsx"
    assert (body["accepted"], body["rejected"]) == (589, 43)
    assert body["counts"]["error"] == 1 and body["counts"]["unmatched"] == 42
    bad = next(r for r in body["rejects"] if r["category"] == "error")
    issue = bad["issues"][0]
    assert (issue["file"], issue["row"], issue["column"], issue["value"]) == (
        "kyoryoku_todokede_2025.xlsx[届出]",
        3,
        "3入院受入",
        "△",
    )
    unmatched = next(r for r in body["rejects"] if r["category"] == "unmatched")
    assert (
        "施設一覧にありません" in unmatched["issues"][0]["message"]
        and unmatched["values"]["事業所番号"]
    )
    with client.app.state.store.read() as s:
        from sqlalchemy import func, select

        from matcher.store.models import FilingRow

        assert (
            s.scalar(
                select(func.count()).select_from(FilingRow).where(FilingRow.filing_year == 2025)
            )
            >= 589
        )


def test_a_zipped_registry_file(client):
    h = login(client, "pref")
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        zf.write(REGISTRY / "kaigo" / "jigyosho_510.csv", "jigyosho_510.csv")
    zipped = client.post(
        "/api/imports/kaigo", files={"file": ("jigyosho_510.zip", raw.getvalue())}, headers=h
    )
    assert zipped.status_code == 200, zipped.text
    plain = upload(client, "kaigo", [REGISTRY / "kaigo" / "jigyosho_510.csv"], h)
    assert zipped.json()["accepted"] == plain["accepted"] > 0
    assert plain["stats"]["facilities"].startswith("追加 0 件")  # the ZIP had stored them already


def test_a_bad_file_is_422_naming_file_row_column_and_changes_nothing(client):
    h = login(client, "pref")
    before = facility_ids(client)
    broken = ("jigyosho_510.csv", "事業所名,住所\nどこか,高知市\n".encode())
    good = (KAIGO[0].name, KAIGO[0].read_bytes())
    r = client.post("/api/imports/kaigo", files=[("file", good), ("file", broken)], headers=h)
    assert r.status_code == 422
    issue = r.json()["issues"][0]
    assert (issue["file"], issue["row"], issue["column"]) == ("jigyosho_510.csv", 1, "事業所番号")
    assert facility_ids(client) == before  # the good file of the same upload was not stored either
    r = client.post(
        "/api/imports/filings", files={"file": ("todokede.xlsx", b"PK not a workbook")}, headers=h
    )
    assert r.status_code == 422 and r.json()["issues"][0]["file"] == "todokede.xlsx"
    r = client.post("/api/imports/navii", files={"file": ("navii.csv", b"")}, headers=h)
    assert r.status_code == 422 and r.json()["issues"][0]["column"] == "file"
    r = client.post(
        "/api/imports/declarations",
        files=files_of(DECLARATIONS),
        data={"declared_on": "someday"},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "declared_on"]
    r = client.post("/api/imports/facilities", files=files_of(KAIGO[:2]), headers=h)
    assert r.status_code == 422 and "ファイル1つ" in r.json()["detail"]


def test_registry_imports_need_login_and_a_writer(client):
    assert client.post("/api/imports/kaigo", files=files_of(KAIGO[:1])).status_code == 401
    h = login(client, "viewer_a")
    assert (
        client.post("/api/imports/kaigo", files=files_of(KAIGO[:1]), headers=h).status_code == 403
    )
    client.cookies.clear()
    h = login(client, "coord_a")
    assert (
        client.post("/api/imports/kaigo", files=files_of(KAIGO[:1])).status_code == 403
    )  # cookie, no CSRF


def test_declarations_of_another_area_are_rejected(client):
    upload(client, "navii", NAVII, login(client, "pref"))
    client.cookies.clear()
    h = login(client, "coord_b")
    body = upload(client, "declarations", DECLARATIONS, h, declared_on="2025-07-01")
    outside = [r for r in body["rejects"] if "担当地域外" in r["issues"][0]["message"]]
    assert outside and all(
        not code5_of(r["values"]["municipality_code"]).startswith("39202") for r in outside
    )
    assert body["accepted"] + len(outside) == 240
    assert outside[0]["file"] == "moushide_2025.csv" and outside[0]["row"] >= 2


def test_upload_page_imports_registry_files_and_shows_rejects(client):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post(
        "/login", data={"username": "coord_a", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 303
    html = client.get("/imports").text
    for kind in (
        "facilities",
        "institutions",
        "kaigo",
        "navii",
        "kouseikyoku",
        "filings",
        "declarations",
    ):
        assert f'<option value="{kind}"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post("/imports", data={"kind": "kaigo", "csrf_token": token}, files=files_of(KAIGO))
    assert r.status_code == 200, r.text
    assert (
        'id="accepted">37<' in r.text
        and "担当地域外の市区町村です" in r.text
        and "対象外" in r.text
    )
    r = client.post(
        "/imports", data={"kind": "filings", "csrf_token": token}, files=files_of(FILINGS)
    )
    assert r.status_code == 200 and "3入院受入" in r.text and "未結合" in r.text
    r = client.post(
        "/imports",
        data={"kind": "kaigo", "csrf_token": token},
        files={"file": ("jigyosho_510.csv", "事業所名\nどこか\n".encode())},
    )
    assert r.status_code == 422 and "jigyosho_510.csv" in r.text and "事業所番号" in r.text
    r = client.post(
        "/imports",
        data={"kind": "declarations", "csrf_token": token, "declared_on": "昨日"},
        files=files_of(DECLARATIONS),
    )
    assert r.status_code == 422 and "申出の適用開始日" in r.text
    r = client.post("/imports", data={"kind": "kaigo"}, files=files_of(KAIGO[:1]))
    assert r.status_code == 403


def test_the_app_runs_on_the_migrated_web_tables(db_url):  # noqa: F811
    app = create_app(db_url, secret_key="k", tiles_url="")
    store = app.state.store
    assert {"web_users", "web_audit"} <= set(store.table_names())
    with store.write() as s:
        add_user(s, "pref", PASSWORD, "prefecture", ["39"], actor="test")
    with TestClient(app) as c:
        h = login(c, "pref")
        body = upload(c, "kaigo", [REGISTRY / "kaigo" / "jigyosho_510.csv"], h)
        assert body["accepted"] > 0
        actions = [a["action"] for a in c.get("/api/audit").json()]
        assert [a for a in actions if not a.startswith("login.")][:2] == [
            "import.kaigo",
            "user.save",
        ]
        assert "login.success" in actions
    app.state.jobs.join_all()
    store.dispose()
