"""The coordinator's Excel workbook: summary, gaps, institutions and one sheet per municipality.

Every sheet is laid out for A4: column widths from the content, long text wrapped, headers wrapped
on up to three lines, portrait when the table fits the page at full size, otherwise landscape
with the columns narrowed (wrapping more) until the sheet prints at ``MIN_SCALE`` or more when
fitted to the page width. Widths are in Excel's character units; a column of width ``w`` is
``7w + 5`` pixels at 96 dpi with the default font (``column_px``).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
import re
import unicodedata
from collections.abc import Sequence
from copy import copy
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zipfile import ZIP_DEFLATED, ZipFile

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.cell._writer import write_cell
from openpyxl.comments.comment_sheet import CommentRecord
from openpyxl.compat import safe_string
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from ..sources.cells import safe_cell
from .tables import ReportData

HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_FONT = Font(bold=True)
HEADER_ALIGNMENT = Alignment(vertical="center", wrap_text=True)
MAX_WIDTH = 50  # the widest column; longer text wraps
WRAP_MIN = 10  # a wrapped column keeps at least five full-width characters a line
HEADER_WRAP = 12  # a header wider than its column's content wraps at this width
HEADER_LINES = 3
MIN_SCALE = 0.72  # the smallest print scale (fit to width) a sheet may need
MARGIN_IN = 0.3  # left and right page margins
A4_MM = {"portrait": 210.0, "landscape": 297.0}
LINE_PT = 16.5  # row height per wrapped line (11 pt text, Japanese glyphs)
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_NO_WRAP = re.compile(r"[!-~]{1,16}")  # an id, a code or a short number-like text


def column_px(width: float) -> int:
    """Pixels of a column ``width`` characters wide (Excel's rule for the default font, whose
    digits are 7 px)."""
    return int((256 * width + int(128 / 7)) / 256 * 7)


def printable_px(orientation: str) -> float:
    """Pixels (96 dpi) across an A4 page between the margins."""
    return (A4_MM[orientation] / 25.4 - 2 * MARGIN_IN) * 96


def print_scale(widths: Sequence[float], orientation: str) -> float:
    """The scale a sheet prints at when fitted to one page wide (1.0 when it fits as is)."""
    total = sum(column_px(w) for w in widths)
    return min(1.0, printable_px(orientation) / total) if total else 1.0


def fit_widths(natural: Sequence[float], minimum: Sequence[float]) -> tuple[list[float], str]:
    """Column widths and orientation: the ``natural`` widths (at most ``MAX_WIDTH``) when they
    fit a portrait page at full size, else landscape with every column narrowed to one cap (but
    not below its ``minimum``), the widest cap that prints at ``MIN_SCALE`` or more."""

    def at(cap: float) -> list[float]:
        return [max(m, min(w, cap)) for w, m in zip(natural, minimum, strict=True)]

    cap = float(MAX_WIDTH)
    if print_scale(at(cap), "portrait") >= 1.0:
        return at(cap), "portrait"
    budget = printable_px("landscape") / MIN_SCALE
    while cap > 1 and sum(column_px(w) for w in at(cap)) > budget:
        cap -= 1
    return at(cap), "landscape"


def display_width(value: object) -> int:
    """Width of a cell's text in Excel's character units (full-width characters count 2)."""
    text = value if isinstance(value, str) else _number_text(value)
    return len(text) if text.isascii() else _wide_text_width(text)


@functools.lru_cache(maxsize=1 << 14)
def _wide_text_width(text: str) -> int:
    # Cached: names, kinds and labels repeat down a column (0.08 → 0.02 s on 東京都).
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _number_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _cell(value: object) -> object:
    """Cell value: NaN/None → empty cell, numpy scalars → Python numbers, text through
    ``safe_cell`` (formula-like text is never evaluated, control characters are dropped)."""
    if type(value) is str:  # most cells
        return safe_cell(value)
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return safe_cell(value)


def _number_format(column: str) -> str | None:
    if column.endswith("割合"):
        return "0.0%"
    if "(km)" in column:
        return "0.0"
    return None


def _lines(width: int, column: float) -> int:
    """Lines a text ``width`` characters wide takes in a column (one character of padding)."""
    return max(1, math.ceil(width / max(column - 1, 1)))


def _shown_widths(values: Sequence[object], number_format: str | None) -> list[int]:
    """The width of each value of a column as shown (0 for a blank cell; a share as 12.5%)."""
    share = number_format == "0.0%"
    return [
        0 if v is None else display_width(f"{v:.1%}" if share and isinstance(v, float) else v)
        for v in values
    ]


def write_sheet(ws: Worksheet, df: pd.DataFrame) -> None:
    """Write a table with a frozen, filtered, wrapped header row, widths from the content (see
    :func:`fit_widths`), long text wrapped and rows as tall as their wrapped text."""
    ws.append([safe_cell(c) for c in df.columns])
    headers = [display_width(c) for c in df.columns]
    formats = [_number_format(str(c)) for c in df.columns]
    rows = [[_cell(v) for v in row] for row in df.itertuples(index=False, name=None)]
    for values in rows:
        ws.append(values)
    # Column by column (a column's values repeat): each value's shown width, 0 when blank.
    values_of = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in formats]
    shown = [_shown_widths(c, f) for c, f in zip(values_of, formats, strict=True)]
    content = [max(widths, default=0) for widths in shown]
    # Numbers, codes and ids never wrap: their column keeps their width.
    whole = [all(not isinstance(v, str) or _NO_WRAP.fullmatch(v) for v in c) for c in values_of]
    # A header wraps (at the content's width, at least HEADER_WRAP) on up to HEADER_LINES lines.
    natural = [
        max(c, min(h, max(c, HEADER_WRAP)), math.ceil(h / HEADER_LINES)) + 2
        for h, c in zip(headers, content, strict=True)
    ]
    minimum = [
        c + 2 if w else min(n, WRAP_MIN) for c, n, w in zip(content, natural, whole, strict=True)
    ]
    columns, orientation = fit_widths(natural, minimum)
    ws.page_setup.orientation = orientation
    for k, width in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(k)].width = width
    header_lines = max((_lines(h, w) for h, w in zip(headers, columns, strict=True)), default=1)
    # The first plain header cell is styled, then its style array copied to the other plain
    # ones (see below); a cell with a style of its own (a date's format) is styled itself.
    plain: Cell | None = None
    for cell in ws[1]:
        if plain is not None and not cell.has_style:
            cell._style = copy(plain._style)
            continue
        if plain is None and not cell.has_style:
            plain = cell
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = HEADER_ALIGNMENT
    ws.row_dimensions[1].height = LINE_PT * header_lines + 2
    wrapped = [w < n for w, n in zip(columns, natural, strict=True)]
    lines_of = [
        [_lines(w, width) for w in widths]
        for widths, width, wrap in zip(shown, columns, wrapped, strict=True)
        if wrap
    ]
    if lines_of:
        for r, lines in enumerate(map(max, zip(*lines_of, strict=True)), start=2):
            if lines > 1:
                ws.row_dimensions[r].height = LINE_PT * lines + 2
    top = Alignment(vertical="top", wrap_text=True)
    for k, (wrap, fmt) in enumerate(zip(wrapped, formats, strict=True), start=1):
        if not (wrap or fmt) or not rows:
            continue
        # Style one cell, then copy its style array to the rest of the column: openpyxl looks
        # every assigned style up in the workbook's tables, ~10 × slower per cell.
        first = ws.cell(2, k)
        if wrap:
            first.alignment = top
        if fmt:
            first.number_format = fmt
        for r in range(3, len(rows) + 2):
            ws.cell(r, k)._style = copy(first._style)
    ws.freeze_panes = "A2"
    last = get_column_letter(max(len(df.columns), 1))
    ws.auto_filter.ref = f"A1:{last}{max(len(df) + 1, 1)}"


def print_setup(ws: Worksheet, title: str, columns: int | None = None) -> None:
    """A4, header row repeated on every page, fitted to one page wide, sheet name and page
    numbers in the header/footer. The orientation is the one :func:`write_sheet` chose for the
    widths (``columns`` is no longer used)."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = MARGIN_IN
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddHeader.center.text = title
    ws.oddFooter.center.text = "&P / &N ページ"


