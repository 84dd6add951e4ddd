"""The reply form (回答票) of a letter: printed, as a pre-filled Excel file, and read back.

- ``reply_block(url, deadline)``: the block a letter prints about answering online — the link, its
  QR code as inline SVG and short instructions (the letters' template places it where its
  ``reply_block`` placeholder is);
- ``form_html(letter, url)``: the printable form in the letters' style (one A4 page for most
  letters), to enclose with the letter; ``form_fields``/``form_row`` are what the form shows, also
  for the batch letters of ``kyoryoku report`` (``pages``: no stored letter, so no code, no key
  and no link — the paper form asks for an answer by the sender's method);
- ``form_workbook(letter, key)``: the same form as an Excel file: only the answer cells are
  unlocked, the sheet is protected, choices come from lists, and a very hidden sheet carries the
  letter's id, its rows and an HMAC-SHA256 checksum of them under the service's secret key;
- ``read_form(data, name, key)``: a returned file read back into a ``LetterAnswer``, refused
  (``InputError`` with the cell) when it is not one of ours, when its rows were edited or moved,
  when the checksum does not match (a form copied for another letter's rows), or when a cell
  holds what its list does not offer.

Sheet protection only keeps honest users from editing the wrong cells (any tool removes it);
what proves that a file belongs to its letter is the checksum, which cannot be made without the
key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from .._errors import InputError, RowIssue
from ..model import FACILITY_KINDS
from ..sources.cells import safe_cell
from ..sources.limits import DEFAULT_LIMITS, ArchiveLimits, verify_archive
from ..store.replies import (
    ANSWER_CODES,
    ANSWER_LABELS_JA,
    MAX_PARTNER_CHANGES,
    PARTNER_CHANGES_JA,
    LetterAnswer,
    LetterRow,
    LetterView,
    PartnerChange,
    RowAnswer,
)
from ..vocab import CAPABILITIES, FacilityKind, InstitutionKind
from ..wareki import today as today_jp
from .templating import css, environment

FORM_MARK = "kyoryoku-reply-form"
FORM_VERSION = 1
META_SHEET = "_kyoryoku"
SHEET = "回答票"
MAX_FORM_BYTES = 2 * 1024 * 1024  # a form is ~10 KB; a larger file is not one of ours
FORM_LIMITS = ArchiveLimits(max_total_bytes=20 * 1024 * 1024, max_members=200)
HEADER_ROW = 7
PARTNER_ROWS = 3  # blank rows a facility's form offers for changes of its partners
YES, NO = "はい", "いいえ"
NO_PARTNER_NAMES_JA = "(届出に医療機関名の記載がありません)"  # a facility's form, no partner named

_TITLE = {
    "institution": "協力医療機関のお願いに対する回答票",
    "facility": "協力医療機関の提案に対する回答票",
}
_COLUMNS = {
    "institution": (
        "整理番号",
        "施設名",
        "種別・区分",
        "所在地",
        "お願いする要件",
        "距離 (km)",
        "回答",
        "理由・条件",
        "受入開始日",
    ),
    "facility": (
        "整理番号",
        "医療機関名",
        "種別",
        "所在地",
        "対応する要件",
        "距離 (km)",
        "回答",
        "理由・ご意見",
        "",
    ),
}
_WIDTHS = (9, 30, 22, 30, 16, 9, 13, 36, 13)


# --- the online block -----------------------------------------------------------------------


def _date_ja(d: dt.date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else ""


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as an inline ``<svg>`` (error correction M, quiet zone 2)."""
    import segno

    code = segno.make(url, error="m", micro=False)
    svg: str = code.svg_inline(
        scale=1, border=2, svgclass="qr", omitsize=True, title="回答用のQRコード"
    )
    return svg


def reply_block(url: str, deadline: dt.date | None, kind: str = "institution") -> Markup:
    """What a letter prints about answering online: link, QR code, short instructions.

    ``kind`` (``institution``/``facility``) chooses 貴院/貴施設. The markup uses the classes
    ``reply-link``, ``qr``, ``url`` of the reply form's stylesheet (replyform.css, part of
    ``templating.css``).
    """
    return Markup(
        environment()
        .get_template("replyform.html")
        .module.reply_link(  # type: ignore[attr-defined]
            {
                "url": url,
                "qr": Markup(qr_svg(url)),
                "deadline": _date_ja(deadline),
                "you": "貴院" if kind == "institution" else "貴施設",
            }
        )
    )


