"""Issues 23/24: the reply request reads naturally whatever the sender's method says, and every
batch letter carries its 回答票.

- ``sender.reply_sentence`` is the one reply request of the letters, the 回答票 and the
  郡市医師会 letter: the method's own particle is kept (で / にて / より …, 「で」 added when it
  has none) and a form the method names is named once (never 「FAXででご回答ください」 or
  回答票 twice);
- every request and notice of ``kyoryoku report`` is followed by its 回答票 (replyform.html's form,
  rows from the report data): an institution's rows are the facilities its letter asks, a
  facility's the institutions proposed to it — that letter's only; no letter number, row key or
  link (no stored letter), and the form asks for this paper back by the sender's method;
- printed, the form is on its letter's own pages: after the letter, with the running head and
  the page numbers counted within the letter, every row and column on the page;
- a stored letter's form with a link still prints its link and QR code.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from reports_case import KOCHI, TODAY, at_km, instance, pdf_tools_or_skip

from matcher.match import match
from matcher.model import Facility, Instance
from matcher.reports import Sender, write_reports
from matcher.reports.pages import FACILITY_TITLE, INSTITUTION_TITLE, environment
from matcher.reports.replyform import form_html
from matcher.reports.sender import ReplyMethod, reply_sentence
from matcher.store.replies import LetterRow, LetterView
from matcher.vocab import GeocodePrecision

INSTITUTION_FORM = "協力医療機関のお願いに対する回答票"
FACILITY_FORM = "協力医療機関の提案に対する回答票"
MAKEFILE_METHOD = "同封の回答票をメール又はFAXで"  # the README's / Makefile's example
SENDER = Sender(
    organisation="高知県 子ども・福祉政策部 長寿社会課長",
    person="山田 花子",
    phone="088-823-0000",
    email="kyoryoku@example.jp",
    address="高知市丸ノ内1丁目2番20号",
    reply_by=date(2026, 5, 15),
    reply_method=MAKEFILE_METHOD,
    document_number="高長第{n}号",
    number_start=101,
)
DEADLINE_JA = "令和8年5月15日(金)"
MM = 72 / 25.4  # points per millimetre
PAGE_MARGIN_MM = 13  # report.css: @page margin
H1_PT = 14.5  # report.css: h1 (the form's title); Chromium shrinks a page whose content is too wide


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", str(html))


# -- the reply sentence --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "enclosed", "on_the_form", "without_form"),
    [
        (
            "メール又はFAX",
            "回答票に記入のうえ、{d}までにメール又はFAXでご回答ください。",
            "この用紙に記入のうえ、{d}までにメール又はFAXでご回答ください。",
            "{d}までにメール又はFAXでご回答ください。",
        ),
        (
            MAKEFILE_METHOD,
            "同封の回答票に記入のうえ、{d}までにメール又はFAXでご回答ください。",
            "この用紙に記入のうえ、{d}までにメール又はFAXでご回答ください。",
            "{d}までに同封の回答票をメール又はFAXでご提出ください。",
        ),
        (
            "メールにて",
            "回答票に記入のうえ、{d}までにメールにてご回答ください。",
            "この用紙に記入のうえ、{d}までにメールにてご回答ください。",
            "{d}までにメールにてご回答ください。",
        ),
        (
            "県の電子申請システムより",
            "回答票に記入のうえ、{d}までに県の電子申請システムよりご回答ください。",
            "この用紙に記入のうえ、{d}までに県の電子申請システムよりご回答ください。",
            "{d}までに県の電子申請システムよりご回答ください。",
        ),
        (
            " 郵送で。",
            "回答票に記入のうえ、{d}までに郵送でご回答ください。",
            "この用紙に記入のうえ、{d}までに郵送でご回答ください。",
            "{d}までに郵送でご回答ください。",
        ),
        (
            "別添の調査票をFAXにて",
            "別添の調査票に記入のうえ、{d}までにFAXにてご回答ください。",
            "この用紙に記入のうえ、{d}までにFAXにてご回答ください。",
            "{d}までに別添の調査票をFAXにてご提出ください。",
        ),
        (
            "同封の回答票",
            "同封の回答票に記入のうえ、{d}までにご回答ください。",
            "この用紙に記入のうえ、{d}までにご回答ください。",
            "{d}までに同封の回答票をご提出ください。",
        ),
    ],
    ids=["bare", "makefile", "nite", "yori", "punctuated", "other-form", "form-only"],
)
def test_the_reply_sentence_reads_naturally(
    method: str, enclosed: str, on_the_form: str, without_form: str
) -> None:
    fields = dataclasses.replace(SENDER, reply_method=method).context()
    said = {where: _plain(reply_sentence(fields, where)) for where in ("enclosed", "this", "none")}
    assert said == {
        "enclosed": enclosed.format(d=DEADLINE_JA),
        "this": on_the_form.format(d=DEADLINE_JA),
        "none": without_form.format(d=DEADLINE_JA),
    }
    for text in said.values():
        assert "でで" not in text and "にてで" not in text and "よりで" not in text
        assert text.count("回答票") <= 1 and text.count("調査票") <= 1


def test_the_method_is_split_into_the_form_it_names_and_how_it_is_sent() -> None:
    assert ReplyMethod.parse(MAKEFILE_METHOD) == ReplyMethod("同封の回答票", "メール又はFAXで")
    assert ReplyMethod.parse("メール") == ReplyMethod("", "メールで")
    # a を that does not follow a form is part of the means
    assert ReplyMethod.parse("専用フォームを使ってメールで") == ReplyMethod(
        "", "専用フォームを使ってメールで"
    )


def test_unset_deadline_and_method_print_as_placeholders_once() -> None:
    html = str(reply_sentence(Sender().context()))
    assert html == (
        '回答票に記入のうえ、<strong><span class="ph">【未設定: 回答期限】</span>まで</strong>に'
        '<span class="ph">【未設定: 回答方法】</span>でご回答ください。'
    )


def test_the_method_is_escaped() -> None:
    fields = dataclasses.replace(SENDER, reply_method="<b>メール</b>").context()
    assert "<b>" not in str(reply_sentence(fields)) and "&lt;b&gt;メール&lt;/b&gt;で" in str(
        reply_sentence(fields)
    )


def test_the_association_letter_asks_with_the_same_sentence() -> None:
    html = (
        environment()
        .get_template("association_letter.html")
        .render(
            title="ご協力のお願い",
            css="",
            number=SENDER.number_of(0),
            today="令和8年4月1日",
            to="安芸郡医師会",
            sender=SENDER.context(),
            capabilities=["①相談対応", "②診療", "③入院受入"],
            deadline="令和9年3月31日",
            days_left=364,
            municipalities="安芸市",
            by_duty=[],
            n_uncoverable=0,
            ranges_text="",
            shared=[],
            members=[],
            pending_ja="協議中",
            short=[],
            reply_rows=5,
        )
    )
    text = _plain(html)
    letter = f"同封の回答票に記入のうえ、{DEADLINE_JA}までにメール又はFAXでご回答ください。"
    form = f"この用紙に記入のうえ、{DEADLINE_JA}までにメール又はFAXでご回答ください。"
    assert text.count(letter) == 1 and text.count(form) == 1
    assert "でで" not in text


# -- the batch letters ---------------------------------------------------------------------------


def _case() -> Instance:
    """The hand-made case, F3 at its municipality's point (約 … km※), plus eight 特養 with long
    names near 高知中央病院 (capacity raised): the hospital's form has ten rows."""
    base = instance()
    facs = [
        dataclasses.replace(f, geocode=GeocodePrecision.MUNICIPALITY)
        if f.facility_id == "F3"
        else f
        for f in base.facilities
    ]
    for k in range(8):
        lat, lon = at_km(0.5 * (k % 4) - 0.7, 0.5 * (k // 4) - 0.7)
        facs.append(
            Facility(
                f"G{k}",
                f"社会福祉法人ながいなまえ福祉会 特別養護老人ホームながいなまえの里{k}",
                "tokuyo",
                lat,
                lon,
                0,
                False,
                KOCHI,
                f"高知県高知市本町{k}-1",
            )
        )
    insts = [
        dataclasses.replace(i, capacity=20) if i.institution_id == "H1" else i
        for i in base.institutions
    ]
    return Instance.of(facs, insts)


@pytest.fixture(scope="module")
def html_letters(tmp_path_factory):
    inst = _case()
    out = tmp_path_factory.mktemp("reply-html")
    return write_reports(inst, match(inst), out, today=TODAY, pdf="none", sender=SENDER)


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    pdf_tools_or_skip()
    inst = _case()
    out = tmp_path_factory.mktemp("reply-pdf")
    return write_reports(inst, match(inst), out, today=TODAY, pdf="each", sender=SENDER)


def _split(html: str) -> tuple[str, str]:
    """A letter's own section and its 回答票 section."""
    sections = re.findall(r'<section class="page (.*?)</section>', html, re.DOTALL)
    assert len(sections) == 2, [s[:40] for s in sections]
    letter, form = sections
    assert letter.startswith("letter ") and form.startswith("replyform ")
    return letter, form


NAMES = {
    **{f.facility_id: f.name for f in _case().facilities},
    **{i.institution_id: i.name for i in _case().institutions},
}


def _letter_rows(letter: str, heading: str, first_column: int) -> list[str]:
    """The names in the letter's table under ``heading`` (asked facilities / proposed
    institutions)."""
    part = letter.split(heading)[1].split("<h2>")[0]
    if "<tbody>" not in part:
        return []
    table = part.split("<tbody>")[1].split("</tbody>")[0]
    names = []
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        names.append(_plain(cells[first_column].split("<br>")[0]).strip())
    return names


def _form_rows(form: str) -> list[str]:
    table = form.split('<table class="answers">')[1].split("</table>")[0]
    return [
        _plain(re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)[1].split("<br>")[0]).strip()
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.DOTALL)
        if "colspan" not in row
    ]


