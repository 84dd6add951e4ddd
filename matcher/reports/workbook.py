"""The coordinator's Excel workbook: summary, gaps, institutions and one sheet per municipality."""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from ..sources.cells import safe_cell
from .tables import ReportData

HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_FONT = Font(bold=True)
MAX_WIDTH = 60
PORTRAIT_MAX_COLUMNS = 6  # wider tables print in landscape
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def display_width(value: object) -> int:
    """Width of a cell's text in Excel's character units (full-width characters count 2)."""
    text = value if isinstance(value, str) else _number_text(value)
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


def write_sheet(ws: Worksheet, df: pd.DataFrame) -> None:
    """Write a table with a frozen, filtered header row and fitted column widths."""
    ws.append([safe_cell(c) for c in df.columns])
    for cell in ws[1]:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(vertical="center", wrap_text=False)
    widths = [display_width(c) for c in df.columns]
    formats = [_number_format(str(c)) for c in df.columns]
    for row in df.itertuples(index=False):
        values = [_cell(v) for v in row]
        ws.append(values)
        for k, v in enumerate(values):
            if v is not None:
                w = display_width(
                    f"{v:.1%}" if formats[k] == "0.0%" and isinstance(v, float) else v
                )
                widths[k] = max(widths[k], w)
    for k, fmt in enumerate(formats):
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=k + 1, max_col=k + 1):
                cell.number_format = fmt
    for k, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(k)].width = min(w + 2, MAX_WIDTH)
    ws.freeze_panes = "A2"
    last = get_column_letter(max(len(df.columns), 1))
    ws.auto_filter.ref = f"A1:{last}{max(len(df) + 1, 1)}"


def print_setup(ws: Worksheet, title: str, columns: int) -> None:
    """A4, header row repeated on every page, fitted to one page wide (landscape when wide),
    sheet name and page numbers in the header/footer."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if columns > PORTRAIT_MAX_COLUMNS else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.4
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


def write_workbook(data: ReportData, path: str | Path) -> Path:
    """Write ``report.xlsx``: 概要, 集計, 未充足, 理由別, 周辺に医療機関が少ない, 医療機関別,
    近い順との比較, 年度別推移 and 好事例の候補 (when the store has two or more filing years),
    then one sheet per municipality listing every facility; every sheet is set up to print (see
    :func:`print_setup`)."""
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
        ("近い順との比較", data.comparison_table()),
    ]
    if data.has_filing_years:  # two or more 年度 in the store (``matcher.progress``)
        sheets += [
            ("年度別推移", data.progress_table()),
            ("好事例の候補", data.good_practice_table()),
        ]
    for code in data.municipality_codes:
        name = data.municipality_name(code)
        sheets.append((name, data.facility_table(code)))
    first = True
    for name, df in sheets:
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = sheet_title(name, taken)
        write_sheet(ws, df)
        print_setup(ws, f"{data.area_name} {ws.title}", len(df.columns))
    wb.save(path)
    return path