# --- the printed form -------------------------------------------------------------------------


def _caps(mask: int) -> str:
    return "".join(c.mark for c in CAPABILITIES if mask & c) or "-"


def _kind_ja(code: str) -> str:
    if code in FacilityKind.codes():
        return FacilityKind(code).label_ja
    if code in InstitutionKind.codes():
        return InstitutionKind(code).label_ja
    return code


def _duty_ja(row: LetterRow) -> str:
    kind = FACILITY_KINDS.get(row.facility_kind)
    return kind.duty.label_ja if kind else ""


def form_row(
    no: int,
    name: str,
    kind: str,
    covers: int,
    km: float,
    *,
    duty: str = "",
    address: str = "",
    key: int | str = "",
    km_text: str = "",
    note: str = "",
) -> dict[str, object]:
    """One asked row of a form: the facility (institution's form) or the institution (facility's
    form), what is asked (``covers``) and the distance (``km_text``: as the letter prints it);
    ``note``: a mark the letter's row carries too (e.g. 【条件付き依頼】)."""
    return {
        "no": no,
        "note": note,
        "key": key,
        "name": name,
        "kind": kind,
        "duty": duty,
        "address": address,
        "caps": _caps(covers),
        "km": f"{km:.1f}",
        "km_text": km_text or f"{km:.1f} km",
    }


def form_fields(
    kind: str,
    rows: list[dict[str, object]],
    *,
    recipient: str,
    area: str,
    today: str,
    deadline: str = "",
    code: str = "",
    capacity: int | None = None,
    offers: int = 0,
    partners: tuple[str, ...] | list[str] = (),
    partners_none: str = NO_PARTNER_NAMES_JA,
    link: Markup | str = "",
    how: Markup | str = "",
    reference: str = "",
    page_name: str = "",
) -> dict[str, object]:
    """What the printed form (``reply_form`` in replyform.html) shows: ``rows`` from ``form_row``;
    ``code`` the stored letter's number (none in a batch), ``how`` how to answer (default: this
    paper or the enclosed Excel form), ``reference`` the letter's 文書番号, ``page_name`` the
    letter's named page (its running head and page numbers)."""
    return {
        "kind": kind,
        "title": _TITLE[kind],
        "code": code,
        "recipient": recipient,
        "area": area,
        "deadline": deadline,
        "today": today,
        "rows": rows,
        "choices": [ANSWER_LABELS_JA[kind][c] for c in ANSWER_CODES],
        "capabilities": [c.label_ja for c in CAPABILITIES],
        "capacity": "申告なし" if capacity is None else f"{capacity}施設",
        "offers": "".join(c.mark for c in CAPABILITIES if offers & c) or "なし",
        "partners": list(partners),
        "partners_none": partners_none,
        "partner_rows": PARTNER_ROWS,
        "changes": list(PARTNER_CHANGES_JA.values()),
        "link": link,
        "how": how,
        "reference": reference,
        "page_name": page_name,
    }


def form_context(
    letter: LetterView, url: str = "", today: dt.date | None = None
) -> dict[str, object]:
    """What the printed form of a stored letter shows (also the Excel form's texts)."""
    institution = letter.kind == "institution"
    rows = [
        form_row(
            n,
            r.facility_name if institution else r.institution_name,
            _kind_ja(r.facility_kind if institution else r.institution_kind),
            r.asked_covers,
            r.km,
            duty=_duty_ja(r) if institution else "",
            address=r.facility_address if institution else r.institution_address,
            key=r.proposal_id,
        )
        for n, r in enumerate(letter.rows, start=1)
    ]
    return form_fields(
        letter.kind,
        rows,
        recipient=letter.recipient_name,
        area=letter.area_name,
        today=_date_ja(today or today_jp()),
        deadline=_date_ja(letter.deadline),
        code=letter.code,
        capacity=letter.capacity,
        offers=letter.offers,
        partners=letter.partners,
        link=reply_block(url, letter.deadline, letter.kind) if url else "",
    )


def form_section(fields: dict[str, object]) -> Markup:
    """The form's ``<section>`` (``form_fields``) in the letters' template."""
    module = environment().get_template("replyform.html").module
    return Markup(module.reply_form(fields))  # type: ignore[attr-defined]


