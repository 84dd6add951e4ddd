"""Reference-area tables: the bundled 構想区域 of all 47 prefectures, the rules every table
passes (``reference_areas.table_of_rows``) and the file formats (``sources.area_tables``)."""

from __future__ import annotations

import csv
from collections import Counter
from importlib import resources

import pytest
from areas_support import SAMPLE

from matcher._errors import InputError
from matcher.reference import municipalities
from matcher.reference_areas import (
    BUNDLED_FILE,
    TableRow,
    bundled_table,
    code_of_key,
    table_of_rows,
)
from matcher.sources.area_tables import read_area_table, write_area_table


def _bundled_lines() -> list[dict[str, str]]:
    text = resources.files("matcher").joinpath(BUNDLED_FILE).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def test_every_bundled_municipality_belongs_to_exactly_one_area() -> None:
    lines = _bundled_lines()
    per_code = Counter(r["市区町村コード"] for r in lines)
    assert max(per_code.values()) == 1 and len(per_code) == 1915
    table = bundled_table()
    assert len(table.areas) == 339 and len(table.prefectures) == 47
    assert table.shared() == {} and table.warnings == ()
    members = Counter(m for a in table.areas for m in a.members)
    assert set(members) == set(per_code) and set(members.values()) == {1}
    # Every area lies in its prefecture and carries the prefecture's code.
    assert all({m[:2] for m in a.members} == {a.code[:2]} for a in table.areas)


def test_bundled_codes_exist_in_the_municipality_list_with_their_names() -> None:
    known = {m.code5: m.name for m in municipalities()}
    lines = _bundled_lines()
    assert [r for r in lines if known.get(r["市区町村コード"]) != r["市区町村"]] == []
    # Only 川崎市's own code is left out (its wards lie in two 構想区域).
    assert set(known) - {r["市区町村コード"] for r in lines} == {"14130"}
    assert {r["出典"] for r in lines} == {"A38-20", "三重県資料", "政令市"}


def test_the_sample_prefecture_has_its_four_areas() -> None:
    kochi = bundled_table("高知県")
    got = {a.key: (a.name, len(a.members)) for a in kochi.areas}
    assert got == {
        "kousou-3901": ("安芸", 9),
        "kousou-3902": ("中央", 14),
        "kousou-3903": ("高幡", 5),
        "kousou-3904": ("幡多", 6),
    }
    assert kochi.areas_of("392014")[0].name == "中央"
    assert bundled_table("39") == kochi


def test_a_municipality_in_two_kousou_areas_is_refused_with_its_place() -> None:
    rows = [
        TableRow(2, "39201", "中央"),
        TableRow(3, "39202", "安芸"),
        TableRow(4, "39201", "安芸"),
    ]
    with pytest.raises(InputError, match="高知市 が二つ以上の構想区域にあります"):
        table_of_rows("kousou", rows, "plan.csv")


def test_a_split_municipality_belongs_to_both_associations() -> None:
    rows = [
        TableRow(2, "39204", "長岡郡医師会"),
        TableRow(3, "39204", "香美医師会"),
        TableRow(4, "39341", "長岡郡医師会"),
    ]
    table = table_of_rows("ishikai", rows, "ishikai.csv")
    assert {a.name: a.members for a in table.areas} == {
        "長岡郡医師会": ("39204", "39341"),
        "香美医師会": ("39204",),
    }
    assert table.shared() == {"39204": ("ishikai-39-長岡郡医師会", "ishikai-39-香美医師会")}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [TableRow(2, "3920x", "中央")],
            "2行目 列「市区町村コード」 値「3920x」: 市区町村コードが不正",
        ),
        ([TableRow(5, "39201", "")], "5行目 列「構想区域」: 構想区域の名前がありません"),
        (
            [TableRow(2, "39201", "中央", "3902"), TableRow(3, "39202", "安芸", "3902")],
            "構想区域コード 3902 が「中央」と「安芸」の二つに使われています",
        ),
        ([TableRow(2, "39201", "中央", "39-2")], "コードは英数字で"),
        ([], "構想区域の行が一つもありません"),
    ],
)
def test_bad_rows_are_reported_with_row_and_column(rows, message) -> None:
    with pytest.raises(InputError, match=message):
        table_of_rows("kousou", rows, "plan.csv")


def test_unknown_codes_and_names_are_warnings() -> None:
    rows = [TableRow(2, "22138", "西部"), TableRow(3, "22131", "西部", "", "浜松市東区")]
    table = table_of_rows("kousou", rows, "plan.csv")
    assert [w.row for w in table.warnings] == [2, 3]
    assert "参照表 (japancode) にない" in str(table.warnings[0])
    assert "浜松市中区" in str(table.warnings[1])


def test_keys_keep_prefectures_apart_and_give_the_code_back() -> None:
    rows = [TableRow(2, "39201", "高知市医師会", "01"), TableRow(3, "36201", "徳島市医師会", "01")]
    table = table_of_rows("ishikai", rows, "x.csv")
    keys = [a.key for a in table.areas]
    assert keys == ["ishikai-36-01", "ishikai-39-01"]
    assert [code_of_key("ishikai", k, a.name) for k, a in zip(keys, table.areas, strict=True)] == [
        "01",
        "01",
    ]
    assert code_of_key("kousou", "kousou-3901", "安芸") == "3901"
    assert code_of_key("kousou", "kousou-39-中央", "中央") == ""


def test_a_prefecture_plan_table_reads_by_header_name_in_cp932(tmp_path) -> None:
    path = tmp_path / "plan.csv"
    path.write_bytes(
        "団体コード,市町村名,二次医療圏\n392014,高知市,中央\n39202,室戸市,安芸\n".encode("cp932")
    )
    table = read_area_table(path, "kousou")
    assert [(a.name, a.members) for a in table.areas] == [
        ("中央", ("39201",)),
        ("安芸", ("39202",)),
    ]


def test_a_table_without_the_area_column_names_what_it_has(tmp_path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("市区町村コード,備考\n39201,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="必須列「構想区域」が見つかりません"):
        read_area_table(path, "kousou")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_then_import_gives_the_same_table(tmp_path, suffix) -> None:
    table = read_area_table(SAMPLE, "ishikai")
    path = write_area_table(table, tmp_path / f"ishikai{suffix}")
    assert read_area_table(path, "ishikai") == table


def test_the_kochi_association_sample_covers_every_municipality() -> None:
    table = read_area_table(SAMPLE, "ishikai")
    kochi = {m.code5 for m in municipalities() if m.prefecture == "高知県"}
    assert {m for a in table.areas for m in a.members} == kochi
    assert len(table.areas) == 7 and table.warnings == ()
    assert list(table.shared()) == ["39204"]  # 南国市, shared by two associations
