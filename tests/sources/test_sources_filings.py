"""The annual 協力医療機関 filing → covered/has_partner per facility; the Excel template."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from conftest import chikamori

from matcher.model import Capability, Facility, Institution, Status
from matcher.sources.filings import (
    TEMPLATE_HEADERS,
    apply_filings,
    import_filings,
    parse_yes_no,
    write_filing_template,
)
from matcher.sources.report import write_rejects
from matcher.sources.textfile import read_table

ALL = Capability.CONSULT | Capability.CARE | Capability.ADMIT


def fac(ident: str, kind: str = "tokuyo") -> Facility:
    return Facility(ident, f"施設{ident}", kind, 33.5, 133.5)


INSTITUTIONS = [
    chikamori(),
    Institution(
        "C1", "山田医院", "clinic", 33.56, 133.53, 3, None, "392014", "高知県高知市本町5-1"
    ),
]

# A municipality's own layout: title rows, different header words, ○/× marks, cp932.
CSV = """令和7年度 協力医療機関に関する届出 一覧,,,,,,,
,,,,,,,
介護保険事業所番号,施設名称,サービス種別,協力医療機関の名称,医療機関コード,要件①,要件②,要件③
3970100011,青空,介護老人福祉施設,近森病院,3910100011,○,○,○
3970100012,みどり,介護老人保健施設,山田医院,,○,○,○
3970100013,うみ,介護医療院,,,×,×,×
3970100014,やま,介護老人福祉施設,遠くの病院,,○,×,○
3970100014,やま,介護老人福祉施設,山田醫院,,×,○,×
3970100015,かわ,特養,近森病院,,×,×,×
3970100016,そら,介護老人福祉施設,近森病院,,たぶん,○,○
,名無し,介護老人福祉施設,近森病院,,○,○,○
"""


def test_filing_csv_with_title_rows_and_synonyms(tmp_path: Path) -> None:
    path = tmp_path / "todokede.csv"
    path.write_bytes(CSV.replace("\n", "\r\n").encode("cp932"))
    result = import_filings(path, INSTITUTIONS)
    filings = {f.facility_id: f for f in result.items}
    assert filings["3970100011"].covered == ALL
    assert filings["3970100011"].partners[0].institution_id == "H1"
    # A clinic cannot provide ③, whatever the filing says.
    assert filings["3970100012"].covered == Capability.CONSULT | Capability.CARE
    assert filings["3970100013"].has_partner is False and filings["3970100013"].covered == 0
    # Two partners: union; the unknown one still counts, with a warning.
    assert filings["3970100014"].covered == ALL and len(filings["3970100014"].partners) == 2
    assert any(
        "医療機関の一覧にありません" in w.message and w.value == "遠くの病院"
        for w in result.warnings
    )
    assert filings["3970100015"].has_partner is True and filings["3970100015"].covered == 0
    reasons = {r.row: r.reason for r in result.errors}
    assert set(reasons) == {10, 11}
    assert "たぶん" in reasons[10] and "事業所番号が空" in reasons[11]
    back = read_table(write_rejects(result, tmp_path / "rejects.csv"))
    assert list(back["理由"])[0] == reasons[10]


def test_apply_filings_gives_each_status(tmp_path: Path) -> None:
    path = tmp_path / "todokede.csv"
    path.write_text(CSV, encoding="utf-8")
    filings = import_filings(path, INSTITUTIONS).items
    facilities = [
        fac("3970100011"),
        fac("3970100012"),
        fac("3970100013"),
        fac("3970100014"),
        fac("3970100015"),
        fac("3970100099"),
    ]
    result = apply_filings(facilities, filings)
    status = {f.facility_id: f.status for f in result.items}
    assert status == {
        "3970100011": Status.ALL,
        "3970100012": Status.PARTIAL,
        "3970100013": Status.NO_PARTNER,
        "3970100014": Status.ALL,
        "3970100015": Status.NONE,
        "3970100099": Status.UNKNOWN,
    }
    assert result.items[0].extra["partner_ids"] == "H1"
    assert result.unmatched == []
    extra = apply_filings(facilities[:1], filings)
    assert {r.values["事業所番号"] for r in extra.unmatched} == {
        "3970100012",
        "3970100013",
        "3970100014",
        "3970100015",
    }


def test_template_round_trip(tmp_path: Path) -> None:
    path = write_filing_template(tmp_path / "filings.xlsx", rows=20)
    wb = openpyxl.load_workbook(path)
    ws = wb["届出"]
    assert tuple(c.value for c in ws[1]) == TEMPLATE_HEADERS
    lists = {dv.formula1 for dv in ws.data_validations.dataValidation}
    assert '"はい,いいえ"' in lists and any("介護老人福祉施設" in (f or "") for f in lists)
    ws.append(
        [
            "0170100011",
            "北の園",
            "介護老人福祉施設",
            "近森病院",
            "",
            "",
            "はい",
            "はい",
            "いいえ",
            "はい",
            None,
            "近隣病院と協議中",
        ]
    )
    ws.append(
        [170100012, "南の園", "認知症対応型共同生活介護", "", "", "", "いいえ", "いいえ", "いいえ"]
    )
    wb.save(path)
    result = import_filings(path, INSTITUTIONS)
    filings = {f.facility_id: f for f in result.items}
    assert filings["0170100011"].covered == Capability.CONSULT | Capability.CARE
    assert filings["0170100011"].partners[0].infection_agreement is True
    assert filings["0170100011"].plan == "近隣病院と協議中"
    assert filings["0170100012"].has_partner is False and filings["0170100012"].kind == "gh"
    assert result.errors == []


def test_missing_columns_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("事業所番号,協力医療機関名\n3970100011,近森病院\n", encoding="utf-8")
    result = import_filings(path)
    assert result.items == []
    assert {r.reason.split("」")[0] for r in result.tables_rejected} == {
        "必須列「①相談対応",
        "必須列「②診療",
        "必須列「③入院受入",
    }


@pytest.mark.parametrize(
    "text,expected",
    [
        ("○", True),
        ("はい", True),
        ("有", True),
        ("1", True),
        ("×", False),
        ("", False),
        ("いいえ", False),
        ("無", False),
    ],
)
def test_yes_no(text: str, expected: bool) -> None:
    assert parse_yes_no(text) is expected


def test_yes_no_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="はい/いいえ"):
        parse_yes_no("多分")