def test_every_letter_is_followed_by_its_own_reply_form(html_letters) -> None:
    letters = {**html_letters.institution_pages, **html_letters.facility_pages}
    assert len(html_letters.institution_pages) >= 2 and len(html_letters.facility_pages) >= 5
    h1_rows = []
    for item_id, page in letters.items():
        html = page.read_text("utf-8")
        letter, form = _split(html)
        institution = item_id in html_letters.institution_pages
        asked = (
            _letter_rows(letter, "1 お願いする施設", 1)
            if institution
            else _letter_rows(letter, "2 提案する協力医療機関", 0)
        )
        assert _form_rows(form) == asked, item_id  # the letter's rows, in its order, no other
        if item_id == "H1":
            h1_rows = asked
        # on the letter's own pages (running head, page numbers)
        page_name = re.search(r'style="page: (letter-[^"]+)"', letter).group(1)
        assert f'style="page: {page_name}"' in form
        title = INSTITUTION_FORM if institution else FACILITY_FORM
        assert title in form
        # no stored letter: no number, no row key, no link; the paper goes back by the method
        assert "回答票番号" not in form and "整理" not in form and "<svg" not in form
        assert "Excel" not in form
        plain = _plain(form)
        assert f"この用紙に記入のうえ、{DEADLINE_JA}までにメール又はFAXでご回答ください。" in plain
        assert "への回答" in plain and "高長第" in plain  # which letter it answers
        # the letter asks with the same sentence, the form named once
        reply = f"同封の回答票に記入のうえ、{DEADLINE_JA}までにメール又はFAXでご回答ください。"
        assert reply in _plain(letter) and "でで" not in html, item_id
        if institution:
            for field in ("受入可能な施設数", "対応できる要件", "第二種協定指定医療機関"):
                assert field in plain
            assert "受入開始日" in plain and plain.count("条件付き") == len(asked) + 1
        else:
            assert "現在の協力医療機関の変更" in plain and "ご連絡先" in plain
        assert "ご担当者" in plain and "連絡先(電話・メール)" in plain
    assert len(h1_rows) == 10 and "グループホームあおば" not in h1_rows


