"""Issue 24: letters a prefecture would sign and outputs that read in Japanese.

- 和暦: every date in 令和 (元年 at the era's first day), 年度 in 令和;
- a request letter: 文書番号 (one sequence per run), date, 宛名 as a prefecture writes it, 時下
  opening, body, 記 … 以上, 担当 block, Japanese spacing; a notice says what is proposed, what to
  do, how and by when to answer; the 回答票 block prints nothing while there is none;
- the sender's options are checked first: a deadline before the letter or already past, or a
  field left blank (unless explicitly allowed), is an error with exit code 2;
- printed pages: every page of every PDF has the letter's name, its page number and content of
  its own, and no word outside the page (legends are never cut);
- maps: labels never overlap and stay inside the frame;
- workbooks print at 70 % or more on A4 when fitted to the page width.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from reports_case import KOCHI, TODAY, at_km, instance, pdf_tools_or_skip
from typer.testing import CliRunner

from matcher.cli import app
from matcher.match import match
from matcher.model import Facility, Instance
from matcher.reports import Sender, write_reports
from matcher.reports.pages import FACILITY_TITLE, INSTITUTION_TITLE
from matcher.reports.sender import SenderError
from matcher.reports.svgmap import Place, Point, SvgMap
from matcher.sources.simple_csv import write_facilities, write_institutions
from matcher.wareki import nendo, wareki
from matcher.wareki import today as today_jp

SENDER = Sender(
    organisation="高知県 子ども・福祉政策部 長寿社会課長",
    person="山田 花子",
    phone="088-823-0000",
    email="kyoryoku@example.jp",
    address="高知市丸ノ内1丁目2番20号",
    reply_by=date(2026, 5, 15),
    reply_method="メール又はFAX",
    document_number="高長第{n}号",
    number_start=101,
)

# -- 和暦 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 12, 31), "令和元年12月31日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(2026, 12, 6), "令和8年12月6日"),
        (date(2027, 3, 31), "令和9年3月31日"),
    ],
)
def test_wareki(day: date, text: str) -> None:
    assert wareki(day) == text


def test_wareki_with_the_western_year_and_the_weekday() -> None:
    assert wareki(date(2026, 12, 6), western=True) == "令和8年(2026年)12月6日"
    assert wareki(date(2026, 5, 15), weekday=True) == "令和8年5月15日(金)"
    assert wareki(date(2019, 5, 1), weekday=True) == "令和元年5月1日(水)"


@pytest.mark.parametrize(
    ("year", "text"),
    [(2018, "平成30年度"), (2019, "令和元年度"), (2024, "令和6年度"), (1989, "平成元年度")],
)
def test_nendo(year: int, text: str) -> None:
    assert nendo(year) == text


def test_nendo_with_the_western_year_and_days_before_showa() -> None:
    assert nendo(2024, western=True) == "令和6年度(2024年度)"
    with pytest.raises(ValueError, match="昭和より前"):
        wareki(date(1926, 12, 24))


# -- the letters ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def letters(tmp_path_factory):
    out = tmp_path_factory.mktemp("letters")
    inst = instance()
    return write_reports(inst, match(inst), out, today=TODAY, pdf="none", sender=SENDER)


def _html(path: Path) -> str:
    return path.read_text("utf-8")


def _text(html: str) -> str:
    """The letter's words: the body without tags, styles and scripts."""
    body = re.sub(r"<style>.*?</style>", "", html.split("<body>", 1)[1], flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body)).replace("&nbsp;", " ")


def test_request_letter_has_the_parts_of_an_official_letter(letters) -> None:
    h1 = _html(letters.institution_pages["H1"])
    text = _text(h1)
    # Letters are numbered in the index's order (C1, H1, then the notices), from 101.
    assert "高長第102号" in text and "令和8年4月1日" in text
    assert '<p class="to">高知中央病院&nbsp;院長<span class="nowrap">&nbsp;様</span></p>' in h1
    assert "高知県 子ども・福祉政策部 長寿社会課長" in text and "(公印省略)" in text
    assert INSTITUTION_TITLE in text and text.index("時下") > text.index(INSTITUTION_TITLE)
    parts = ['<p class="ki">記</p>', '<p class="ijo">以上</p>', "(担当)", "担当者 山田 花子"]
    positions = [h1.index(p) for p in parts]
    assert positions == sorted(positions)  # 記, the requests, 以上, then 担当
    assert "電話 088-823-0000" in text and "所在地 高知市丸ノ内1丁目2番20号" in text
    assert "令和8年5月15日(金)まで" in text and "令和6年度の介護報酬改定" in text
    assert "経過措置が令和9年3月31日まで" in text


