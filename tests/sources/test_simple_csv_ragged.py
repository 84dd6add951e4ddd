"""Issue 27: a row of the simple format whose cells do not line up with the header.

A row with more cells than the header (an unquoted comma in an address) was accepted with its
extra cells dropped; now it is an input error naming the file, the row and the number of cells,
in every path that reads the format (``load_facilities``/``load_institutions``, ``kyoryoku
match``, ``report``, ``gaps``, ``db import-csv`` and the web upload), and nothing is imported. A
row with fewer cells is one too, unless the cells it leaves out are optional columns.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from api_support import login
from fastapi.testclient import TestClient
from store_fixtures import snapshot
from typer.testing import CliRunner, Result

from matcher._errors import InputError, RowIssue
from matcher.cli import app
from matcher.sources.simple_csv import load_facilities, load_institutions
from matcher.store.db import open_store

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
runner = CliRunner()

# Real rows of data/sample: the header, then 3 data rows; the one under test is the file's row 3.
FAC_HEADER, *FAC_ROWS = (SAMPLE / "facilities.csv").read_text("utf-8-sig").splitlines()[:4]
INST_HEADER, *INST_ROWS = (SAMPLE / "institutions.csv").read_text("utf-8-sig").splitlines()[:4]
FAC_ID = FAC_ROWS[1].split(",")[0]  # 3900000002, 高知市 (in the web coordinator's area)
# The address 高知県高知市2-2 typed with two unquoted commas: two cells more than the header.
FAC_SPLIT = FAC_ROWS[1].replace("高知県高知市2-2", "高知県高知市本町2-2,3F,南棟")
INST_SPLIT = INST_ROWS[1].replace("高知県室戸市2-2", "高知県室戸市浮津2-2,本館,2F")


def _file(path: Path, header: str, rows: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes("\r\n".join([header, *rows, ""]).encode(encoding))
    return path


def facilities_with(tmp_path: Path, row: str, encoding: str = "utf-8") -> Path:
    """facilities.csv of three real rows with ``row`` in place of the second (file row 3)."""
    rows = [FAC_ROWS[0], row, FAC_ROWS[2]]
    return _file(tmp_path / "facilities.csv", FAC_HEADER, rows, encoding)


def institutions_with(tmp_path: Path, row: str) -> Path:
    return _file(tmp_path / "institutions.csv", INST_HEADER, [INST_ROWS[0], row, INST_ROWS[2]])


def only_issue(info: pytest.ExceptionInfo[InputError]) -> RowIssue:
    (issue,) = info.value.issues
    return issue


# --- the readers -------------------------------------------------------------------------------


def test_the_fixtures_are_valid_but_for_the_split_cells(tmp_path: Path) -> None:
    """What the tests below refuse differs from valid rows only by its cell count."""
    assert len(load_facilities(facilities_with(tmp_path, FAC_ROWS[1])).items) == 3
    assert len(load_institutions(institutions_with(tmp_path, INST_ROWS[1])).items) == 3


def test_facility_row_with_more_cells_names_file_row_and_count(tmp_path: Path) -> None:
    path = facilities_with(tmp_path, FAC_SPLIT)
    with pytest.raises(InputError, match="セルが 11 個あり、見出しの 9 列より多く") as info:
        load_facilities(path)
    issue = only_issue(info)
    assert (issue.file, issue.row, issue.severity) == ("facilities.csv", 3, "error")
    assert issue.value == "3F, 南棟"
    assert "facilities.csv 3行目" in str(info.value) and "半角カンマ" in str(info.value)
    lenient = load_facilities(path, strict=False)
    assert FAC_ID not in [f.facility_id for f in lenient.items] and 3 in lenient.rejected_rows


def test_institution_row_with_more_cells_names_file_row_and_count(tmp_path: Path) -> None:
    path = institutions_with(tmp_path, INST_SPLIT)
    with pytest.raises(InputError, match="セルが 11 個あり、見出しの 9 列より多く") as info:
        load_institutions(path)
    issue = only_issue(info)
    assert (issue.file, issue.row) == ("institutions.csv", 3)


def test_every_problem_is_listed_with_the_split_row(tmp_path: Path) -> None:
    bad_kind = FAC_ROWS[2].replace(",tokuyo,", ",castle,")
    path = _file(tmp_path / "facilities.csv", FAC_HEADER, [FAC_ROWS[0], FAC_SPLIT, bad_kind])
    with pytest.raises(InputError, match="セルが 11 個") as info:
        load_facilities(path)
    assert [(i.row, i.column) for i in info.value.issues] == [(3, None), (4, "kind")]


def test_cp932_file_with_more_cells(tmp_path: Path) -> None:
    path = facilities_with(tmp_path, FAC_SPLIT, "cp932")
    with pytest.raises(InputError, match="セルが 11 個あり") as info:
        load_facilities(path)
    assert only_issue(info).row == 3


def test_quoted_comma_is_one_cell(tmp_path: Path) -> None:
    quoted = FAC_ROWS[1].replace("高知県高知市2-2", '"高知県高知市本町2-2,3F,南棟"')
    loaded = load_facilities(facilities_with(tmp_path, quoted))
    assert loaded.items[1].address == "高知県高知市本町2-2,3F,南棟" and not loaded.errors


def test_fewer_cells_missing_only_optional_columns_is_accepted(tmp_path: Path) -> None:
    # Up to lon (5 of 9 cells): covered, has_partner, municipality_code and address left out.
    short = ",".join(FAC_ROWS[1].split(",")[:5])
    loaded = load_facilities(facilities_with(tmp_path, short))
    assert [f.facility_id for f in loaded.items][1] == FAC_ID and not loaded.errors
    assert loaded.items[1].address == "" and loaded.items[1].municipality_code == ""
    # An institution up to offers (6 of 9): capacity, municipality_code and address left out.
    short_inst = ",".join(INST_ROWS[1].split(",")[:6])
    insts = load_institutions(institutions_with(tmp_path, short_inst)).items
    assert insts[1].capacity is None and insts[1].offers == 7


def test_fewer_cells_missing_a_required_column_is_an_error(tmp_path: Path) -> None:
    short = ",".join(FAC_ROWS[1].split(",")[:4])  # ends at lat: lon left out
    with pytest.raises(InputError, match="セルが 4 個しかなく、見出しの 9 列より少なく") as info:
        load_facilities(facilities_with(tmp_path, short))
    issue = only_issue(info)
    assert (issue.file, issue.row) == ("facilities.csv", 3) and "「lon」" in issue.message
    no_offers = ",".join(INST_ROWS[1].split(",")[:5])
    with pytest.raises(InputError, match="必須列「offers」の値がありません") as info:
        load_institutions(institutions_with(tmp_path, no_offers))
    assert only_issue(info).row == 3


def test_excel_value_right_of_the_header(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for line in [FAC_HEADER, *FAC_ROWS]:
        ws.append(line.split(","))
    ws.cell(row=3, column=11, value="南棟")  # two columns right of the header's last (address)
    path = tmp_path / "facilities.xlsx"
    wb.save(path)
    with pytest.raises(InputError, match="11 列目まで値があり、見出しの 9 列より多く") as info:
        load_facilities(path)
    issue = only_issue(info)
    assert (issue.row, issue.value) == (3, ", 南棟") and issue.file.startswith("facilities.xlsx")


def test_prefecture_list_rows(tmp_path: Path) -> None:
    """A list with Japanese headers and no id: a row may end before its coordinates (it is placed
    at its municipality), but not have more cells than the header."""
    header = "施設種別,施設名,市区町村コード,所在地,緯度,経度"
    full = "養護老人ホーム,宿毛市養護こすもす6,392081,高知県宿毛市6-6,32.921853,132.687613"
    short = "軽費老人ホーム(A型),室戸市ケアハウスつばき23,392022,高知県室戸市5-6"
    path = _file(tmp_path / "list.csv", header, [full, short])
    assert [f.kind for f in load_facilities(path).items] == ["yogo", "keihi"]
    split = "軽費老人ホーム(A型),室戸市ケアハウスつばき23,392022,高知県室戸市浮津,5-6,33.26,134.16"
    path = _file(tmp_path / "list.csv", header, [full, split])
    with pytest.raises(InputError, match="セルが 7 個あり、見出しの 6 列より多く"):
        load_facilities(path)


# --- every command that reads the format: exit code 2, the row named, nothing done ---------------


def _cli_inputs(tmp_path: Path) -> tuple[Path, Path]:
    facilities = tmp_path / "in" / "facilities.csv"
    facilities.parent.mkdir()
    lines = (SAMPLE / "facilities.csv").read_text("utf-8-sig").splitlines()
    lines[2] = FAC_SPLIT  # file row 3
    facilities.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return facilities, SAMPLE / "institutions.csv"


def _refused(result: Result) -> None:
    assert result.exit_code == 2, result.output
    text = result.output.replace("\n", "")
    assert "facilities.csv 3行目" in text and "セルが 11 個あり" in text
    assert "Traceback" not in text


@pytest.mark.parametrize(
    "command",
    [
        ["match", "{f}", "{i}", "--out", "{out}"],
        ["report", "--facilities", "{f}", "--institutions", "{i}", "--out", "{out}"],
        ["gaps", "{f}", "{i}", "--out", "{out}"],
    ],
    ids=["match", "report", "gaps"],
)
def test_cli_refuses_a_row_with_more_cells(tmp_path: Path, command: list[str]) -> None:
    facilities, institutions = _cli_inputs(tmp_path)
    out = tmp_path / "out"
    args = [a.format(f=facilities, i=institutions, out=out) for a in command]
    _refused(runner.invoke(app, args))
    assert not out.exists() or not any(out.iterdir())


def test_db_import_csv_refuses_and_stores_nothing(tmp_path: Path) -> None:
    facilities, institutions = _cli_inputs(tmp_path)
    db = ["--db", f"sqlite:///{tmp_path / 'k.db'}"]
    assert runner.invoke(app, ["db", "upgrade", *db]).exit_code == 0
    store = open_store(db[1])
    before = snapshot(store)
    _refused(runner.invoke(app, ["db", "import-csv", str(facilities), str(institutions), *db]))
    assert snapshot(store) == before
    store.dispose()


# --- the web upload: 422 naming the row, nothing stored ------------------------------------------


@pytest.mark.parametrize("kind", ["facilities", "institutions"])
def test_web_upload_refuses_and_stores_nothing(client: TestClient, kind: str) -> None:
    h = login(client, "pref")
    header, rows, split = (
        (FAC_HEADER, FAC_ROWS, FAC_SPLIT)
        if kind == "facilities"
        else (INST_HEADER, INST_ROWS, INST_SPLIT)
    )
    body = "\n".join([header, rows[0], split, rows[2], ""]).encode("utf-8-sig")
    r = client.post(f"/api/imports/{kind}", files={"file": (f"{kind}.csv", body)}, headers=h)
    assert r.status_code == 422, r.text
    issues = r.json()["issues"]
    # The file is named as the route's temporary copy (upload.csv) until the route passes
    # ``read_table(..., name=...)``; the row and the counts are the user's.
    assert [i["row"] for i in issues] == [3]
    assert "セルが 11 個あり、見出しの 9 列より多く" in issues[0]["message"]
    for row in rows:
        assert client.get(f"/api/{kind}/{row.split(',')[0]}").status_code == 404
    assert not [a for a in client.get("/api/audit").json() if a["action"] == f"import.{kind}"]


def test_web_upload_accepts_missing_optional_cells(client: TestClient) -> None:
    h = login(client, "pref")
    short = ",".join(FAC_ROWS[1].split(",")[:8])  # the address left out
    body = "\n".join([FAC_HEADER, FAC_ROWS[0], short, ""]).encode("utf-8")
    r = client.post("/api/imports/facilities", files={"file": ("f.csv", body)}, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["rejected"]) == (2, 0)
    short = ",".join(FAC_ROWS[1].split(",")[:4])
    body = "\n".join([FAC_HEADER, short, ""]).encode("utf-8")
    r = client.post("/api/imports/facilities", files={"file": ("f.csv", body)}, headers=h)
    assert r.status_code == 422 and "必須列「lon」" in r.json()["issues"][0]["message"]
