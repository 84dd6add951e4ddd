"""The broken-file corpus of issue 12: every file a careless hand (or a cut download) produces.

Each case is a file, the source it is imported as, and what must happen: the exit code of
``kyoryoku import`` and a message naming the file (or, for files that are accepted, the counts).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from matcher._errors import InputError
from matcher.cli import app
from matcher.sources.importing import import_files
from matcher.sources.simple_csv import load_facilities, load_institutions, write_facilities
from matcher.sources.textfile import read_table

REAL = Path(__file__).parents[1] / "data" / "real" / "kaigo"
KAIGO_HEADER = (
    "都道府県コード又は市町村コード,No,都道府県名,市区町村名,事業所名,事業所名カナ,サービスの種類,"
    "住所,方書（ビル名等）,緯度,経度,電話番号,FAX番号,法人番号,法人の名称,事業所番号,利用可能曜日,"
    "利用可能曜日特記事項,定員,URL,高齢者の方と障害者の方が同時一体的に利用できるサービス,"
    "介護保険の通常の指定基準を満たしている,障害福祉の通常の指定基準を満たしている,備考"
)
KAIGO_ROW = (
    "392014,1,高知県,高知市,特別養護老人ホーム 例,,介護老人福祉施設,高知市本町1-1,,"
    "33.559,133.531,,,,,3970000001,,,50,,,,,"
)
NAVII_HEADER = (
    '"ID","正式名称","正式名称（フリガナ）","略称","略称（フリガナ）","英語表記（ローマ字表記）",'
    '"機関区分","都道府県コード","市区町村コード","所在地","所在地座標（緯度）","所在地座標（経度）",'
    '"案内用ホームページアドレス","一般病床","療養病床","合計病床数"'
)
NAVII_ROWS = (
    '"3911010000001","高知大学医学部附属病院","","","","","1","39","386","高知県南国市岡豊町小蓮",'
    '0.0,0.0,"","600","0","613"\r\n'
    '"3911010000002","例 診療所","","","","","2","39","201","高知県高知市本町1-1",'
    '33.559,133.531,"","","",""\r\n'
)

SPECIALITY = '"ID","診療科目名"\r\n"1","内科"\r\n'.encode("utf-8-sig")


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _kaigo_csv(rows: int = 1) -> bytes:
    body = "\n".join(
        KAIGO_ROW.replace("3970000001", f"39700000{n:02d}").replace(",1,", f",{n},", 1)
        for n in range(1, rows + 1)
    )
    return f"{KAIGO_HEADER}\n{body}\n".encode("utf-8-sig")


def _xlsx(rows: list[list[object]], sheet: str = "一覧") -> bytes:
    buf = io.BytesIO()
    width = max(len(r) for r in rows)
    padded = [list(r) + [""] * (width - len(r)) for r in rows]
    pd.DataFrame(padded).to_excel(buf, sheet_name=sheet, header=False, index=False)
    return buf.getvalue()


def _navii_xlsx_header_on_row_7() -> bytes:
    header = [h.strip('"') for h in NAVII_HEADER.split(",")]
    row = ["3911010000009", "例病院", "", "", "", "", "1", "39", "201", "高知県高知市本町2-2"]
    row += ["33.56", "133.53", "", "50", "0", "50"]
    title = [["医療情報ネット 施設票 (高知県抜粋)"], ["令和7年12月1日現在"], [], [], [], []]
    return _xlsx(title + [header, row])


# name → (file name, bytes, source, exit code, message fragment or counts)
Case = tuple[str, Callable[[], bytes], str, int, str | dict[str, int]]
CASES: dict[str, Case] = {
    "zip_with_several_csvs_reads_every_member": (
        "kaigo.zip",
        lambda: _zip(
            {
                "jigyosho_510.csv": _kaigo_csv(2),
                "jigyosho_334.csv": (REAL / "jigyosho_334_hokkaido.csv").read_bytes(),
                "説明.pdf": b"%PDF-1.4",
            }
        ),
        "kaigo",
        0,
        {"read": 23, "accepted": 23, "rejected": 0, "excluded": 0},
    ),
    "navii_zip_with_speciality_member_reads_the_facility_table": (
        "01-1_hospital_facility_info_20251201.zip",
        lambda: _zip(
            {
                "01-1_hospital_facility_info_20251201.csv": (
                    NAVII_HEADER + "\r\n" + NAVII_ROWS
                ).encode("utf-8-sig"),
                "01-2_hospital_speciality_hours_20251201.csv": SPECIALITY,
            }
        ),
        "navii",
        0,
        {"read": 2, "accepted": 2, "rejected": 0, "excluded": 0},
    ),
    "nested_zip": (
        "outer.zip",
        lambda: _zip({"inner.zip": _zip({"jigyosho_510.csv": _kaigo_csv()})}),
        "kaigo",
        2,
        "圧縮ファイルの中に圧縮ファイル「inner.zip」",
    ),
    "truncated_zip": (
        "cut.zip",
        lambda: _zip({"jigyosho_510.csv": _kaigo_csv(50)})[:300],
        "kaigo",
        2,
        "cut.zip",
    ),
    "corrupt_zip": ("bad.zip", lambda: b"PK\x03\x04" + b"\x00" * 40, "navii", 2, "bad.zip"),
    "truncated_gzip": (
        "jigyosho_510.csv.gz",
        lambda: gzip.compress(_kaigo_csv(50))[:120],
        "kaigo",
        2,
        "gzip",
    ),
    "zip_bomb_refused_by_ratio": (
        "bomb.zip",
        lambda: _zip({"jigyosho_510.csv": b"0" * (12 * 1024 * 1024)}),
        "kaigo",
        2,
        "上限を超えます",
    ),
    "zip_without_tables": ("docs.zip", lambda: _zip({"a.pdf": b"%PDF"}), "kaigo", 2, "ありません"),
    "empty_file": ("jigyosho_510.csv", lambda: b"", "kaigo", 2, "空です"),
    "header_only_kaigo": (
        "jigyosho_510.csv",
        lambda: (KAIGO_HEADER + "\n").encode("utf-8-sig"),
        "kaigo",
        2,
        "見出し行だけでデータ行がありません",
    ),
    "header_only_navii": (
        "hospital.csv",
        lambda: (NAVII_HEADER + "\r\n").encode("utf-8-sig"),
        "navii",
        2,
        "見出し行だけでデータ行がありません",
    ),
    "no_header_kaigo": (
        "jigyosho_510.csv",
        lambda: b"1,2,3\n4,5,6\n",
        "kaigo",
        2,
        "見出し行 (事業所名・事業所番号) が先頭 30 行に見つかりません",
    ),
    "navii_file_given_as_kaigo": (
        "hospital.csv",
        lambda: (NAVII_HEADER + "\r\n" + NAVII_ROWS).encode("utf-8-sig"),
        "kaigo",
        2,
        "取り込み元の種類とファイルが合っているか",
    ),
    "duplicated_column": (
        "jigyosho_510.csv",
        lambda: (KAIGO_HEADER + ",緯度\n" + KAIGO_ROW + ",34.0\n").encode("utf-8"),
        "kaigo",
        2,
        "列「緯度」が複数あります",
    ),
    "navii_excel_header_on_row_7": (
        "hospital.xlsx",
        _navii_xlsx_header_on_row_7,
        "navii",
        0,
        {"read": 1, "accepted": 1, "rejected": 0, "excluded": 0},
    ),
    "kaigo_cp932_with_title_rows": (
        "jigyosho_510.csv",
        lambda: ("介護サービス情報公表 抜粋\n\n" + KAIGO_HEADER + "\n" + KAIGO_ROW + "\n").encode(
            "cp932", errors="replace"
        ),
        "kaigo",
        0,
        {"read": 1, "accepted": 1, "rejected": 0, "excluded": 0},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_file_corpus(tmp_path: Path, case: str) -> None:
    name, make, source, code, expected = CASES[case]
    path = tmp_path / name
    path.write_bytes(make())
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["import", source, str(path), "--out", str(out)])
    assert result.exit_code == code, result.output
    if isinstance(expected, str):
        shown = result.output.replace("\n", "")  # rich wraps long lines
        assert expected in shown and name.split(".")[0] in shown
        assert "Traceback" not in result.output
        return
    outcome = import_files(source, [path], tmp_path / "again.csv")
    counts = outcome.read.counts
    assert {k: counts[k] for k in expected} == expected
    assert outcome.balanced
    assert "読込" in result.output and out.with_name("out.issues.csv").exists()


def test_zip_member_passed_over_is_named_in_the_issue_report(tmp_path: Path) -> None:
    path = tmp_path / "kaigo.zip"
    path.write_bytes(_zip({"jigyosho_510.csv": _kaigo_csv(), "説明.pdf": b"%PDF"}))
    outcome = import_files("kaigo", [path], tmp_path / "f.csv")
    issues = read_table(outcome.issues_path)
    assert list(issues.columns) == [
        "file",
        "sheet",
        "row",
        "column",
        "value",
        "severity",
        "message",
    ]
    passed = issues[issues["sheet"] == "説明.pdf"]
    assert len(passed) == 1 and passed.iloc[0]["severity"] == "excluded"


def test_navii_zero_coordinates_fall_back_with_a_row_message(tmp_path: Path) -> None:
    path = tmp_path / "hospital.csv"
    path.write_bytes((NAVII_HEADER + "\r\n" + NAVII_ROWS).encode("utf-8-sig"))
    outcome = import_files("navii", [path], tmp_path / "i.csv")
    issues = read_table(outcome.issues_path)
    fallback = issues[issues["severity"] == "fallback"]
    assert fallback["row"].tolist() == ["2"] and "代表点" in fallback.iloc[0]["message"]
    insts = {i.institution_id: i for i in load_institutions(tmp_path / "i.csv").items}
    assert insts["3911010000001"].geocode == "municipality"
    assert "代表点" in "\n".join(outcome.lines_ja())


# --- the simple format: field rules consistent with the store on both databases ---------------

SIMPLE = "facility_id,name,kind,lat,lon,covered,municipality_code,address\n"


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("F1,a,tokuyo,inf,133.5,,,", "lat", "有限の数値ではありません"),
        ("F1,a,tokuyo,NaN,133.5,,,", "lat", "有限の数値ではありません"),
        ("F1," + "長" * 301 + ",tokuyo,33.5,133.5,,,", "name", "上限 300 文字"),
        ("F" + "1" * 40 + ",a,tokuyo,33.5,133.5,,,", "facility_id", "上限 40 文字"),
        ("F1,a,tokuyo,33.5,133.5,,123456789,", "municipality_code", "市区町村コードではありません"),
        ("F1,a\x00b,tokuyo,33.5,133.5,,,", "name", "制御文字 (U+0000)"),
        ("F1,a\x07b,tokuyo,33.5,133.5,,,", "name", "制御文字 (U+0007)"),
    ],
)
def test_simple_facility_field_rules(tmp_path: Path, row: str, column: str, fragment: str) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(SIMPLE + row + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_facilities(path)
    issue = exc.value.issues[0]
    assert (issue.file, issue.row, issue.column) == ("facilities.csv", 2, column)
    assert fragment in issue.message


@pytest.mark.parametrize(
    ("capacity", "fragment"),
    [("inf", "有限の数値"), ("nan", "有限の数値"), ("1e12", "大きすぎます"), ("-1", "負の値")],
)
def test_simple_institution_capacity_rules(tmp_path: Path, capacity: str, fragment: str) -> None:
    path = tmp_path / "institutions.csv"
    path.write_text(
        "institution_id,name,kind,lat,lon,offers,capacity\n"
        f"I1,病院,hospital,33.5,133.5,consult,{capacity}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as exc:
        load_institutions(path)
    issue = exc.value.issues[0]
    assert (issue.row, issue.column) == (2, "capacity") and fragment in issue.message


def test_two_lat_columns_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(
        "facility_id,name,kind,lat,lon,lat\nF1,a,tokuyo,33.5,133.5,34\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match="列「lat」が複数あります"):
        load_facilities(path)


def test_header_only_simple_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(SIMPLE, encoding="utf-8")
    with pytest.raises(InputError, match="見出し行だけ"):
        load_facilities(path)


def test_invisible_characters_and_hyphens_do_not_make_a_new_id(tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(SIMPLE + "\u200b39－0001,a,tokuyo,33.5,133.5,,,\n", encoding="utf-8")
    (fac,) = load_facilities(path).items
    assert fac.facility_id == "39-0001"


def test_formula_like_names_come_out_as_text_and_back_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(SIMPLE + 'F1,"=HYPERLINK(""x"")",tokuyo,33.5,133.5,,,\n', encoding="utf-8")
    facs = load_facilities(path).items
    assert facs[0].name == '=HYPERLINK("x")'
    out = write_facilities(facs, tmp_path / "out.csv")
    assert "'=HYPERLINK" in out.read_text(encoding="utf-8-sig")
    assert load_facilities(out).items[0].name == '=HYPERLINK("x")'


# --- the prefecture's own 養護/軽費 list --------------------------------------------------------

LIST_HEADER = ["施設種別", "施設名", "所在地", "市区町村コード", "緯度", "経度"]
LIST_ROWS = [
    [
        "養護老人ホーム",
        "高知市養護老人ホーム",
        "高知県高知市本町1-1",
        "392014",
        "33.559",
        "133.531",
    ],
    ["軽費老人ホーム(A型)", "例 A型", "高知県南国市岡豊町1", "392049", "", ""],
    ["ケアハウス", "例 ケアハウス", "高知県四万十市中村1", "392103", "33.0", "132.9"],
]


@pytest.mark.parametrize("form", ["xlsx", "cp932", "utf-8"])
def test_prefecture_list_of_yogo_and_keihi(tmp_path: Path, form: str) -> None:
    if form == "xlsx":
        path = tmp_path / "養護軽費一覧.xlsx"
        path.write_bytes(_xlsx([["令和7年4月1日現在"], [], LIST_HEADER, *LIST_ROWS]))
    else:
        path = tmp_path / "養護軽費一覧.csv"
        text = "\n".join(",".join(r) for r in [LIST_HEADER, *LIST_ROWS]) + "\n"
        path.write_bytes(text.encode(form))
    loaded = load_facilities(path)
    assert [f.kind for f in loaded.items] == ["yogo", "keihi", "keihi"]
    assert loaded.items[1].geocode == "municipality"  # blank 緯度・経度 → 南国市の代表点
    assert any(getattr(w, "kind", "") == "fallback" for w in loaded.warnings)
    assert len({f.facility_id for f in loaded.items}) == 3
    again = load_facilities(path)
    assert [f.facility_id for f in again.items] == [f.facility_id for f in loaded.items]


# --- 名簿, filings and declarations: header rules too -----------------------------------------

MEIBO_HEADER = (
    "項番,都道府県名,医療機関番号,医療機関名称,医療機関所在地（住所）,受理届出名称,受理記号\n"
)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (MEIBO_HEADER, "見出し行だけ"),
        ("タイトルだけの表\n1,2,3\n", "見出し行(医療機関名称・受理届出名称)"),
        (MEIBO_HEADER.replace("受理記号", "受理届出名称"), "列「受理届出名称」が複数あります"),
    ],
)
def test_meibo_without_usable_header_stops_the_import(
    tmp_path: Path, text: str, fragment: str
) -> None:
    institutions = tmp_path / "institutions.csv"
    institutions.write_text(
        "institution_id,name,kind,lat,lon,offers\nI1,病院,hospital,33.5,133.5,\n", encoding="utf-8"
    )
    meibo = tmp_path / "meibo.csv"
    meibo.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "import",
            "kouseikyoku",
            str(meibo),
            "--institutions",
            str(institutions),
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert fragment in result.output.replace("\n", "") and "meibo.csv" in result.output
