"""Cell text rules shared by every reader and writer: clean what comes in, neutralise what goes out.

In: the core's ``matcher.text`` rules (re-exported here for the readers).
Out: ``safe_cell`` turns formula-like text (``=``, ``+``, ``-``, ``@``, tab, CR first) into plain
text for CSV and Excel, as OWASP recommends for CSV injection; numbers are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from ..text import CONTROL, HYPHENS, INVISIBLE, clean_id, clean_text, control_characters

__all__ = [
    "CONTROL",
    "HYPHENS",
    "INVISIBLE",
    "clean_id",
    "clean_text",
    "control_characters",
    "safe_cell",
    "safe_frame",
    "safe_rows",
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: object) -> object:
    """A value that a spreadsheet shows as text, never evaluates: formula-like text gets a ``'``.

    Numbers (and text that is only a number, such as ``-3.5``) are returned unchanged; control
    characters, which Excel files cannot hold, are removed.
    """
    if not isinstance(value, str):
        return value
    text = CONTROL.sub("", value)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text.strip()):
        return "'" + text
    return text


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell (and column name) passed through ``safe_cell``."""
    out = df.copy()
    out.columns = [safe_cell(c) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_cell)
    return out


def safe_rows(rows: Iterable[Iterable[object]]) -> list[list[object]]:
    """Rows of cells for writers that take lists (openpyxl ``append``), each cell made safe."""
    return [[safe_cell(v) for v in row] for row in rows]
