"""The whole chain through ``import_files``: registries → canonical CSVs → filings/declarations."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_sources_kaigo import GOOD, csv_bytes
from test_sources_kouseikyoku import meibo
from test_sources_navii import ROWS, write

from matcher._errors import InputError
from matcher.model import Capability, Status
from matcher.sources.filings import write_filing_template
from matcher.sources.importing import import_files
from matcher.sources.simple_csv import load_facilities, load_institutions
from matcher.sources.textfile import read_table

ALL = Capability.CONSULT | Capability.CARE | Capability.ADMIT


def test_chain_of_imports(tmp_path: Path) -> None:
    kaigo = tmp_path / "jigyosho_510.csv"
    kaigo.write_bytes(csv_bytes(GOOD))
    fac_csv = tmp_path / "facilities.csv"
    inst_csv = tmp_path / "institutions.csv"
    outcome = import_files("kaigo", [kaigo], fac_csv)
    assert outcome.rejects is None and len(load_facilities(fac_csv).items) == 3

    outcome = import_files("navii", [write(tmp_path / "navii.csv", ROWS)], inst_csv)
    assert outcome.rejects is not None
    assert set(read_table(outcome.rejects)["区分"]) == {"対象外", "エラー"}

    outcome = import_files(
        "kouseikyoku", [meibo(tmp_path / "meibo.xlsx")], inst_csv, institutions=inst_csv
    )
    insts = {i.institution_id: i for i in load_institutions(inst_csv).items}
    assert insts["0139201400001"].offers == ALL  # 近森病院: 支援病 + 地域包括ケア
    assert insts["0139201400002"].offers == Capability.CONSULT | Capability.CARE  # 山田醫院
    assert "未結合" in set(read_table(outcome.rejects)["区分"])

    decl = tmp_path / "declarations.csv"
    decl.write_text(
        "医療機関名,協力医療機関となる意向,受入可能施設数\n近森病院,はい,2\n", encoding="utf-8"
    )
    import_files("declarations", [decl], inst_csv, institutions=inst_csv)
    assert load_institutions(inst_csv).items[0].capacity == 2

    template = write_filing_template(tmp_path / "filings.xlsx", rows=5)
    import openpyxl

    wb = openpyxl.load_workbook(template)
    wb["届出"].append(
        ["3970100011", "青空", "介護老人福祉施設", "近森病院", "", "", "はい", "はい", "はい"]
    )
    wb["届出"].append(
        ["3950180012", "みどり", "介護老人保健施設", "山田医院", "", "", "はい", "はい", "いいえ"]
    )
    wb.save(template)
    outcome = import_files(
        "filings", [template], fac_csv, facilities=fac_csv, institutions=inst_csv
    )
    status = {f.facility_id: f.status for f in load_facilities(fac_csv).items}
    assert status == {
        "3970100011": Status.ALL,
        "3950180012": Status.PARTIAL,
        "39B0100013": Status.UNKNOWN,
    }
    assert any("出力" in line for line in outcome.lines_ja())


def test_join_sources_need_their_base_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--institutions"):
        import_files("kouseikyoku", [tmp_path / "x.xlsx"], tmp_path / "out.csv")
    with pytest.raises(InputError, match="不明な取り込み元"):
        import_files("dpc", [], tmp_path / "out.csv")  # type: ignore[arg-type]
