"""Letters read as letters: sender and reply request, duty, state, contact, existing partners
never proposed as new, approximate locations flagged, legends, undeclared capacity stated."""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import pytest
from reports_case import TODAY, instance

from matcher.match import match
from matcher.reports import Sender, existing_partner_pairs, write_reports
from matcher.vocab import GeocodePrecision

SENDER = Sender(
    organisation="高知県 長寿社会課",
    person="山田",
    phone="088-823-0000",
    email="kyoryoku@example.jp",
    address="高知市丸ノ内1-2-20",
    reply_by=date(2026, 5, 15),
    reply_method="メール",
    document_number="高長第{n}号",
)


def _case():
    """F2 already files the clinic C1 as its partner; F3's point is its municipality's."""
    inst = instance()
    facs = tuple(
        dataclasses.replace(f, extra={"partner_ids": "C1"})
        if f.facility_id == "F2"
        else dataclasses.replace(f, geocode=GeocodePrecision.MUNICIPALITY)
        if f.facility_id == "F3"
        else f
        for f in inst.facilities
    )
    return dataclasses.replace(inst, facilities=facs)


@pytest.fixture(scope="module")
def unset(tmp_path_factory):
    inst = _case()
    out = tmp_path_factory.mktemp("unset")
    # Matched before F2's filing was known (as a stored run may be): C1 is proposed to F2.
    return write_reports(inst, match(instance()), out, today=TODAY, pdf="none")


def test_unset_sender_fields_print_as_placeholders(unset) -> None:
    h1 = unset.institution_pages["H1"].read_text("utf-8")
    for label in ("発信者(自治体・担当課)", "担当者", "電話", "回答期限", "回答方法"):
        assert f"【未設定: {label}】" in h1
    assert any(n.startswith("差出人") for n in unset.notes)
    assert "未設定" in (unset.out_dir / "index.html").read_text("utf-8")


def test_sender_and_reply_request(tmp_path) -> None:
    inst = _case()
    files = write_reports(inst, match(inst), tmp_path, today=TODAY, pdf="none", sender=SENDER)
    for page in [*files.institution_pages.values(), *files.facility_pages.values()]:
        html = page.read_text("utf-8")
        assert "【未設定" not in html
        assert "高知県 長寿社会課" in html and "088-823-0000" in html
        reply = "回答票に記入のうえ、<strong>令和8年5月15日(金)まで</strong>にメールでご回答"
        assert reply in html
    assert not any(n.startswith("差出人") for n in files.notes)


def test_request_shows_duty_state_contact_and_capacity(unset) -> None:
    h1 = unset.institution_pages["H1"].read_text("utf-8")
    # 宛名 as a prefecture writes it, the kind never in the name; 様 never wraps alone.
    assert '<p class="to">高知中央病院&nbsp;院長<span class="nowrap">&nbsp;様</span></p>' in h1
    assert "義務" in h1 and "協力医療機関なし" in h1 and "高知県高知市本町1-1" in h1
    assert "申告いただいた受入枠: 2施設" in h1
    c1 = unset.institution_pages.get("C1")
    if c1 is not None:  # the clinic has no declared capacity: said in the letter
        assert "上限を設けずに" in c1.read_text("utf-8")


def test_every_letter_map_has_a_legend(unset) -> None:
    for page in [*unset.institution_pages.values(), *unset.facility_pages.values()]:
        html = page.read_text("utf-8")
        assert html.count("<svg") == 1 and html.count('class="legend"') == 1, page.name


def test_approximate_location_is_flagged(unset) -> None:
    h1 = unset.institution_pages["H1"].read_text("utf-8")
    assert re.search(r"約 \d+\.\d km※", h1) and "市区町村の代表点" in h1
    f3 = unset.facility_pages["F3"].read_text("utf-8")
    assert "概略位置" in f3 and "stroke-dasharray" in f3


def test_existing_partner_is_never_proposed_as_new(tmp_path) -> None:
    inst = _case()
    assert existing_partner_pairs(inst) == {("F2", "C1")}
    result = match(inst)  # the core leaves filed partners out (issue 15)
    assert ("F2", "C1") not in {(p.facility_id, p.institution_id) for p in result.proposals}
    files = write_reports(inst, result, tmp_path, today=TODAY, pdf="none")
    f2 = files.facility_pages["F2"].read_text("utf-8")
    assert "現在の協力医療機関" in f2 and "はりまやクリニック" in f2


def test_a_stored_proposal_to_an_existing_partner_is_marked(unset) -> None:
    # A proposal made before the filing was known pairs F2 with C1: the letters must say so.
    f2 = unset.facility_pages["F2"].read_text("utf-8")
    assert "既存の協力医療機関(新規ではありません" in f2
    c1 = unset.institution_pages["C1"].read_text("utf-8")
    assert "既に貴院が協力医療機関となっている施設" in c1
    assert "グループホームあおば" in c1.split("既に貴院が")[1]


def test_comparison_with_the_greedy_baseline(unset) -> None:
    html = (unset.out_dir / "overview.html").read_text("utf-8")
    assert "この提案 vs 近い順に依頼した場合" in html
    assert "新たに全要件を満たす義務施設" in html and "提案する新たな協力関係" in html
    assert "義務施設の充足数" not in html and "新規連携数" not in html
    csv = (unset.out_dir / "csv" / "comparison.csv").read_text("utf-8-sig")
    assert csv.splitlines()[0] == "項目,この提案,近い順に依頼した場合,差"


def test_overview_has_no_empty_page(unset) -> None:
    html = (unset.out_dir / "overview.html").read_text("utf-8")
    assert "該当する施設はありません" not in html
    assert html.count('<section class="page') == 3  # summary, maps, the isolated facility


def test_workbook_is_print_ready(unset) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(unset.out_dir / "report.xlsx")
    for ws in wb.worksheets:
        assert ws.print_title_rows == "$1:$1", ws.title
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.page_setup.orientation in ("landscape", "portrait"), ws.title
    assert "近い順との比較" in wb.sheetnames
