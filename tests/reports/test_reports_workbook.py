"""The coordinator's workbook and the CSV exports hold the hand-made run's rows and values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from reports_case import write


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return out, *write(out, pdf="none")


# The summary's status columns, in order (each once for 現在 and once for 提案後).
STATUS_COLUMNS = (
    "①全ての要件を満たす",
    "②要件の一部を満たす",
    "③協力医療機関はあるが要件を満たさない",
    "協力医療機関なし",
    "④届出なし(不明)",
)


def _rows(ws) -> list[dict[str, object]]:
    values = list(ws.iter_rows(values_only=True))
    header = values[0]
    return [dict(zip(header, row, strict=False)) for row in values[1:]]


def test_workbook_sheets_in_order(written) -> None:
    out = written[0]
    wb = load_workbook(out / "report.xlsx")
    assert wb.sheetnames == [
        "概要",
        "集計",
        "未充足",
        "未充足の理由別",
        "周辺に医療機関が少ない",
        "医療機関別",
        "提案一覧",
        "代替候補",
        "近い順との比較",
        "高知市",
        "檮原町",
    ]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), ws.title
        assert ws["A1"].font.b, ws.title


def test_summary_in_seed_table_form(written) -> None:
    wb = load_workbook(written[0] / "report.xlsx")
    rows = _rows(wb["集計"])
    total = next(r for r in rows if r["市区町村"] == "(全体)" and r["施設種別"] == "計")
    assert total["施設数"] == 5
    before = [total[f"現在 {k}"] for k in STATUS_COLUMNS]
    after = [total[f"提案後 {k}"] for k in STATUS_COLUMNS]
    assert before == [1, 2, 0, 1, 1]
    assert after == [4, 1, 0, 0, 0]
    assert total["現在 ①の割合"] == pytest.approx(0.2)
    assert total["提案後 ①の割合"] == pytest.approx(0.8)
    tokuyo_yusuhara = next(r for r in rows if r["市区町村"] == "檮原町")
    assert (tokuyo_yusuhara["市区町村コード"], tokuyo_yusuhara["施設種別"]) == (
        "394050",
        "介護老人福祉施設",
    )
    assert tokuyo_yusuhara["提案後 ②要件の一部を満たす"] == 1
    # Numbers are numbers, percentages formatted as such.
    ws = wb["集計"]
    header = [c.value for c in ws[1]]
    col = header.index("施設数") + 1
    assert all(isinstance(ws.cell(r, col).value, int) for r in range(2, ws.max_row + 1))
    pct = ws.cell(2, header.index("提案後 ①の割合") + 1)
    assert isinstance(pct.value, float) and pct.number_format == "0.0%"


def test_municipality_sheet_lists_every_facility_with_its_proposal(written) -> None:
    wb = load_workbook(written[0] / "report.xlsx")
    rows = {r["施設ID"]: r for r in _rows(wb["高知市"])}
    assert set(rows) == {"F1", "F2", "F3", "F5"}
    f1 = rows["F1"]
    assert (f1["提案1 医療機関名"], f1["提案1 対応する要件"], f1["提案後の状況"]) == (
        "高知中央病院",
        "①②③",
        "①全ての要件を満たす",
    )
    assert isinstance(f1["提案1 距離(km)"], float) and f1["提案1 距離(km)"] == pytest.approx(1.4)
    assert (
        rows["F2"]["提案1 医療機関名"] == "はりまやクリニック"
        and rows["F2"]["提案1 対応する要件"] == "②"
    )
    assert "代替候補" not in rows["F2"]  # one row per alternative in their own sheet
    alternatives = _rows(wb["代替候補"])
    f2 = [(r["順位"], r["医療機関名"]) for r in alternatives if r["施設ID"] == "F2"]
    assert f2 == [(1, "高知中央病院")]  # the hospital could also give ②
    proposals = {(r["施設ID"], r["医療機関ID"]) for r in _rows(wb["提案一覧"])}
    assert proposals == {("F1", "H1"), ("F2", "C1"), ("F3", "H1")}
    assert rows["F3"]["届出なし"] == "届出なし"
    assert rows["F5"]["提案1 医療機関名"] is None and rows["F5"]["不足していた要件"] is None
    f4 = _rows(wb["檮原町"])[0]
    assert (f4["施設名"], f4["未充足の要件"]) == ("特養やまびこ", "③")
    assert "範囲内に提供できる医療機関なし" in f4["未充足の理由"]
    # A name fits its column (full-width characters count double) or wraps in a taller row.
    ws = wb["高知市"]
    header = [c.value for c in ws[1]]
    col = header.index("施設名") + 1
    width = ws.column_dimensions[chr(ord("A") + col - 1)].width
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == "F2")
    if width < len("グループホームあおば") * 2:
        assert ws.cell(row, col).alignment.wrap_text and ws.row_dimensions[row].height > 20


def test_gap_sheets(written) -> None:
    wb = load_workbook(written[0] / "report.xlsx")
    uncovered = _rows(wb["未充足"])
    assert [(r["施設ID"], r["要件"], r["理由コード"]) for r in uncovered] == [
        ("F4", "③入院受入", "no_candidate")
    ]
    isolated = _rows(wb["周辺に医療機関が少ない"])
    assert [(r["順位"], r["最寄り医療機関名"]) for r in isolated] == [
        (1, "四万十遠方病院"),
        (2, "高知中央病院"),
    ]
    assert isolated[0]["距離(km)"] == pytest.approx(40.0, abs=0.2)
    assert isolated[0]["範囲(km)"] == 30
    reasons = {r["理由"]: r for r in _rows(wb["未充足の理由別"])}
    assert reasons["範囲内に提供できる医療機関なし"]["③入院受入"] == 1
    insts = {r["医療機関ID"]: r for r in _rows(wb["医療機関別"])}
    assert set(insts) == {"H1", "C1"}
    assert (insts["H1"]["依頼する施設数"], insts["H1"]["受入枠"], insts["H1"]["残り枠"]) == (
        2,
        2,
        0,
    )
    assert insts["C1"]["受入枠"] is None and insts["C1"]["受入枠の申告"] == "申告なし(上限なし)"
    overview = {r["項目"]: r["値"] for r in _rows(wb["概要"])}
    assert overview["経過措置の期限(令和9年3月31日)までの日数"] == 364
    assert overview["対象地域"] == "高知県"


def test_csv_exports_have_bom_and_the_same_tables(written) -> None:
    out: Path = written[0] / "csv"
    for name in (
        "proposals",
        "unmatched",
        "alternatives",
        "status_by_kind",
        "facility_report",
        "institution_requests",
        "uncovered",
        "isolated",
        "overview",
    ):
        assert (out / f"{name}.csv").read_bytes().startswith(b"\xef\xbb\xbf"), name
    facs = pd.read_csv(
        out / "facility_report.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False
    )
    assert list(facs["施設名"]) == [
        "特養さくら",
        "グループホームあおば",
        "老健みどり",
        "特養やまびこ",
        "ケアハウスつばき",
    ]
    assert facs.loc[0, "提案1 医療機関名"] == "高知中央病院"
    status = pd.read_csv(out / "status_by_kind.csv", encoding="utf-8-sig")
    total = status[(status["市区町村"] == "(全体)") & (status["施設種別"] == "計")].iloc[0]
    assert total["提案後 ①全ての要件を満たす"] == 4
    props = pd.read_csv(out / "proposals.csv", encoding="utf-8-sig", dtype=str)
    assert list(props["institution_id"]) == ["H1", "C1", "H1"]


def test_sheet_titles_are_valid_and_unique() -> None:
    from matcher.reports.workbook import sheet_title

    taken: set[str] = set()
    assert sheet_title("府中市", taken) == "府中市"
    assert sheet_title("府中市", taken) == "府中市_2"
    assert sheet_title("a/b:c*" + "x" * 40, taken) == ("a_b_c_" + "x" * 40)[:31]
