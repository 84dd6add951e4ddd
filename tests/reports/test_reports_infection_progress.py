"""Reports on 第二種協定指定医療機関 (overview rows, the 集計 columns, the facility notices) and
on the progress over filing years (workbook sheets, CSV, overview block) — issue 16."""

from __future__ import annotations

import dataclasses

import openpyxl
from reports_case import KOCHI, TODAY, YUSUHARA, instance

from matcher.fonts import missing_font_note
from matcher.match import match
from matcher.model import Instance
from matcher.progress import progress_of
from matcher.reports import write_reports
from matcher.reports.pages import facility_context
from matcher.reports.tables import ReportData
from matcher.vocab import Status


def flagged_case() -> Instance:
    """H1 is a 第二種協定指定医療機関; F2's filed partner is one."""
    base = instance()
    facs = [
        dataclasses.replace(f, extra={"infection_partner": "true"}) if f.facility_id == "F2" else f
        for f in base.facilities
    ]
    insts = [
        dataclasses.replace(i, extra={"infection_agreement": "true"})
        if i.institution_id == "H1"
        else i
        for i in base.institutions
    ]
    return Instance.of(facs, insts)


def years():
    """高知市 improves (F1 ② → ①, F3 ④ → ①); 梼原町 stays."""
    filed = {
        "F1": {2024: Status.PARTIAL, 2025: Status.ALL},
        "F2": {2024: Status.PARTIAL, 2025: Status.PARTIAL},
        "F3": {2025: Status.ALL},
        "F4": {2024: Status.PARTIAL, 2025: Status.PARTIAL},
        "F5": {2024: Status.ALL, 2025: Status.ALL},
    }
    facs = [(f.facility_id, f.municipality_code, f.kind) for f in instance().facilities]
    return progress_of(facs, filed)


def test_overview_status_table_and_notices_name_the_agreement_hospitals() -> None:
    inst = flagged_case()
    result = match(inst)
    assert {p.facility_id for p in result.proposals if p.institution_id == "H1"} == {"F1", "F3"}
    data = ReportData(inst, result, TODAY)
    rows = dict(data.overview_table().itertuples(index=False))
    assert rows["第二種協定指定医療機関(新興感染症)の数"] == 1
    assert rows["現在 第二種協定指定医療機関を協力医療機関に含む施設"] == 1
    assert rows["提案後 第二種協定指定医療機関を協力医療機関に含む施設"] == 3
    assert rows["うち第二種協定指定医療機関への提案"] == 2
    assert rows["第二種協定指定医療機関の優先"] == "なし"
    whole = data.status_table()
    total = whole[(whole["市区町村"] == "(全体)") & (whole["施設種別"] == "計")].iloc[0]
    assert (total["現在 第二種協定あり"], total["提案後 第二種協定あり"]) == (1, 3)

    f1 = facility_context(data, data.facility["F1"])
    assert not f1["infection_now"] and f1["infection_after"]
    assert [p["infection"] for p in f1["proposals"]] == [True]
    assert facility_context(data, data.facility["F2"])["infection_now"]


def test_workbook_csv_and_overview_show_progress_and_good_practices(tmp_path) -> None:
    inst = flagged_case()
    files = write_reports(
        inst, match(inst), tmp_path, today=TODAY, pdf="none", filing_years=years()
    )
    wb = openpyxl.load_workbook(tmp_path / "report.xlsx", read_only=True)
    assert "年度別推移" in wb.sheetnames and "好事例の候補" in wb.sheetnames
    good = list(wb["好事例の候補"].iter_rows(values_only=True))
    assert good[0][:2] == ("市区町村", "施設数") and good[0][-1] == "市区町村コード"
    assert [r[-1] for r in good[1:]] == [KOCHI[:5]]  # 梼原町 did not improve
    assert good[1][4] == 50.0  # ① 50 % → 100 %: +50.0 points
    assert (tmp_path / "csv" / "progress_by_year.csv").is_file()
    overview = (tmp_path / "overview.html").read_text("utf-8")
    assert "年度別の推移" in overview and "好事例の候補(令和6年度→令和7年度" in overview
    count = '<tr><th>第二種協定指定医療機関(新興感染症)の数</th><td class="num">1</td></tr>'
    assert count in overview
    facility = (tmp_path / "facilities.html").read_text("utf-8")
    assert "第二種協定指定医療機関" in facility and 'class="sub infection"' in facility
    # Only the unset sender fields and, on a machine without Japanese fonts, that notice.
    assert all("未設定" in n or n == missing_font_note() for n in files.notes)


def test_without_years_nothing_about_progress(tmp_path) -> None:
    inst = instance()
    write_reports(inst, match(inst), tmp_path, today=TODAY, pdf="none")
    wb = openpyxl.load_workbook(tmp_path / "report.xlsx", read_only=True)
    assert "年度別推移" not in wb.sheetnames
    assert "年度別の推移" not in (tmp_path / "overview.html").read_text("utf-8")
    assert YUSUHARA  # the case has two municipalities
