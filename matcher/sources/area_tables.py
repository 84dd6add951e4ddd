"""Reference-area tables as files: a prefecture's 医療計画 table (市区町村コード → 二次医療圏 /
構想区域) or its 郡市医師会 list, read (CSV in any supported encoding, or Excel) and written.

Columns are found by header name: the municipality code (市区町村コード, 団体コード …), the
area's name (二次医療圏, 構想区域, 郡市医師会, 医師会 …) and, optionally, the area's code and
the municipality's name (checked against the reference list). Validation is the core's
(``matcher.reference_areas.table_of_rows``); what is written is the same layout, so an exported
table imports again unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._errors import InputError
from ..reference_areas import (
    AreaTable,
    ReferenceKind,
    TableRow,
    area_columns,
    table_columns,
    table_of_rows,
)
from .columns import cell_reader, is_blank, match_columns, missing_columns
from .textfile import read_table, write_csv

_MUNICIPALITY = (
    "市区町村コード",
    "市町村コード",
    "団体コード",
    "全国地方公共団体コード",
    "地方公共団体コード",
    "municipality_code",
    "muni_code",
)
_MUNICIPALITY_NAME = ("市区町村", "市区町村名", "市町村名", "市町村", "municipality", "muni_name")
_NAMES: dict[ReferenceKind, tuple[str, ...]] = {
    "kousou": (
        "構想区域",
        "二次医療圏",
        "構想区域名",
        "二次医療圏名",
        "医療圏",
        "医療圏名",
        "区域",
        "area_name",
    ),
    "ishikai": ("郡市医師会", "郡市医師会名", "医師会", "医師会名", "area_name"),
}
_CODES: dict[ReferenceKind, tuple[str, ...]] = {
    "kousou": (
        "構想区域コード",
        "二次医療圏コード",
        "医療圏コード",
        "区域コード",
        "area_code",
    ),
    "ishikai": ("郡市医師会コード", "医師会コード", "area_code"),
}


def read_area_table(path: str | Path, kind: ReferenceKind, name: str | None = None) -> AreaTable:
    """Read and validate a table of ``kind`` from a CSV or Excel file (first sheet)."""
    path = Path(path)
    file = name or path.name
    df = read_table(path, required=(), name=file)
    headers = [str(c) for c in df.columns]
    spec = {
        "area_code": _CODES[kind],
        "municipality": _MUNICIPALITY,
        "area_name": _NAMES[kind],
        "municipality_name": _MUNICIPALITY_NAME,
    }
    found = match_columns(headers, spec)
    _, name_col = area_columns(kind)
    missing = missing_columns(
        file, headers, found, {"municipality": "市区町村コード", "area_name": name_col}
    )
    if missing:
        raise InputError(missing)
    rows = []
    for k, rec in enumerate(df.to_dict("records")):
        if is_blank(rec):
            continue
        get = cell_reader({str(key): str(v) for key, v in rec.items()}, found)
        rows.append(
            TableRow(
                k + 2,
                get("municipality"),
                get("area_name"),
                get("area_code"),
                get("municipality_name"),
            )
        )
    return table_of_rows(kind, rows, file)


def area_table_frame(table: AreaTable) -> pd.DataFrame:
    """The table in its written layout (``matcher.reference_areas.table_columns``)."""
    return pd.DataFrame(table.rows(), columns=table_columns(table.kind), dtype=object)


def write_area_table(table: AreaTable, path: str | Path) -> Path:
    """Write the table as CSV (UTF-8 with BOM, opens in Excel) or, for ``.xlsx``, a workbook."""
    path = Path(path)
    df = area_table_frame(table)
    if path.suffix.lower() == ".xlsx":
        from .cells import safe_frame

        path.parent.mkdir(parents=True, exist_ok=True)
        safe_frame(df).to_excel(path, index=False, sheet_name="区域")
        return path
    return write_csv(df, path)