def test_the_form_shows_distances_and_offers_as_the_letter_does(html_letters) -> None:
    _, h1 = _split(html_letters.institution_pages["H1"].read_text("utf-8"))
    assert re.search(r"約 \d+\.\d km※", h1)  # F3's approximate point, as in the letter
    assert "現在の申告: 20施設" in h1 and "現在: ①②③" in h1
    _, c1 = _split(html_letters.institution_pages["C1"].read_text("utf-8"))
    assert "現在の申告: 申告なし" in c1
    _, f3 = _split(html_letters.facility_pages["F3"].read_text("utf-8"))
    assert "届出による現在の協力医療機関: 届出なし" in _plain(f3)  # F3 never filed
    _, f4 = _split(html_letters.facility_pages["F4"].read_text("utf-8"))
    assert "今回ご提案した医療機関はありません" in f4  # nobody within range
    assert "近隣の医療機関との連携" in html_letters.facility_pages["F4"].read_text("utf-8")


# -- printed ---------------------------------------------------------------------------------------


def _pages(pdf: Path, mode: str = "-layout") -> list[str]:
    """The text of each page: ``-layout`` keeps the running head on the first line, ``-raw``
    keeps a table cell's wrapped lines together."""
    text = subprocess.run(
        ["pdftotext", mode, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]


def _squeezed(text: str) -> str:
    return "".join(text.split())


def test_every_letter_pdf_ends_with_its_reply_form_numbered_and_headed(printed) -> None:
    all_facilities = {f.name for f in _case().facilities}
    for item_id, page in {**printed.institution_pages, **printed.facility_pages}.items():
        institution = item_id in printed.institution_pages
        pdf = page.with_suffix(".pdf")
        pages = _pages(pdf)
        form_title = INSTITUTION_FORM if institution else FACILITY_FORM
        starts = [k for k, p in enumerate(pages) if form_title in _squeezed(p)]
        assert len(starts) == 1 and 0 < starts[0] < len(pages), (pdf.name, starts)
        first = starts[0]
        assert "以上" not in pages[first]  # the form starts a page of its own
        form_text = _squeezed("".join(_pages(pdf, "-raw")[first:]))
        _, form = _split(page.read_text("utf-8"))
        rows = _form_rows(form)
        for name in rows:
            assert _squeezed(name) in form_text, (pdf.name, name)
        if institution:  # the facilities of other letters never appear on this form
            others = all_facilities - set(rows)
            assert not [o for o in others if _squeezed(o) in form_text], pdf.name
            assert form_text.count("□受入可") == len(rows), pdf.name  # no row lost
        recipient = _squeezed(NAMES[item_id])
        title = INSTITUTION_TITLE if institution else FACILITY_TITLE
        for k, text in enumerate(pages, start=1):
            assert re.search(rf"^\s*-\s*{k}\s*-\s*$", text, re.MULTILINE), (pdf.name, k)
            head = _squeezed("".join(text.strip().splitlines()[:2]))
            assert title in head and recipient in head, (pdf.name, k, head)


def test_bundles_put_each_form_after_its_letter(printed) -> None:
    for bundle, title, form_title, letters in (
        ("institutions", INSTITUTION_TITLE, INSTITUTION_FORM, printed.institution_pages),
        ("facilities", FACILITY_TITLE, FACILITY_FORM, printed.facility_pages),
    ):
        pages = _pages(printed.out_dir / f"{bundle}.pdf")
        firsts = [k for k, p in enumerate(pages) if re.search(r"^\s*-\s*1\s*-\s*$", p, re.M)]
        assert len(firsts) == len(letters), bundle
        for start, end in zip(firsts, [*firsts[1:], len(pages)], strict=True):
            part = pages[start:end]
            assert title in _squeezed(part[0]) and form_title not in _squeezed(part[0])
            assert sum(form_title in _squeezed(p) for p in part) == 1, bundle


def _words(pdf: Path) -> list[tuple[int, float, float, float, float, float, float, str]]:
    """(page, width, height, xMin, yMin, xMax, yMax, word) of every word pdftotext finds."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    out = []
    for k, page in enumerate(re.findall(r"<page (.*?)</page>", html, re.DOTALL)):
        width = float(re.search(r'width="([\d.]+)"', page).group(1))
        height = float(re.search(r'height="([\d.]+)"', page).group(1))
        for box in re.findall(
            r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">'
            r"(.*?)</word>",
            page,
        ):
            x0, y0, x1, y1 = map(float, box[:4])
            out.append((k, width, height, x0, y0, x1, y1, box[4]))
    return out


def test_nothing_on_a_form_leaves_the_printable_area(printed) -> None:
    margin = PAGE_MARGIN_MM * MM - 1.5
    for page in [*printed.institution_pages.values(), *printed.facility_pages.values()]:
        pdf = page.with_suffix(".pdf")
        pages = _pages(pdf)
        form_title = (
            INSTITUTION_FORM if page in printed.institution_pages.values() else (FACILITY_FORM)
        )
        first = next(k for k, p in enumerate(pages) if form_title in _squeezed(p))
        words = [w for w in _words(pdf) if w[0] >= first]
        assert words, pdf.name
        outside = [
            (k, word)
            for k, width, _, x0, _, x1, _, word in words
            if x0 < margin or x1 > width - margin
        ]
        assert not outside, (pdf.name, outside[:5])
        # printed at full size: Chromium shrinks a page whose content is wider than the paper
        title = [
            y1 - y0 for k, _, _, _, y0, _, y1, word in words if k == first and word == form_title
        ]
        assert title and title[0] > 0.95 * H1_PT, (pdf.name, title)
        # the last column and the last row's choices are printed, not cut off
        text = _squeezed("".join(pages[first:]))
        last = "受入開始日" if page in printed.institution_pages.values() else "理由・ご意見"
        assert last in text and "備考" in text, pdf.name


# -- a stored letter with a link ------------------------------------------------------------------


def _stored_letter() -> LetterView:
    rows = tuple(
        LetterRow(
            proposal_id=100 + k,
            facility_id=f"F{k}",
            facility_name=f"特養さくら{k}",
            facility_kind="tokuyo",
            facility_address=f"高知県高知市本町{k}-1",
            institution_id="H1",
            institution_name="高知中央病院",
            institution_kind="hospital",
            institution_address="高知県高知市中央1-2",
            covers=0b111,
            km=1.0 + k,
            status="contacted",
            version=1,
            asked_status="contacted",
            asked_version=1,
            asked_covers=0b111,
        )
        for k in (1, 2)
    )
    return LetterView(
        id=12,
        run_id=3,
        area_code="39201",
        area_name="高知市",
        kind="institution",
        recipient_id="H1",
        recipient_name="高知中央病院",
        recipient_address="高知県高知市中央1-2",
        deadline=date(2026, 5, 15),
        locked=False,
        rows=rows,
        capacity=2,
        offers=0b111,
    )


def test_a_stored_letters_form_still_prints_its_link_and_qr_code(tmp_path) -> None:
    letter = _stored_letter()
    url = "https://kyoryoku.example.lg.jp/r/abc"
    html = form_html(letter, url, TODAY)
    assert url in html and html.count("<svg") == 1 and 'class="qr"' in html
    assert "回答票番号 <strong>L12</strong>" in html and "整理 101" in html and "整理 102" in html
    assert "上の QR コードからの回答でも構いません" in html and "2.0 km" in html
    assert "への回答" not in html and 'style="page:' not in html  # batch-only parts
    plain = form_html(letter, "", TODAY)
    assert "<svg" not in plain and url not in plain and "回答票番号" in plain
    pdf_tools_or_skip()
    from matcher.reports.pdf import ChromiumPrinter

    (tmp_path / "form.html").write_text(html, "utf-8")
    with ChromiumPrinter() as printer:
        printer.print_pdf(tmp_path / "form.html", tmp_path / "form.pdf")
    pages = _pages(tmp_path / "form.pdf")
    assert len(pages) == 1
    text = _squeezed(pages[0])
    assert "回答票番号L12" in text and "kyoryoku.example.lg.jp/r/abc" in text
    assert "特養さくら1" in text and "特養さくら2" in text