def sheet_title(name: str, taken: set[str]) -> str:
    """A valid, unique sheet title (≤ 31 characters, none of []:*?/\\)."""
    base = _SHEET_FORBIDDEN.sub("_", name).strip("'") or "シート"
    title, n = base[:31], 2
    while title in taken:
        suffix = f"_{n}"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title)
    return title


def municipality_sheet(df: pd.DataFrame) -> pd.DataFrame:
    """A municipality's facility table as its sheet prints it: without the municipality (the
    sheet's name), the proposed institutions' ids (in 提案一覧) and the alternatives (in
    代替候補, one row each), so that it prints at ``MIN_SCALE`` or more on A4 landscape."""
    drop = [c for c in df.columns if c in ("市区町村", "代替候補") or c.endswith("医療機関ID")]
    return df.drop(columns=drop)


def write_workbook(data: ReportData, path: str | Path) -> Path:
    """Write ``report.xlsx``: 概要, 集計, 未充足, 理由別, 周辺に医療機関が少ない, 医療機関別,
    提案一覧, 代替候補, 近い順との比較, 年度別推移 and 好事例の候補 (when the store has two or
    more filing years), then one sheet per municipality listing every facility; every sheet is
    set up to print (see :func:`print_setup`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    taken: set[str] = set()
    sheets: list[tuple[str, pd.DataFrame]] = [
        ("概要", data.overview_table()),
        ("集計", data.status_table()),
        ("未充足", data.uncovered_table()),
        ("未充足の理由別", data.reason_table()),
        ("周辺に医療機関が少ない", data.isolated_table()),
        ("医療機関別", data.institution_table()),
        ("提案一覧", data.proposal_table()),
        ("代替候補", data.alternatives_table()),
        ("近い順との比較", data.comparison_table()),
    ]
    if data.has_filing_years:  # two or more 年度 in the store (``matcher.progress``)
        sheets += [
            ("年度別推移", data.progress_table()),
            ("好事例の候補", data.good_practice_table()),
        ]
    for code in data.municipality_codes:
        name = data.municipality_name(code)
        sheets.append((name, municipality_sheet(data.facility_table(code))))
    first = True
    for name, df in sheets:
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = sheet_title(name, taken)
        write_sheet(ws, df)
        print_setup(ws, f"{data.area_name} {ws.title}", len(df.columns))
    save_workbook(wb, path)
    return path


def save_workbook(wb: Workbook, path: Path) -> None:
    """``wb.save(path)`` with the common cells written as text (``_SheetWriter``)."""
    wb.properties.modified = dt.datetime.now(tz=dt.UTC).replace(tzinfo=None)
    archive = ZipFile(path, "w", ZIP_DEFLATED, allowZip64=True)
    _ExcelWriter(wb, archive).save()  # closes the archive


class _ExcelWriter(ExcelWriter):  # type: ignore[misc]
    """openpyxl's writer with ``_SheetWriter`` for the worksheets (its ``write_worksheet``
    otherwise)."""

    def write_worksheet(self, ws: Worksheet) -> None:
        if self.workbook.write_only:
            super().write_worksheet(ws)
            return
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        writer = _SheetWriter(ws, out=io.BytesIO())  # in memory: no temporary file per sheet
        writer.write()
        ws._rels = writer._rels
        self._archive.writestr(ws.path[1:], writer.read())
        self.manifest.append(ws)


class _SheetWriter(WorksheetWriter):  # type: ignore[misc]
    """openpyxl's sheet writer, with the cells of the common kinds (text, numbers, booleans,
    blanks; no formula, comment or link) written as text, byte for byte as openpyxl writes them:
    its ElementTree serialisation, element by element, was 0.55 of the 1.25 s CPU of 東京都's
    workbook. Other cells, and every cell when the XML writer is not the standard library's
    (openpyxl uses lxml when installed), go through openpyxl's ``write_cell``."""

    def write_row(self, xf: Any, row: list[Any], row_idx: int) -> None:
        raw = getattr(xf, "_file", None)  # et_xmlfile's writer: appends text as given
        if raw is None:
            super().write_row(xf, row, row_idx)
            return
        attrs = {"r": f"{row_idx}"}
        attrs.update(self.ws.row_dimensions.get(row_idx, {}))
        with xf.element("row", attrs):
            parts: list[str] = []
            for cell in row:
                text = _cell_xml(cell)
                if text is not None:
                    parts.append(text)
                    continue
                if parts:
                    raw("".join(parts))
                    parts = []
                # openpyxl's own ``write_row`` for this cell
                if cell._comment is not None:
                    self.ws._comments.append(CommentRecord.from_cell(cell))
                if cell._value is None and not cell.has_style and not cell._comment:
                    continue
                write_cell(xf, self.ws, cell, cell.has_style)
            if parts:
                raw("".join(parts))


def _cell_xml(cell: Any) -> str | None:
    """A cell's ``<c>`` element as openpyxl's ``etree_write_cell`` writes it, "" for a cell it
    leaves out, ``None`` when this is not one of the kinds written here."""
    if cell._comment is not None or cell._hyperlink is not None:
        return None
    value, kind = cell._value, cell.data_type
    styled = cell.has_style
    if value is None and not styled:
        return ""
    if kind == "s":
        if type(value) is not str:
            return None
        kind = "inlineStr"
    elif kind not in ("n", "b") or type(value) not in (int, float, bool, type(None)):
        return None
    elif type(value) is float and not math.isfinite(value):
        return None
    style = f' s="{cell.style_id}"' if styled else ""
    head = f'<c r="{cell.coordinate}"{style} t="{kind}"'
    if value is None or value == "":
        return head + " />"
    if kind == "inlineStr":
        stripped = value.strip()
        space = ' xml:space="preserve"' if stripped and value != stripped else ""
        return f"{head}><is><t{space}>{escape(value)}</t></is></c>"
    return f"{head}><v>{safe_string(value)}</v></c>"
