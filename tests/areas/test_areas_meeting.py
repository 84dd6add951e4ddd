"""調整会議資料 (HTML, PDF, Excel) and the 郡市医師会 letter drawn from the hand-made area: the
numbers on paper are the view's numbers."""

from __future__ import annotations

import re
import subprocess

from areas_support import TODAY, scenario_fixture  # noqa: F401
from openpyxl import load_workbook
from reports_case import pdf_tools_or_skip

from matcher.reference_areas import TableRow, table_of_rows
from matcher.reports.meeting import (
    association_letter_html,
    meeting_html,
    meeting_tables,
    write_meeting,
)
from matcher.reports.sender import Sender
from matcher.store.area_report import area_report_of
from matcher.store.area_tables import save_table
from matcher.store.areas import get_area


def _view(store, code: str = "kousou-3901", whatif: bool = True):
    with store.read() as s:
        return area_report_of(s, get_area(s, code), today=TODAY, whatif=whatif)


def test_the_meeting_page_shows_the_view(scenario) -> None:
    store, _ = scenario
    html = meeting_html(_view(store))
    assert '<div class="v" id="n-short">7</div>' in html
    assert "あと 364 日" in html
    assert "施設F6" in html and "徳島県 県南(構想区域)" in html and "中央(構想区域)" in html
    assert "医療機関T1 の受入枠を 1 増やす" in html
    # the seed table's total row: ① 1, ② 2, ③ 0, なし 4, ④ 1, 計 8
    total = html.split('<tr class="total">')[1].split("</tr>")[0]
    assert re.findall(r'<td class="num">(\d+)</td>', total) == ["1", "2", "0", "4", "1", "8"]


def test_the_workbook_has_the_same_numbers(scenario, tmp_path) -> None:
    store, _ = scenario
    view = _view(store)
    files = write_meeting(view, tmp_path, pdf=False)
    assert files.pdf is None and files.letter_html is None
    wb = load_workbook(files.xlsx)
    assert wb.sheetnames == list(meeting_tables(view))
    summary = {r[0]: r[1] for r in wb["概要"].iter_rows(min_row=2, values_only=True)}
    assert summary["期限までの日数"] == 364
    assert summary["施設"] == 8 and summary["範囲内に医療機関がない施設"] == 1
    assert summary["申告された受入枠の残り(合計)"] == 1 and summary["広域の事例"] == 3
    cross = [r[3] for r in wb["広域"].iter_rows(min_row=2, values_only=True)]
    assert cross == ["T1", "H2", "T1"]
    assert wb["何があれば埋まるか"]["B2"].value == "医療機関T1 の受入枠を 1 増やす"
    assert wb["概要"].page_setup.fitToWidth == 1  # set up to print like the other workbooks


def test_the_association_letter_lists_gaps_members_and_a_reply_form(scenario) -> None:
    store, _ = scenario
    rows = [TableRow(k, c, "安芸郡医師会") for k, c in enumerate(("39202", "39203", "39301"), 2)]
    rows += [TableRow(5, "39202", "室戸市医師会"), TableRow(6, "39307", "芸西村医師会")]
    with store.write() as s:
        save_table(s, table_of_rows("ishikai", rows, "ishikai.csv"))
    view = _view(store, "ishikai-39-安芸郡医師会", whatif=False)
    assert {f.facility_id: f.shared_with for f in view.short} == {
        "F1": ("室戸市医師会",),
        "F5": ("室戸市医師会",),
        "F6": (),
        "F8": (),
        "F2": (),
    }
    html = association_letter_html(view, Sender(addressee="onchu"), TODAY)
    assert '安芸郡医師会<span class="nowrap">&nbsp;御中</span>' in html
    assert "【未設定: 回答期限】" in html and "【未設定: 文書番号】" in html
    members = html.split('id="letter-members"')[1].split("</table>")[0]
    # C1 only: H1 helps nobody here (F2 declined it, F1 is being contacted), T1 is in 徳島県
    assert re.findall(r"<td>(医療機関\w+)</td>", members) == ["医療機関C1"]
    assert "室戸市は室戸市医師会と共管の区域です" in html
    assert html.count("<tr><td></td>") == 5  # the reply form's blank rows


def test_meeting_and_letter_print_to_pdf(scenario, tmp_path) -> None:
    pdf_tools_or_skip()
    store, _ = scenario
    files = write_meeting(_view(store), tmp_path, letter=True, sender=Sender(addressee="onchu"))
    assert files.pdf is not None and files.letter_pdf is not None
    text = subprocess.run(
        ["pdftotext", "-layout", str(files.pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "調整会議資料" in text and "広域の事例" in text and "施設F6" in text
    letter = subprocess.run(
        ["pdftotext", str(files.letter_pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "回答票" in letter
