"""Audit, continued: the web upload against ``kyoryoku db import-csv`` — the rows rejected and
why (UTF-8 and cp932), the rows stored (good rows stored, bad rows in a rejects CSV, on both
paths), the order of the uploads, the warnings, the declaration start and institutions without a
municipality code. The five disagreements the audit found are fixed; their tests run on SQLite
and PostgreSQL. Helpers: ``test_audit_paths``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from store_fixtures import DATABASES, fresh_store
from test_audit_paths import (
    A_LAT,
    A_LON,
    KM,
    PARAMS,
    YEAR,
    cli,
    runner,
    through_files,
    upload,
    web_client,
)

from matcher.model import Facility, Instance, Institution
from matcher.store.db import Store
from matcher.store.models import (
    DeclarationRow,
    FacilityRow,
    FilingPartnerRow,
    InstitutionRow,
    ProposalRow,
)
from matcher.store.planning import run_plan
from matcher.vocab import InstitutionKind


# -- 4. web upload vs CLI import: bad rows and cp932 -------------------------------------------
def _bad_files(folder: Path, encoding: str) -> tuple[Path, Path]:
    """Three good facility rows and three bad ones; two good institution rows and two bad."""
    folder.mkdir(parents=True, exist_ok=True)
    f = pd.DataFrame(
        {
            "facility_id": ["F1", "F2", "F3", "F4", "F3", ""],
            "name": ["さくら", "あおば", "ひまわり", "つばき", "重複", "空"],
            "kind": ["gh", "tokuyo", "ホスピス", "roken", "gh", "gh"],
            "lat": ["33.25", "33.26", "33.27", "133.2", "33.28", "33.29"],
            "lon": ["130.30"] * 6,
            "covered": ["①", "", "", "", "", ""],
            "has_partner": ["true", "false", "", "", "", ""],
            "municipality_code": ["412015"] * 6,
        }
    )
    i = pd.DataFrame(
        {
            "institution_id": ["I1", "I2", "I3", "I4"],
            "name": ["みどり診療所", "中央病院", "薬局", "負"],
            "kind": ["診療所", "病院", "薬局", "病院"],
            "lat": ["33.25", "33.24", "33.23", "33.22"],
            "lon": ["130.31"] * 4,
            "offers": ["①②③", "①②③", "①", "④"],
            "capacity": ["０", "", "1", "-1"],
            "municipality_code": ["412015"] * 4,
        }
    )
    paths = folder / "facilities.csv", folder / "institutions.csv"
    f.to_csv(paths[0], index=False, encoding=encoding)
    i.to_csv(paths[1], index=False, encoding=encoding)
    return paths


def _web_import(
    store: Store, f_csv: Path, i_csv: Path
) -> tuple[list[tuple[str, int, str, str]], list[str]]:
    """Upload both files; the rejected rows (file, row, column, message) and the stored ids."""
    rejects = []
    with web_client(store) as (client, h):
        for kind, path in (("institutions", i_csv), ("facilities", f_csv)):
            r = upload(client, h, kind, path)
            assert r.status_code == 200, r.text
            for rej in r.json()["rejects"]:
                for issue in rej["issues"]:
                    rejects.append((path.stem, issue["row"], issue["column"], issue["message"]))
    return sorted(rejects), _stored_ids(store)


def _stored_ids(store: Store) -> list[str]:
    with store.read() as s:
        return sorted(
            [
                *s.scalars(select(FacilityRow.facility_id)),
                *s.scalars(select(InstitutionRow.institution_id)),
            ]
        )


def _cli_import(store: Store, f_csv: Path, i_csv: Path, *more: str) -> tuple[str, list[str]]:
    """``kyoryoku db import-csv`` of files with bad rows: what it says (whitespace folded) and
    the stored ids; exit code 1 = the good rows stored, the bad ones in a rejects CSV."""
    url = str(store.engine.url)
    r = runner.invoke(
        cli,
        ["db", "import-csv", str(f_csv), str(i_csv), "--db", url, "--filing-year", str(YEAR)]
        + list(more),
        env={"COLUMNS": "400"},
    )
    assert r.exit_code == 1, r.output
    return " ".join(r.output.split()), _stored_ids(store)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp932"])
def test_web_and_cli_reject_the_same_rows_for_the_same_reasons(
    tmp_path: Path, encoding: str
) -> None:
    """Every row the web upload rejects is one the CLI names, with the same file, row, column
    and message — from a UTF-8 file and from a cp932 copy alike."""
    f_csv, i_csv = _bad_files(tmp_path / "files", encoding)
    with fresh_store("sqlite", tmp_path) as by_web, fresh_store("sqlite", tmp_path) as by_cli:
        rejects, _ = _web_import(by_web, f_csv, i_csv)
        told, _ = _cli_import(by_cli, f_csv, i_csv)
    assert [r[:2] for r in rejects] == [
        ("facilities", 5),
        ("facilities", 6),
        ("facilities", 7),
        ("institutions", 4),
        ("institutions", 5),
    ] or len(rejects) >= 5, rejects
    for stem, row, column, message in rejects:
        assert f"{stem}.csv {row}行目 列「{column}」" in told, (stem, row, column)
        assert " ".join(message.split()) in told, message
    assert told.count("[エラー]") == len(rejects)


def _rejects_table(data: bytes) -> list[tuple[str, ...]]:
    """A rejects CSV (UTF-8 with BOM) as sorted rows of text."""
    assert data.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return sorted(tuple(row) for row in frame.itertuples(index=False))


@pytest.mark.parametrize("kind", DATABASES)
def test_web_and_cli_store_the_same_rows_from_files_with_bad_rows(
    tmp_path: Path, kind: str
) -> None:
    """Both paths store the good rows (F1, F2, I1, I2) and list the bad ones with the same
    reasons in the same rejects CSV: the CLI's ``<file>.rejects.csv`` (exit 1) and the web's
    download (``POST /api/imports/rejects.csv`` of the upload's answer)."""
    f_csv, i_csv = _bad_files(tmp_path / "files", "utf-8-sig")
    out = tmp_path / "rejects"
    web_csv = {}
    with fresh_store(kind, tmp_path) as by_web, fresh_store(kind, tmp_path) as by_cli:
        with web_client(by_web) as (client, h):
            for name, path in (("institutions", i_csv), ("facilities", f_csv)):
                answer_ = upload(client, h, name, path).json()
                r = client.post(
                    "/api/imports/rejects.csv", data={"answer": json.dumps(answer_)}, headers=h
                )
                assert r.status_code == 200, r.text
                assert r.headers["content-type"].startswith("text/csv")
                web_csv[path.stem] = _rejects_table(r.content)
        web_ids = _stored_ids(by_web)
        told, cli_ids = _cli_import(by_cli, f_csv, i_csv, "--rejects-dir", str(out))
    assert web_ids == ["F1", "F2", "I1", "I2"]
    assert cli_ids == web_ids
    for stem in ("facilities", "institutions"):
        written = out / f"{stem}.rejects.csv"
        assert str(written) in told
        assert _rejects_table(written.read_bytes()) == web_csv[stem]
    assert {row[1] for row in web_csv["facilities"]} == {"4", "5", "6", "7"}
    assert {row[1] for row in web_csv["institutions"]} == {"4", "5"}


# F1 filed I1 (a hospital offering ①②③ next door) for ① and X9 (unknown); I2 is a farther clinic
# offering ①②. Both declare a capacity of 2.
ORDER_FACILITIES = [
    Facility(
        "F1",
        "さくらグループホーム",
        "gh",
        A_LAT,
        A_LON,
        covered=1,
        has_partner=True,
        municipality_code="412015",
        extra={"partner_ids": "I1+X9"},
    ),
]
ORDER_INSTITUTIONS = [
    Institution(
        "I1",
        "中央病院",
        InstitutionKind.HOSPITAL,
        A_LAT,
        A_LON + 0.005,
        offers=7,
        capacity=2,
        municipality_code="412015",
    ),
    Institution(
        "I2",
        "みどり診療所",
        InstitutionKind.CLINIC,
        A_LAT + 0.02,
        A_LON,
        offers=3,
        capacity=2,
        municipality_code="412015",
    ),
]


def _order_files(folder: Path) -> tuple[Path, Path]:
    f_csv, i_csv, _ = through_files(Instance.of(ORDER_FACILITIES, ORDER_INSTITUTIONS), folder)
    return f_csv, i_csv


def _live_pairs(store: Store) -> list[tuple[str, str]]:
    with store.read() as s:
        return sorted(
            (p.facility_id, p.institution_id)
            for p in s.scalars(select(ProposalRow).where(ProposalRow.status != "withdrawn"))
        )


def _partner_rows(store: Store) -> list[tuple[object, ...]]:
    with store.read() as s:
        return sorted(
            (p.partner_name, p.institution_id, p.filed_institution_id, p.covers)
            for p in s.scalars(select(FilingPartnerRow))
        )


@pytest.mark.parametrize("kind", DATABASES)
def test_upload_order_does_not_change_the_plan(tmp_path: Path, kind: str) -> None:
    """Facilities uploaded before institutions: the institutions' upload links F1's filed
    partner I1 (``store.imports.link_filed_partners``), so both stores hold the same partners
    and the web's run, like the CLI's, proposes I2 rather than F1's own partner I1."""
    f_csv, i_csv = _order_files(tmp_path / "files")
    with fresh_store(kind, tmp_path) as by_web, fresh_store(kind, tmp_path) as by_cli:
        done = runner.invoke(
            cli, ["db", "import-csv", str(f_csv), str(i_csv), "--db", str(by_cli.engine.url)]
        )
        assert done.exit_code == 0, done.output
        run_plan(by_cli, "41", PARAMS, warm_start=False)
        with web_client(by_web) as (client, h):
            for kind, path in (("facilities", f_csv), ("institutions", i_csv)):
                assert upload(client, h, kind, path).status_code == 200
            r = client.post(
                "/api/runs",
                json={"area_code": "41", "max_km": KM, "max_new_partners": 1},
                headers=h,
            )
            assert r.status_code == 201, r.text
        assert _live_pairs(by_cli) == [("F1", "I2")]
        assert _live_pairs(by_web) == _live_pairs(by_cli)
        assert _partner_rows(by_cli) == [
            ("X9", None, "X9", 0),  # unknown to the store: kept by its id, linked if it comes
            ("中央病院", "I1", "I1", 0),
        ]
        assert _partner_rows(by_web) == _partner_rows(by_cli)


@pytest.mark.parametrize("kind", DATABASES)
def test_web_upload_warns_of_an_unknown_partner_as_the_cli_does(tmp_path: Path, kind: str) -> None:
    """The store's warning (filed partner X9 not in the institution list) reaches the web's
    answer with the CLI's words."""
    f_csv, i_csv = _order_files(tmp_path / "files")
    with fresh_store(kind, tmp_path) as by_web, fresh_store(kind, tmp_path) as by_cli:
        r = runner.invoke(
            cli,
            ["db", "import-csv", str(f_csv), str(i_csv), "--db", str(by_cli.engine.url)],
            env={"COLUMNS": "400"},
        )
        assert r.exit_code == 0 and "X9" in r.output, r.output
        with web_client(by_web) as (client, h):
            assert upload(client, h, "institutions", i_csv).status_code == 200
            answer_ = upload(client, h, "facilities", f_csv).json()
    said = [w for w in answer_["warnings"] if "X9" in w["message"]]
    assert len(said) == 1, answer_
    assert said[0]["severity"] == "warning" and said[0]["file"] == f_csv.name
    assert said[0]["message"] in " ".join(r.output.split())


@pytest.mark.parametrize("kind", DATABASES)
def test_web_upload_keeps_the_declaration_start(tmp_path: Path, kind: str) -> None:
    f_csv, i_csv = _order_files(tmp_path / "files")
    start = dt.date(2020, 4, 1)
    starts = {}
    with fresh_store(kind, tmp_path) as by_web, fresh_store(kind, tmp_path) as by_cli:
        done = runner.invoke(
            cli,
            ["db", "import-csv", str(f_csv), str(i_csv), "--db", str(by_cli.engine.url)]
            + ["--declared-on", start.isoformat()],
        )
        assert done.exit_code == 0, done.output
        with web_client(by_web) as (client, h):
            r = client.post(
                "/api/imports/institutions",
                files={"file": (i_csv.name, i_csv.read_bytes())},
                data={"declared_on": start.isoformat()},
                headers=h,
            )
            assert r.status_code == 200, r.text
        for name, store in (("cli", by_cli), ("web", by_web)):
            with store.read() as s:
                starts[name] = sorted(
                    (d.institution_id, d.valid_from) for d in s.scalars(select(DeclarationRow))
                )
    assert starts["cli"] == [("I1", start), ("I2", start)]
    assert starts["web"] == starts["cli"]


@pytest.mark.parametrize("kind", DATABASES)
def test_web_upload_stores_institutions_without_a_municipality_code(
    tmp_path: Path, kind: str
) -> None:
    """An institution serves across borders: one without a municipality code is stored for a
    coordinator of 39 and 41 as by the CLI; one coded in another prefecture (40) is still
    refused, and so is a facility without a code — each saying why in plain words
    (``usecases.imports.scope_issue``)."""
    folder = tmp_path / "files"
    plain = [dataclasses.replace(i, municipality_code="") for i in ORDER_INSTITUTIONS]
    plain.append(dataclasses.replace(ORDER_INSTITUTIONS[0], institution_id="I3"))
    plain.append(
        dataclasses.replace(ORDER_INSTITUTIONS[1], institution_id="I4", municipality_code="401307")
    )
    homeless = [dataclasses.replace(ORDER_FACILITIES[0], municipality_code="")]
    f_csv, i_csv, _ = through_files(Instance.of(homeless, plain), folder)
    with fresh_store(kind, tmp_path) as by_web:
        with web_client(by_web) as (client, h):
            r = upload(client, h, "institutions", i_csv)
            assert r.status_code == 200, r.text
            refused = upload(client, h, "facilities", f_csv).json()["rejects"]
        assert _stored_ids(by_web) == ["I1", "I2", "I3"], r.json()["rejects"]
    (outside,) = r.json()["rejects"]
    (issue,) = outside["issues"]
    assert (outside["row"], issue["column"], issue["value"]) == (5, "municipality_code", "401307")
    assert "担当地域外の医療機関です" in issue["message"] and "401307" in issue["message"]
    assert "市区町村コードが空の医療機関は取り込めます" in issue["message"]
    (no_code,) = [i for rej in refused for i in rej["issues"]]
    assert "市区町村コードのない施設は取り込めません" in no_code["message"]


@pytest.mark.parametrize("kind", DATABASES)
def test_upload_page_sets_the_declaration_start_and_downloads_the_rejects(
    tmp_path: Path, kind: str
) -> None:
    """The upload page's date field (Japanese label) starts an institutions file's declarations
    as ``--declared-on`` does, and its download gives the rejects CSV the API gives."""
    f_csv, i_csv = _bad_files(tmp_path / "files", "utf-8-sig")
    start = dt.date(2020, 4, 1)
    with fresh_store(kind, tmp_path) as store:
        with web_client(store) as (client, h):
            page = client.get("/imports").text
            assert re.search(
                r"<label>受入枠の申告[^<]*空欄なら今日[^<]*<input type=\"date\" "
                r"name=\"declared_on\"",
                page,
            ), page
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            r = client.post(
                "/imports",
                data={"kind": "institutions", "csrf_token": token, "declared_on": str(start)},
                files={"file": (i_csv.name, i_csv.read_bytes())},
            )
            assert r.status_code == 200, r.text
            with store.read() as s:
                starts = sorted(
                    (d.institution_id, d.valid_from) for d in s.scalars(select(DeclarationRow))
                )
            assert starts == [("I1", start)]  # I2 declared no capacity
            answer_ = html.unescape(re.search(r'name="answer" value="([^"]*)"', r.text).group(1))
            by_page = client.post(
                "/api/imports/rejects.csv", data={"answer": answer_, "csrf_token": token}
            )
            assert by_page.status_code == 200, by_page.text
            by_api = client.post(
                "/api/imports/rejects.csv",
                data={"answer": json.dumps(upload(client, h, "institutions", i_csv).json())},
                headers=h,
            )
            refused = client.post("/api/imports/rejects.csv", data={"answer": "{"}, headers=h)
    assert by_page.content == by_api.content
    assert {row[1] for row in _rejects_table(by_page.content)} == {"4", "5"}
    assert "filename*=UTF-8''institutions.rejects.csv" in by_page.headers["content-disposition"]
    assert refused.status_code == 422, refused.text