def test_every_letter_has_its_own_number_and_no_kind_in_the_name(letters) -> None:
    pages = [*letters.institution_pages.values(), *letters.facility_pages.values()]
    numbers = [re.search(r"高長第(\d+)号", _html(p)).group(1) for p in pages]
    assert sorted(map(int, numbers)) == list(range(101, 101 + len(pages)))
    for page in pages:
        to = re.search(r'<p class="to">(.*?)</p>', _html(page)).group(1)
        assert "(病院)" not in to and "(診療所)" not in to and "御中" not in to


def test_japanese_spacing_and_era_years(letters) -> None:
    for page in [*letters.institution_pages.values(), *letters.facility_pages.values()]:
        text = _text(_html(page))
        assert not re.search(r"\d 施設", text), page.name
        assert not re.search(r"日 まで", text), page.name
        assert not re.search(r"20\d\d年", text), page.name  # years in 令和 only
    assert "2施設(うち義務2施設)" in _text(_html(letters.institution_pages["H1"]))


def test_notice_says_what_is_proposed_what_to_do_and_how_to_answer(letters) -> None:
    f1 = _text(_html(letters.facility_pages["F1"]))
    assert "特養さくら 施設長 様" in f1 and FACILITY_TITLE in f1
    assert "協力医療機関の候補としてご提案します" in f1  # what and why
    assert "貴施設では①②③が不足しているため" in f1
    assert "上記2の医療機関に連絡し、協定の締結についてご協議ください" in f1  # what to do
    assert "回答票に記入のうえ、令和8年5月15日(金)までにメール又はFAXでご回答ください" in f1
    f4 = _text(_html(letters.facility_pages["F4"]))  # nobody can take it within range
    assert "お引き受けいただける医療機関が見つかりませんでした" in f4
    assert "協力医療機関の候補としてご提案します" not in f4


def test_reply_block_prints_nothing_until_there_is_a_reply_form() -> None:
    from matcher.reports.pages import facility_context, render_letter
    from matcher.reports.tables import ReportData

    inst = instance()
    data = ReportData(inst, match(inst), TODAY, SENDER)
    context = facility_context(data, data.facility["F1"])
    assert context["reply_form"] is None and "reply-block" not in render_letter(context)
    filled = render_letter({**context, "reply_form": "回答票: 締結した / 協議中"})
    assert '<div class="reply-block">回答票: 締結した / 協議中</div>' in filled


def test_addressee_to_the_organisation(tmp_path) -> None:
    inst = instance()
    sender = replace(SENDER, addressee="onchu", document_number="事務連絡")
    files = write_reports(inst, match(inst), tmp_path, today=TODAY, pdf="none", sender=sender)
    h1 = _html(files.institution_pages["H1"])
    assert '<p class="to">高知中央病院<span class="nowrap">&nbsp;御中</span></p>' in h1
    assert "院長" not in re.search(r'<p class="to">(.*?)</p>', h1).group(1)
    assert '<div class="docno">事務連絡<br>' in h1  # without {n}: the same on every letter


def test_overview_and_workbook_count_increments_and_speak_japanese(letters) -> None:
    overview = _text(_html(letters.files["overview"]))
    assert "新たに全要件を満たす義務施設" in overview and "提案する新たな協力関係" in overview
    assert "義務施設の充足数" not in overview and "新規連携数" not in overview
    assert "作成日 令和8年4月1日" in overview and "2026年" not in overview
    wb = load_workbook(letters.files["workbook"])
    summary = {r[0]: r[1] for r in wb["概要"].iter_rows(min_row=2, values_only=True)}
    assert summary["作成日"] == "令和8年(2026年)4月1日"
    assert summary["方式"].startswith("最適化(")
    assert summary["提案する新たな協力関係"] == 3


# -- options checked before anything is written ------------------------------------------------


def test_sender_problems() -> None:
    letter = date(2026, 4, 1)
    early = Sender(reply_by=date(2026, 3, 31))
    assert early.problems(letter, today=letter) == [
        "回答期限 令和8年3月31日 が文書の日付 令和8年4月1日 より前です"
    ]
    late = Sender(reply_by=date(2026, 4, 10))
    assert late.problems(letter, today=date(2026, 4, 1)) == []
    assert late.problems(letter, today=date(2026, 4, 11)) == [
        "回答期限 令和8年4月10日 は既に過ぎています(今日は 令和8年4月11日)"
    ]
    with pytest.raises(SenderError, match="差出人・回答の項目が未設定です: .*所在地"):
        late.check(letter, today=letter)
    late.check(letter, today=letter, allow_missing=True)  # placeholders kept
    SENDER.check(date(2026, 4, 1), today=date(2026, 4, 1))
    with pytest.raises(SenderError, match="連番の位置は"):
        Sender(document_number="高長第{0}号").check(letter, today=letter, allow_missing=True)
    with pytest.raises(SenderError, match="宛名の形式「sama」は使えません"):
        Sender(addressee="sama")  # type: ignore[arg-type]