def form_html(letter: LetterView, url: str = "", today: dt.date | None = None) -> str:
    """The printable reply form of ``letter`` as a whole HTML document (with the link block when
    ``url`` is given)."""
    body = form_section(form_context(letter, url, today))
    return (
        environment()
        .get_template("document.html")
        .render(
            title=f"{_TITLE[letter.kind]} {letter.code} {letter.recipient_name}",
            css=css(),  # the letters' styles and the form's
            rules="",  # one page, no running head
            body=body,
        )
    )


# --- the checksum ----------------------------------------------------------------------------


def form_checksum(
    key: bytes, letter_id: int, kind: str, recipient_id: str, run_id: int, rows: tuple[int, ...]
) -> str:
    """HMAC-SHA256 under the service's key of what identifies a form: its letter, recipient, run
    and rows (hex)."""
    text = "|".join(
        (
            FORM_MARK,
            str(FORM_VERSION),
            str(letter_id),
            kind,
            recipient_id,
            str(run_id),
            ",".join(map(str, rows)),
        )
    )
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


# --- the Excel form --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where each answer sits on the sheet of a form with ``n`` rows."""

    kind: str
    n: int

    @property
    def first(self) -> int:
        return HEADER_ROW + 1

    @property
    def last(self) -> int:
        return HEADER_ROW + self.n

    @property
    def fields(self) -> dict[str, int]:
        """Field → its sheet row (label in column B, answer in column G)."""
        row = self.last + 3
        names = (
            ["capacity", "consult", "care", "admit", "infection"]
            if self.kind == "institution"
            else []
        )
        out = {name: row + k for k, name in enumerate(names)}
        row += len(names)
        if self.kind == "facility":
            row += PARTNER_ROWS + 2  # the partner changes' heading, header and rows
        for name in ("person", "contact", "note"):
            out[name] = row
            row += 1
        return out

    @property
    def partner_header(self) -> int:
        return self.last + 4

    def partner_rows(self) -> range:
        return range(self.partner_header + 1, self.partner_header + 1 + PARTNER_ROWS)


_FIELD_LABELS = {
    "capacity": "受入可能な施設数 (今回お引き受けいただく施設を含む、新たな協力医療機関として)",
    "infection": "第二種協定指定医療機関ですか",
    "person": "ご担当者のお名前",
    "contact": "連絡先 (電話・メール)",
    "note": "備考",
}


def _field_label(name: str) -> str:
    caps = {c.code: c for c in CAPABILITIES}
    if name in caps:
        return f"対応できる要件: {caps[name].label_ja}"
    return _FIELD_LABELS[name]


