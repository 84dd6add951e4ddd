"""Institutions' declarations applied onto institutions."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from conftest import chikamori

from matcher.model import Capability, Institution
from matcher.sources.declarations import apply_declarations, import_declarations

INSTITUTIONS = [
    chikamori(),
    Institution("H2", "高知中央病院", "hospital", 33.56, 133.53, Capability.ADMIT),
    Institution("C1", "山田医院", "clinic", 33.56, 133.53, 3),
    Institution("C2", "川口クリニック", "clinic", 33.56, 133.53, 3),
]


def test_declarations_from_excel_override_inferred_offers(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["協力医療機関の受入に関する申出"])
    ws.append([])
    ws.append(
        [
            "医療機関コード",
            "医療機関名",
            "協力医療機関となる意向",
            "新たに受け入れ可能な施設数",
            "①相談対応",
            "②診療",
            "③入院受入",
        ]
    )
    ws.append(["3910100011", "社会医療法人 近森会 近森病院", "はい", 3, "○", "×", "○"])
    ws.append(["", "高知中央病院", "いいえ", "", "", "", ""])
    ws.append(["", "山田醫院", "はい", "", "○", "○", "○"])
    ws.append(["", "存在しない病院", "はい", 2, "○", "○", "○"])
    ws.append(["", "川口クリニック", "はい", -1, "○", "○", ""])
    ws.append(["", "川口クリニック", "たぶん", 1, "○", "○", ""])
    path = tmp_path / "moushide.xlsx"
    wb.save(path)
    read = import_declarations(path)
    assert [(r.row, r.category) for r in read.rejected] == [(8, "error"), (9, "error")]
    assert "0以上の整数" in read.rejected[0].reason and "たぶん" in read.rejected[1].reason
    result = apply_declarations(INSTITUTIONS, read.items)
    got = {i.institution_id: i for i in result.items}
    assert (got["H1"].offers, got["H1"].capacity) == (Capability.CONSULT | Capability.ADMIT, 3)
    assert (got["H2"].offers, got["H2"].capacity) == (0, 0)  # not willing
    assert got["C1"].offers == Capability.CONSULT | Capability.CARE  # ③ dropped for a clinic
    assert any("③入院受入を提供できません" in w.message for w in result.warnings)
    assert got["C2"] == INSTITUTIONS[3] and "declared" not in got["C2"].extra
    assert [r.values["医療機関名"] for r in result.unmatched] == ["存在しない病院"]


def test_offers_column_and_blank_offers_keep_inferred(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "institution_id,name,willing,capacity,offers\nH1,近森病院,yes,,consult+care\n"
        "C2,川口クリニック,yes,2,\n",
        encoding="utf-8",
    )
    result = apply_declarations(INSTITUTIONS, import_declarations(path).items)
    got = {i.institution_id: i for i in result.items}
    assert (got["H1"].offers, got["H1"].capacity) == (Capability.CONSULT | Capability.CARE, None)
    assert (got["C2"].offers, got["C2"].capacity) == (3, 2)