runner = CliRunner()


def _options(reply_by: date, **drop: bool) -> list[str]:
    given = {
        "--sender-org": "高知県 長寿社会課長",
        "--sender-person": "山田",
        "--sender-phone": "088-823-0000",
        "--sender-email": "kyoryoku@example.jp",
        "--sender-address": "高知市丸ノ内1-2-20",
        "--reply-by": reply_by.isoformat(),
        "--reply-method": "メール",
        "--document-number": "高長第{n}号",
    }
    return [
        x for k, v in given.items() if not drop.get(k.strip("-").replace("-", "_")) for x in (k, v)
    ]


def _report(tmp_path: Path, *options: str):
    inst = instance()
    facs = write_facilities(inst.facilities, tmp_path / "facilities.csv")
    insts = write_institutions(inst.institutions, tmp_path / "institutions.csv")
    args = ["report", "--facilities", str(facs), "--institutions", str(insts)]
    return runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "--pdf", "none", *options])


@pytest.mark.parametrize(
    ("letter_day", "reply_day", "drop", "message"),
    [
        (0, -1, {}, "より前です"),
        (-20, -10, {}, "は既に過ぎています"),
        (0, 30, {"sender_address": True}, "所在地 (--sender-address)"),
        (0, 30, {"document_number": True}, "文書番号 (--document-number)"),
    ],
    ids=["before-the-letter", "already-past", "no-address", "no-number"],
)
def test_report_command_refuses_letters_that_cannot_be_sent(
    tmp_path: Path, letter_day: int, reply_day: int, drop: dict[str, bool], message: str
) -> None:
    today = today_jp()
    letter = today + timedelta(days=letter_day)
    r = _report(
        tmp_path,
        "--date",
        letter.isoformat(),
        *_options(letter + timedelta(days=reply_day - letter_day), **drop),
    )
    assert r.exit_code == 2 and message in r.output, r.output
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_report_command_with_every_option_and_with_the_flag(tmp_path: Path) -> None:
    today = today_jp()
    r = _report(tmp_path, "--date", today.isoformat(), *_options(today + timedelta(days=30)))
    assert r.exit_code == 0, r.output
    h1 = _html(tmp_path / "out" / "institutions" / "高知中央病院_H1.html")
    assert "【未設定" not in h1 and "高長第2号" in h1
    r = _report(tmp_path, "--date", today.isoformat(), "--allow-missing-sender")
    assert r.exit_code == 0, r.output
    assert "【未設定: 所在地】" in _html(tmp_path / "out" / "institutions" / "高知中央病院_H1.html")
    r = _report(tmp_path, "--allow-missing-sender", "--addressee", "sama")
    assert r.exit_code == 2 and "宛名の形式「sama」は使えません" in r.output


# -- printed pages -------------------------------------------------------------------------------