def form_workbook(letter: LetterView, key: bytes, previous: LetterAnswer | None = None) -> bytes:
    """The Excel reply form of ``letter`` (bytes of an .xlsx), filled with ``previous`` when the
    recipient answered before, else with the institution's current declaration."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill, Protection
    from openpyxl.workbook.protection import WorkbookProtection
    from openpyxl.worksheet.datavalidation import DataValidation

    ctx = form_context(letter)
    layout = _Layout(letter.kind, len(letter.rows))
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    bold, head_fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    answer_fill = PatternFill("solid", fgColor="FFF9E5")
    open_cell = Protection(locked=False)
    wrap = Alignment(wrap_text=True, vertical="top")

    def put(row: int, col: int, value: object, **style: Any) -> None:
        cell = ws.cell(row, col, safe_cell(value))
        for k, v in style.items():
            setattr(cell, k, v)

    def answer_cell(row: int, col: int, value: object = None, number_format: str = "") -> None:
        cell = ws.cell(row, col, safe_cell(value) if value is not None else None)
        cell.protection, cell.fill, cell.alignment = open_cell, answer_fill, wrap
        if number_format:
            cell.number_format = number_format

    put(1, 1, f"{ctx['title']}({letter.code})", font=Font(bold=True, size=14))
    put(2, 1, f"{letter.recipient_name} 御中")
    put(
        3,
        1,
        f"回答期限: {ctx['deadline'] or '(依頼文書をご覧ください)'} ・ 地域: {letter.area_name}",
    )
    put(
        4,
        1,
        "色の付いたセルだけに記入できます。回答は一覧から選んでください。"
        "記入後、このファイルのまま (名前を変えても構いません) メールで返送してください。",
    )
    put(
        5,
        1,
        "整理番号と行の順番は変えないでください。ファイルの識別情報が変わると受け付けられません。",
    )
    for col, (title, width) in enumerate(zip(_COLUMNS[letter.kind], _WIDTHS, strict=True), 1):
        if title:
            put(HEADER_ROW, col, title, font=bold, fill=head_fill, alignment=wrap)
        ws.column_dimensions[chr(64 + col)].width = width
    institution = letter.kind == "institution"
    for k, (r, shown) in enumerate(zip(letter.rows, ctx["rows"], strict=True)):  # type: ignore[call-overload]
        row = layout.first + k
        before = previous.row(r.proposal_id) if previous else None
        values = (
            r.proposal_id,
            shown["name"],
            f"{shown['kind']} {shown['duty']}".strip(),
            shown["address"],
            shown["caps"],
            float(shown["km"]),
        )
        for col, value in enumerate(values, 1):
            put(row, col, value, alignment=wrap)
        answer_cell(row, 7, letter.answer_label(before.answer) if before else None)
        answer_cell(row, 8, before.reason if before else None)
        if institution:
            answer_cell(row, 9, before.from_date if before else None, "yyyy/mm/dd")
    choices = ",".join(ANSWER_LABELS_JA[letter.kind][c] for c in ANSWER_CODES)
    rules: list[tuple[str, dict[str, Any], str]] = []
    if layout.n:
        rules.append(
            (
                f"G{layout.first}:G{layout.last}",
                {"type": "list", "formula1": f'"{choices}"'},
                f"{choices.replace(',', '・')} から選んでください",
            )
        )
        rules.append(
            (
                f"H{layout.first}:H{layout.last}",
                {"type": "textLength", "operator": "lessThanOrEqual", "formula1": "500"},
                "500 文字以内で書いてください",
            )
        )
        if institution:
            rules.append(
                (
                    f"I{layout.first}:I{layout.last}",
                    {"type": "date", "operator": "greaterThan", "formula1": "DATE(2024,1,1)"},
                    "日付を入力してください (例: 2026/4/1)",
                )
            )
    fields = layout.fields
    put(layout.last + 2, 1, "その他のご回答", font=bold)
    filled: dict[str, object] = {}
    if institution:
        filled = {
            "capacity": (
                previous.capacity if previous and previous.capacity is not None else letter.capacity
            ),
            # known 第二種協定 only (False may mean "not said")
            "infection": _yes_no(
                previous.infection_agreement
                if previous and previous.infection_agreement is not None
                else (True if letter.infection_agreement else None)
            ),
        }
        offers = previous.offers if previous and previous.offers is not None else letter.offers
        for c in CAPABILITIES:
            filled[c.code] = YES if offers & c else NO
    if previous:
        filled |= {"person": previous.person, "contact": previous.contact, "note": previous.note}
    yes_no = ",".join((YES, NO))
    for name, row in fields.items():
        put(row, 2, _field_label(name), alignment=wrap)
        answer_cell(row, 7, filled.get(name) or (0 if filled.get(name) == 0 else None))
        if name == "capacity":
            rules.append(
                (
                    f"G{row}",
                    {"type": "whole", "operator": "between", "formula1": "0", "formula2": "999"},
                    "0 から 999 までの整数を入力してください",
                )
            )
            put(row, 8, f"現在の申告: {ctx['capacity']}")
        elif name in ("consult", "care", "admit", "infection"):
            rules.append((f"G{row}", {"type": "list", "formula1": f'"{yes_no}"'}, "はい・いいえ"))
    if not institution:
        top = layout.partner_header - 1
        put(top, 2, "現在の協力医療機関: " + ("、".join(letter.partners) or "(届出に名前なし)"))
        put(
            top,
            8,
            "協力医療機関に変更 (追加・終了) があればご記入ください",
            alignment=wrap,
        )
        for col, title in zip(
            range(2, 7), ("医療機関名", "変更", *(c.mark for c in CAPABILITIES)), strict=True
        ):
            put(layout.partner_header, col, title, font=bold, fill=head_fill)
        changes = previous.partner_changes if previous else ()
        for k, row in enumerate(layout.partner_rows()):
            ch = changes[k] if k < len(changes) else None
            answer_cell(row, 2, ch.name if ch else None)
            answer_cell(row, 3, PARTNER_CHANGES_JA[ch.change] if ch else None)
            for j, cap in enumerate(CAPABILITIES):
                answer_cell(row, 4 + j, (YES if ch.covers & cap else None) if ch else None)
        rows = f"{layout.partner_rows().start}:{layout.partner_rows().stop - 1}"
        first, last = rows.split(":")
        rules.append(
            (
                f"C{first}:C{last}",
                {"type": "list", "formula1": f'"{",".join(PARTNER_CHANGES_JA.values())}"'},
                "追加・終了",
            )
        )
        rules.append((f"D{first}:F{last}", {"type": "list", "formula1": f'"{YES}"'}, "はい"))
    for cells, rule, error in rules:
        dv = DataValidation(**rule, allow_blank=True, error=error, showErrorMessage=True)
        ws.add_data_validation(dv)
        dv.add(cells)
    ws.protection.sheet = True
    ws.protection.formatColumns = False  # widths may be changed to read long names
    ws.freeze_panes = f"A{layout.first}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    meta = wb.create_sheet(META_SHEET)
    checksum = form_checksum(
        key, letter.id, letter.kind, letter.recipient_id, letter.run_id, letter.proposal_ids
    )
    for item in (
        ("form", FORM_MARK),
        ("version", FORM_VERSION),
        ("letter_id", letter.id),
        ("kind", letter.kind),
        ("recipient_id", letter.recipient_id),
        ("run_id", letter.run_id),
        ("rows", ",".join(map(str, letter.proposal_ids))),
        ("checksum", checksum),
    ):
        meta.append([safe_cell(v) for v in item])
    meta.sheet_state = "veryHidden"
    meta.protection.sheet = True
    wb.security = WorkbookProtection(lockStructure=True)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else (YES if value else NO)


# --- reading a returned form ------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnedForm:
    """A returned Excel form: whose it is and what it answers."""

    letter_id: int
    kind: str
    recipient_id: str
    run_id: int
    answer: LetterAnswer


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _refuse(name: str, message: str, column: str = "file") -> InputError:
    return InputError(RowIssue(name, None, column, None, message))


def _open(data: bytes, name: str, limits: ArchiveLimits) -> Any:
    from openpyxl import load_workbook

    if not data:
        raise _refuse(name, "ファイルが空です")
    if len(data) > MAX_FORM_BYTES:
        raise _refuse(
            name,
            f"回答票としては大きすぎます ({len(data):,} バイト、上限 {MAX_FORM_BYTES:,} バイト)",
        )
    if data[:2] != b"PK":
        raise _refuse(name, "Excel ファイル (.xlsx) ではありません")
    bounded = ArchiveLimits(
        max_total_bytes=min(limits.max_total_bytes, FORM_LIMITS.max_total_bytes),
        max_members=min(limits.max_members, FORM_LIMITS.max_members),
        max_ratio=limits.max_ratio,
        ratio_floor_bytes=limits.ratio_floor_bytes,
    )
    verify_archive(data, name, bounded)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # foreign files: styles and extensions we do not read
            return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # any failure of the reader is a file we cannot read
        raise _refuse(name, f"Excel ファイルとして読めません ({type(exc).__name__})") from None


def _grid(ws: Any, max_row: int, max_col: int = 9) -> list[list[object]]:
    rows = [list(r) for r in ws.iter_rows(max_row=max_row, max_col=max_col, values_only=True)]
    while len(rows) < max_row:
        rows.append([])
    return [r + [None] * (max_col - len(r)) for r in rows]


def read_form(
    data: bytes, name: str, key: bytes, limits: ArchiveLimits = DEFAULT_LIMITS
) -> ReturnedForm:
    """A returned Excel form as the answer it holds (``InputError`` naming the cells otherwise)."""
    wb = _open(data, name, limits)
    try:
        if META_SHEET not in wb.sheetnames or SHEET not in wb.sheetnames:
            raise _refuse(name, "このサービスの回答票ではありません (識別情報がありません)")
        meta: dict[str, str] = {}
        for row in wb[META_SHEET].iter_rows(max_row=20, max_col=2, values_only=True):
            if row and row[0] is not None:
                meta[_text(row[0])] = _text(row[1] if len(row) > 1 else None)
        try:
            letter_id, run_id = int(meta["letter_id"]), int(meta["run_id"])
            kind, recipient_id = meta["kind"], meta["recipient_id"]
            keys = tuple(int(x) for x in meta["rows"].split(",") if x)
            ok = meta["form"] == FORM_MARK and int(meta["version"]) == FORM_VERSION
        except (KeyError, ValueError):
            ok = False
        if not ok or kind not in ANSWER_LABELS_JA:
            raise _refuse(name, "このサービスの回答票ではありません (識別情報が読めません)")
        expected = form_checksum(key, letter_id, kind, recipient_id, run_id, keys)
        if not hmac.compare_digest(expected, meta.get("checksum", "")):
            raise _refuse(
                name,
                "回答票の識別情報が一致しません (別の回答票から写したか、書き換えられています)。"
                "お送りした回答票に記入して返送してもらってください",
            )
        layout = _Layout(kind, len(keys))
        last = max([*layout.fields.values(), layout.partner_rows().stop, layout.last]) + 1
        grid = _grid(wb[SHEET], last)
    finally:
        wb.close()
    return ReturnedForm(letter_id, kind, recipient_id, run_id, _answer(grid, layout, keys, name))


def _answer(
    grid: list[list[object]], layout: _Layout, keys: tuple[int, ...], name: str
) -> LetterAnswer:
    issues: list[RowIssue] = []
    kind = layout.kind
    codes = {label: code for code, label in ANSWER_LABELS_JA[kind].items()}
    headers = _COLUMNS[kind]

    def cell(row: int, col: int) -> object:
        return grid[row - 1][col - 1]

    def bad(row: int, col: int, value: object, message: str) -> None:
        issues.append(RowIssue(name, row, headers[col - 1] or None, _text(value)[:50], message))

    rows: list[RowAnswer] = []
    for k, key in enumerate(keys):
        r = layout.first + k
        if _text(cell(r, 1)) != str(key):
            issues.append(
                RowIssue(
                    name,
                    r,
                    "整理番号",
                    _text(cell(r, 1))[:50],
                    f"整理番号が違います (この行は {key} のはずです)。"
                    "行を並べ替えたり消したりしないでください",
                )
            )
            continue
        choice, reason = _text(cell(r, 7)), _text(cell(r, 8))
        from_date = None
        if kind == "institution":
            from_date = _date(cell(r, 9))
            if from_date is False:
                bad(r, 9, cell(r, 9), "日付として読めません (例: 2026/4/1)")
                from_date = None
        if not choice:
            if reason or from_date:
                bad(r, 7, "", "回答を一覧から選んでください")
            continue
        if choice not in codes:
            bad(r, 7, choice, f"回答は {'・'.join(codes)} のいずれかを選んでください")
            continue
        rows.append(RowAnswer(key, codes[choice], reason, from_date or None, line=r))  # type: ignore[arg-type]
    fields = layout.fields
    values = {n: cell(row, 7) for n, row in fields.items()}
    capacity: int | None = None
    if kind == "institution":
        text = _text(values["capacity"])
        if text:
            if text.isdigit():
                capacity = int(text)
            else:
                issues.append(
                    RowIssue(name, fields["capacity"], "受入可能な施設数", text[:50], "整数で")
                )
    yes_no: dict[str, bool | None] = {}
    for n in ("consult", "care", "admit", "infection"):
        if n not in fields:
            continue
        text = _text(values[n])
        if text not in ("", YES, NO):
            issues.append(
                RowIssue(name, fields[n], _field_label(n), text[:50], "「はい」か「いいえ」")
            )
        yes_no[n] = None if not text else text == YES
    offers: int | None = None
    if any(yes_no.get(c.code) is not None for c in CAPABILITIES):
        offers = sum(int(c) for c in CAPABILITIES if yes_no.get(c.code))
    changes: list[PartnerChange] = []
    if kind == "facility":
        by_label = {label: code for code, label in PARTNER_CHANGES_JA.items()}
        for r in layout.partner_rows():
            pname, change = _text(cell(r, 2)), _text(cell(r, 3))
            marks = [_text(cell(r, 4 + j)) for j in range(len(CAPABILITIES))]
            if not pname and not change and not any(marks):
                continue
            if change not in by_label:
                issues.append(RowIssue(name, r, "変更", change[:50], "「追加」か「終了」を選んで"))
                continue
            covers = sum(int(c) for c, m in zip(CAPABILITIES, marks, strict=True) if m == YES)
            changes.append(PartnerChange(pname, by_label[change], covers))
    if issues:
        raise InputError(issues)
    return LetterAnswer(
        rows=tuple(rows),
        capacity=capacity,
        offers=offers,
        infection_agreement=yes_no.get("infection"),
        partner_changes=tuple(changes[:MAX_PARTNER_CHANGES]),
        person=_text(values["person"]),
        contact=_text(values["contact"]),
        note=_text(values["note"]),
    )


def _date(value: object) -> dt.date | None | bool:
    """A cell as a date; None when blank, False when it is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return False
