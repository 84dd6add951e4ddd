"""HTML requests, notices and overview name the right facilities; maps and the chart draw."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from reports_case import write

from matcher.reports import days_left
from matcher.reports.svgmap import Point, SvgMap


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return out, *write(out, pdf="none")


def _text(path: Path) -> str:
    return path.read_text("utf-8")


def test_one_request_per_institution_with_its_facilities(written) -> None:
    out, _, _, files, _ = written
    assert set(files.institution_pages) == {"H1", "C1"}  # H2 gets nothing: no request
    h1 = _text(files.institution_pages["H1"])
    assert "高知中央病院" in h1 and "協力医療機関となっていただくことについて(依頼)" in h1
    assert "特養さくら" in h1 and "老健みどり" in h1
    assert "グループホームあおば" not in h1
    assert "高知県高知市本町1-1" in h1 and "1.4 km" in h1
    assert "④届出なし(不明)" in h1  # F3 has no filing
    assert h1.count('<section class="page letter institution"') == 1
    assert "<svg" in h1 and "@page" in h1
    c1 = _text(files.institution_pages["C1"])
    assert "グループホームあおば" in c1 and "特養さくら" not in c1
    assert "上限を設けずに" in c1
    # Only ② is asked of the clinic: one ○ in the ② column.
    row = re.search(r"<tr><td class=\"num\">1</td>.*?</tr>", c1, re.DOTALL).group(0)
    assert re.findall(r"<td class=\"mark\">(.*?)</td>", row) == ["", "○", ""]
    bundle = _text(out / "institutions.html")
    assert bundle.count('<section class="page letter institution"') == 2


def test_one_notice_per_facility_that_lacks_something(written) -> None:
    out, _, _, files, _ = written
    assert set(files.facility_pages) == {"F1", "F2", "F3", "F4"}  # F5 already has everything
    f1 = _text(files.facility_pages["F1"])
    assert "特養さくら" in f1 and "高知中央病院" in f1 and "①全ての要件を満たす" in f1
    f2 = _text(files.facility_pages["F2"])
    assert "はりまやクリニック" in f2
    assert "代替候補" in f2 and "高知中央病院" in f2  # the alternative
    f4 = _text(files.facility_pages["F4"])
    assert "範囲内に提供できる医療機関なし" in f4
    assert "四万十遠方病院" in f4 and "40.0 km" in f4
    assert (out / "facilities.html").read_text("utf-8").count(
        '<section class="page letter facility"'
    ) == 4


def test_overview(written) -> None:
    out = written[0]
    html = _text(out / "overview.html")
    assert "高知県 協力医療機関の提案 概要" in html
    assert "あと 364 日" in html
    assert "特養やまびこ" in html and "四万十遠方病院 40.0 km" in html
    assert "data:image/png;base64," in html
    assert html.count("<circle") == 10  # every facility on both maps (now, after)
    assert "<polygon" in html and ">高知市</text>" in html  # prefecture outline, place names
    assert (out / "chart_status.png").read_bytes().startswith(b"\x89PNG")
    index = _text(out / "index.html")
    assert "institutions/高知中央病院_H1.html" in index
    assert "facilities/特養やまびこ_F4.html" in index
    assert "高知市(依頼 2 件・お知らせ 3 件)" in index
    assert "檮原町(依頼 0 件・お知らせ 1 件)" in index
    assert "Chromium" not in index


def test_progress_reports_each_stage(written) -> None:
    stages = written[4]
    assert ("institutions", 2, 2) in stages and ("facilities", 4, 4) in stages
    assert {s for s, _, _ in stages} >= {
        "workbook",
        "csv",
        "overview",
        "institutions",
        "facilities",
    }


def test_html_is_escaped(tmp_path) -> None:
    from dataclasses import replace

    from reports_case import instance

    from matcher.match import match
    from matcher.reports import write_reports

    inst = instance()
    facs = tuple(
        replace(f, name="<b>特養&さくら</b>") if f.facility_id == "F1" else f
        for f in inst.facilities
    )
    inst = replace(inst, facilities=facs)
    files = write_reports(inst, match(inst), tmp_path, today=date(2026, 4, 1), pdf="none")
    html = files.facility_pages["F1"].read_text("utf-8")
    assert "&lt;b&gt;特養&amp;さくら&lt;/b&gt;" in html and "<b>特養" not in html


def test_days_left() -> None:
    assert days_left(date(2027, 3, 31)) == 0
    assert days_left(date(2026, 4, 1)) == 364
    assert days_left(date(2027, 4, 1)) == -1


def test_map_keeps_far_islands_off_the_overview() -> None:
    mainland = [Point(35.68 + k * 0.01, 139.70 + k * 0.01, "#000") for k in range(30)]
    island = Point(27.09, 142.19, "#f00")  # 小笠原村
    m = SvgMap(400, 400, [*mainland, island], clip_outliers=True)
    svg = m.render()
    assert m.outside == 1 and svg.count("<circle") == 30
    unclipped = SvgMap(400, 400, [*mainland, island])
    assert unclipped.render().count("<circle") == 31 and unclipped.outside == 0


def test_chart_has_a_japanese_font_or_falls_back(written, monkeypatch) -> None:
    from reports_case import TODAY, run

    from matcher.reports import chart
    from matcher.reports.tables import ReportData

    inst, result = run()
    data = ReportData(inst, result, TODAY)
    # With a Japanese font: no "Glyph … missing" warning (warnings are errors in this suite).
    if chart.japanese_font() is not None:
        assert chart.status_chart_png(data).startswith(b"\x89PNG")
    # Without one: ASCII labels, still no missing glyphs.
    monkeypatch.setattr(chart, "japanese_font", lambda: None)
    assert chart.status_chart_png(data).startswith(b"\x89PNG")


def test_a_japanese_font_is_installed_on_ci() -> None:
    import os

    from matcher.reports.chart import japanese_font

    if japanese_font() is None:
        reason = "日本語フォントがありません (apt-get install fonts-noto-cjk)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    assert Path(japanese_font()).is_file()


def test_offers_unknown_warning_in_overview_index_and_workbook(tmp_path) -> None:
    """Issue 12: a run whose institutions' offers are unknown says so in every report."""
    import openpyxl
    from conftest import fac, inst

    from matcher.match import match
    from matcher.model import Instance
    from matcher.reports import write_reports
    from matcher.result import OFFERS_UNKNOWN_WARNING_JA

    instance = Instance.of([fac("F", "tokuyo", 0, 0)], [inst("H", "hospital", 1, 0, offers=0)])
    result = match(instance)
    assert result.warnings_ja
    files = write_reports(instance, result, tmp_path, today=date(2026, 4, 1), pdf="none")
    head = OFFERS_UNKNOWN_WARNING_JA.split("{n}")[0]
    for name in ("overview", "index"):
        assert 'class="warning"' in _text(files.files[name]) and head in _text(files.files[name])
    first = next(
        openpyxl.load_workbook(files.files["workbook"])["概要"].iter_rows(
            values_only=True, min_row=2
        )
    )
    assert first[0] == "警告" and str(first[1]).startswith(head)