def _crowded() -> Instance:
    """The hand-made case plus 26 特養 near 高知中央病院 that have a partner covering nothing
    (the longest status, in every map legend): the hospital's request runs to two pages."""
    base = instance()
    extra = []
    for k in range(26):
        lat, lon = at_km(0.4 * (k % 6) - 1, 0.4 * (k // 6) - 1)
        extra.append(
            Facility(
                f"G{k:02d}",
                f"特別養護老人ホームながいなまえの里{k:02d}",
                "tokuyo",
                lat,
                lon,
                0,
                True,
                KOCHI,
                f"高知県高知市本町{k}-1",
            )
        )
    insts = [replace(i, capacity=40) if i.institution_id == "H1" else i for i in base.institutions]
    return Instance.of([*base.facilities, *extra], insts)


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    pdf_tools_or_skip()
    out = tmp_path_factory.mktemp("printed")
    inst = _crowded()
    return write_reports(inst, match(inst), out, today=TODAY, pdf="each", sender=SENDER)


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]  # each page ends with a form feed


def _own_content(page: str, running: list[str]) -> str:
    """A page's text without its running head and page number."""
    lines = [
        line
        for line in page.splitlines()
        if not re.fullmatch(r"\s*(-\s*\d+\s*-|\d+\s*/\s*\d+)\s*", line)
        and not any(r in line for r in running)
    ]
    return "".join("".join(lines).split())


def test_every_letter_page_is_named_numbered_and_has_content(printed) -> None:
    h1 = printed.institution_pages["H1"].with_suffix(".pdf")
    assert len(_pages(h1)) >= 2  # the long request is numbered page by page
    letters = [p for p in printed.pdfs if p.parent.name in ("institutions", "facilities")]
    assert len(letters) == len(printed.institution_pages) + len(printed.facility_pages)
    for pdf in letters:
        name = pdf.stem.rsplit("_", 1)[0]
        title = INSTITUTION_TITLE if pdf.parent.name == "institutions" else FACILITY_TITLE
        for k, page in enumerate(_pages(pdf), start=1):
            assert re.search(rf"^\s*-\s*{k}\s*-\s*$", page, re.MULTILINE), (pdf.name, k)
            assert title in page and name in page, (pdf.name, k)
            head = [title, f"{name} 院長 様", f"{name} 施設長 様"]
            assert len(_own_content(page, head)) >= 20, (pdf.name, k, page)


def test_every_bundle_and_overview_page_is_numbered_and_has_content(printed) -> None:
    bundles = {
        "institutions": (INSTITUTION_TITLE, printed.institution_pages),
        "facilities": (FACILITY_TITLE, printed.facility_pages),
    }
    for bundle, (title, letters) in bundles.items():
        pages = _pages(printed.out_dir / f"{bundle}.pdf")
        assert len(pages) >= len(letters)
        for k, page in enumerate(pages, start=1):
            assert re.search(r"^\s*-\s*\d+\s*-\s*$", page, re.MULTILINE) and title in page, k
    overview = _pages(printed.out_dir / "overview.pdf")
    for k, page in enumerate(overview, start=1):
        assert re.search(rf"^\s*{k}\s*/\s*{len(overview)}\s*$", page, re.MULTILINE), k
        assert "協力医療機関の提案 概要" in page
        assert len(_own_content(page, ["協力医療機関の提案 概要"])) >= 100, (k, page)


def _words(pdf: Path) -> list[tuple[float, float, float, str]]:
    """(page width, xMin, xMax, word) of every word pdftotext finds."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    out = []
    for page in re.findall(r"<page (.*?)</page>", html, re.DOTALL):
        width = float(re.search(r'width="([\d.]+)"', page).group(1))
        for x0, x1, word in re.findall(
            r'<word xMin="([\d.-]+)" yMin="[\d.-]+" xMax="([\d.-]+)" yMax="[\d.-]+">(.*?)</word>',
            page,
        ):
            out.append((width, float(x0), float(x1), word))
    return out


def test_no_word_leaves_the_page_and_legends_are_whole(printed) -> None:
    from matcher.vocab import Status

    for pdf in printed.pdfs:
        outside = [w for width, x0, x1, w in _words(pdf) if x0 < 0 or x1 > width]
        assert not outside, (pdf.name, outside[:5])
    # The longest legend label of a notice, closing parenthesis included.
    g00 = "".join(_pages(printed.facility_pages["G00"].with_suffix(".pdf"))[0].split())
    assert f"貴施設(現在:{Status.NONE.heading_ja})" in g00


# -- maps --------------------------------------------------------------------------------------


def _label_boxes(svg: str, css_class: str = "") -> list[tuple[float, float, float, float]]:
    """Boxes of the map's <text> labels, estimated here independently: one em per full-width
    character, 0.6 em otherwise, one em tall above the baseline."""
    pattern = (
        r'<text class="place" x="([\d.-]+)" y="([\d.-]+)" font-size="([\d.]+)"[^>]*>(.*?)</text>'
        if css_class == "place"
        else r'<text x="([\d.-]+)" y="([\d.-]+)" font-size="([\d.]+)"[^>]*>(.*?)</text>'
    )
    boxes = []
    for x, y, size, text in re.findall(pattern, svg):
        s = float(size)
        w = sum(s if ord(ch) > 0x2E7F else 0.6 * s for ch in text)
        boxes.append((float(x), float(y) - 0.88 * s, float(x) + w, float(y) + 0.12 * s))
    return boxes


def _overlapping(boxes) -> list[tuple[int, int]]:
    return [
        (a, b)
        for a in range(len(boxes))
        for b in range(a + 1, len(boxes))
        if boxes[a][0] < boxes[b][2] - 0.5
        and boxes[b][0] < boxes[a][2] - 0.5
        and boxes[a][1] < boxes[b][3] - 0.5
        and boxes[b][1] < boxes[a][3] - 0.5
    ]


def test_place_names_never_overlap_and_stay_inside_the_frame() -> None:
    # 40 town names on top of each other (a dense city) and two far apart for the extent.
    places = [
        Place(33.56 + 0.001 * (k % 5), 133.53 + 0.001 * (k // 5), f"町名{k}番地") for k in range(40)
    ]
    points = [Point(33.4, 133.3, "#000"), Point(33.7, 133.8, "#000")]
    m = SvgMap(300, 240, points, places=places)
    svg = m.render()
    boxes = _label_boxes(svg, "place")
    assert not _overlapping(boxes)
    assert all(0 <= b[0] and b[2] <= 300 and 0 <= b[1] and b[3] <= 240 for b in boxes)
    assert m.dropped > 0 and len(boxes) + m.dropped == 40


def test_marker_labels_are_never_dropped_and_move_out_with_a_leader() -> None:
    # Twelve facilities at one address: every number is drawn, apart, some on a leader line.
    points = [Point(33.56, 133.53, "#c62828", label=str(k)) for k in range(1, 13)]
    points += [Point(33.50, 133.45, "#1565c0", "square", size=5), Point(33.62, 133.61, "#000")]
    svg = SvgMap(250, 190, points).render()
    boxes = _label_boxes(svg)
    labels = re.findall(r'<text x="[\d.-]+" y="[\d.-]+" font-size="9"[^>]*>(\d+)</text>', svg)
    assert sorted(map(int, labels)) == list(range(1, 13))
    assert not _overlapping(boxes)
    assert 'class="leader"' in svg


# -- workbooks -----------------------------------------------------------------------------------

A4_MM = {"portrait": 210.0, "landscape": 297.0}


def _scale(ws) -> float:
    """The scale Excel prints a sheet at when fitted to one page wide, from its column widths
    (Excel's rule: a column of width w is trunc((256 w + trunc(128/7)) / 256 × 7) pixels)."""
    px = sum(
        int((256 * ws.column_dimensions[get_column_letter(k)].width + 18) / 256 * 7)
        for k in range(1, ws.max_column + 1)
    )
    margins = ws.page_margins.left + ws.page_margins.right
    printable = (A4_MM[ws.page_setup.orientation] / 25.4 - margins) * 96
    return min(1.0, printable / px)


def _print_ready(path: Path) -> dict[str, float]:
    wb = load_workbook(path)
    scales = {}
    for ws in wb.worksheets:
        assert int(ws.page_setup.paperSize) == 9, ws.title  # A4
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert all(c.alignment.wrap_text for c in ws[1]), ws.title
        scales[ws.title] = _scale(ws)
    return scales


def test_report_workbook_prints_at_70_percent_or_more(tmp_path) -> None:
    from matcher.cli.common import load_instance

    sample = Path(__file__).resolve().parents[2] / "data" / "sample"
    inst = load_instance(sample / "facilities.csv", sample / "institutions.csv")
    files = write_reports(inst, match(inst), tmp_path, today=TODAY, pdf="none")
    scales = _print_ready(files.files["workbook"])
    assert len(scales) > 30  # one sheet per municipality of the sample's 高知県
    small = {t: round(s, 2) for t, s in scales.items() if s < 0.70}
    assert not small, small
    # Long text wraps instead of running out of its column.
    ws = load_workbook(files.files["workbook"])["代替候補"]
    assert ws.max_row > 100


def test_export_workbook_puts_japanese_headers_first_and_prints_at_70_percent(tmp_path) -> None:
    # As wide as the store's facility export (22 columns, most of them codes that never wrap).
    from matcher.store.export import write_xlsx

    wide = pd.DataFrame(
        {
            "facility_id": [f"F{k}" for k in range(30)],
            "name": [f"特別養護老人ホーム{k}" for k in range(30)],
            "covered_filed": ["consult+care"] * 30,
            "lat": [33.5612345] * 30,
            "lon": [133.5312345] * 30,
            "address": ["高知県高知市丸ノ内一丁目二番二十号 高知県庁西庁舎" * 2] * 30,
            **{f"code_{k}": ["consult+care"] * 30 for k in range(8)},
            "施設種別": ["認知症対応型共同生活介護"] * 30,
            "不足している要件": ["③入院受入"] * 30,
            "状況": ["③協力医療機関はあるが要件を満たさない" * 3] * 30,
        }
    )
    write_xlsx({"facilities": wide}, tmp_path / "export.xlsx")
    header = [c.value for c in load_workbook(tmp_path / "export.xlsx")["施設"][1]]
    assert header[:4] == ["name", "施設種別", "不足している要件", "状況"]
    assert header[4:6] == ["facility_id", "covered_filed"]
    assert _print_ready(tmp_path / "export.xlsx")["施設"] >= 0.70
