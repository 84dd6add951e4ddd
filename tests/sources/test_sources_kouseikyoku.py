"""地方厚生局 届出受理医療機関名簿 → flags, joined to ナビイ institutions."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from matcher.model import Capability, Institution
from matcher.sources.kouseikyoku import apply_flags, flags_of, import_kouseikyoku
from matcher.sources.names import normalize_address, normalize_name
from matcher.sources.sample_region import MEIBO_HEADER as HEADER


def meibo(path: Path) -> Path:
    wb = openpyxl.Workbook()
    cover = wb.active
    cover.title = "表紙"
    cover["A1"] = "届出受理医療機関名簿(令和7年11月1日現在)"
    ws = wb.create_sheet("高知県")
    ws["A1"] = "届出受理医療機関名簿"
    ws["A2"] = "四国厚生支局"
    ws.append([])
    ws.append(HEADER)  # row 4

    def add(n: int, number: str, name: str, address: str, standard: str, symbol: str) -> None:
        ws.append(
            [
                n,
                "高知県",
                "医科",
                number,
                "",
                name,
                "〒780-0052",
                address,
                "",
                "",
                "",
                standard,
                symbol,
                "第1号",
                "令和6年6月1日",
                "",
            ]
        )

    add(
        1,
        "0100011",
        "社会医療法人　近森会　近森病院",
        "高知市大川筋一丁目１番１６号",
        "在宅療養支援病院",
        "支援病２",
    )
    add(
        2,
        "0100011",
        "社会医療法人　近森会　近森病院",
        "高知市大川筋一丁目１番１６号",
        "地域包括ケア病棟入院料１",
        "地包ケア１",
    )
    add(3, "0200022", "山田医院", "高知市本町５－１", "在宅療養支援診療所", "支援診３")
    add(4, "0200022", "山田医院", "高知市本町５－１", "明細書発行体制等加算", "明細")
    add(5, "0300033", "髙﨑クリニック", "高知市帯屋町２－２", "在宅療養支援診療所", "支援診２")
    add(6, "0400044", "存在しない病院", "高知市どこか１", "在宅療養後方支援病院", "在後病")
    add(
        7,
        "0500055",
        "あおぞら診療所",
        "高知市桟橋通１－１",
        "協力対象施設入所者入院加算",
        "協力入院",
    )
    add(8, "0600066", "", "高知市空欄１", "在宅療養支援診療所", "支援診３")
    ws.append([])
    add(9, "0700077", "後方病院", "高知市はりまや町１－１", "在宅療養後方支援病院", "在後病")
    wb.save(path)
    return path


def inst(ident: str, name: str, kind: str, address: str, code: str = "392014") -> Institution:
    return Institution(ident, name, kind, 33.56, 133.53, 0, None, code, address)  # type: ignore[arg-type]


NAVII = [
    inst("H1", "社会医療法人 近森会 近森病院", "hospital", "高知県高知市大川筋1-1-16"),
    inst("C1", "山田醫院", "clinic", "高知県高知市本町5-1"),
    inst("C2", "高崎クリニック", "clinic", "高知県高知市帯屋町2-2"),
    inst("C3", "あおぞら診療所", "clinic", "高知県高知市桟橋通1-1"),
    inst("C4", "後方病院", "clinic", "高知県高知市はりまや町1-1"),
    inst("H9", "関係ない病院", "hospital", "高知県高知市旭町1"),
]


def test_flags_found_below_title_rows_and_merged_per_institution(tmp_path: Path) -> None:
    result = import_kouseikyoku(meibo(tmp_path / "shikoku.xlsx"))
    by_name = {f.name: f for f in result.items}
    assert by_name["社会医療法人 近森会 近森病院"].flags == {"support_hospital", "community_care"}
    assert by_name["社会医療法人 近森会 近森病院"].medical_code == "3910100011"
    assert by_name["社会医療法人 近森会 近森病院"].rows == (5, 6)
    assert by_name["山田医院"].flags == {"support_clinic"}
    assert by_name["あおぞら診療所"].is_partner_already
    assert [(r.row, r.reason) for r in result.errors] == [(12, "医療機関名称または所在地が空です")]
    assert any(w.value == "表紙" for w in result.skipped_files)
    assert result.balanced and result.counts["excluded"] == result.excluded_rows > 0
    assert result.rows_read == 9  # blank row not counted


def test_join_infers_offers_and_reports_unjoined(tmp_path: Path) -> None:
    flagged = import_kouseikyoku(meibo(tmp_path / "shikoku.xlsx")).items
    result = apply_flags(NAVII, flagged)
    got = {i.institution_id: i for i in result.items}
    assert got["H1"].offers == Capability.CONSULT | Capability.CARE | Capability.ADMIT
    assert got["H1"].extra["medical_code"] == "3910100011"
    assert got["C1"].offers == Capability.CONSULT | Capability.CARE  # 醫 = 医
    assert got["C2"].offers == Capability.CONSULT | Capability.CARE  # 髙﨑 = 高崎
    assert got["C3"].offers == 0 and got["C3"].extra["already_partner"] == "true"
    assert got["C4"].offers == 0  # 後方支援 implies admit, which a clinic cannot offer
    assert any("③入院受入は無視" in w.message for w in result.warnings)
    assert got["H9"].offers == 0 and "flags" not in got["H9"].extra
    assert [r.values["医療機関名称"] for r in result.unmatched] == ["存在しない病院"]


def test_flags_of_symbols_and_names() -> None:
    assert flags_of("在宅療養支援病院", "支援病１") == {"support_hospital"}
    assert flags_of("在宅療養後方支援病院", "在後病") == {"backup_hospital"}
    assert flags_of("地域包括ケア入院医療管理料２", "") == {"community_care"}
    assert flags_of("介護保険施設等連携往診加算", "") == {"partner_visit"}
    assert flags_of("明細書発行体制等加算", "明細") == set()


def test_normalisation_handles_kyujitai_and_corporate_prefixes() -> None:
    assert normalize_name("医療法人社団　澤田会　渡邊醫院") == normalize_name("渡辺医院")
    assert (
        normalize_name("齋藤クリニック")
        == normalize_name("斎藤クリニック")
        == normalize_name("齊藤クリニック")
    )
    assert normalize_name("德島髙﨑病院") == "徳島高崎病院"
    assert normalize_address("〒780-0052 高知県高知市大川筋一丁目１番１６号") == normalize_address(
        "高知市大川筋1-1-16"
    )
