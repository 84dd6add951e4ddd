"""Cell text rules shared by every reader and writer: clean what comes in, neutralise what goes out.

In: NFKC, invisible characters (zero-width spaces, BOMs, soft hyphens) removed, hyphen variants
unified in identifiers, control characters found (they break Excel files and the reports later).
Out: ``safe_cell`` turns formula-like text (``=``, ``+``, ``-``, ``@``, tab, CR first) into plain
text for CSV and Excel, as OWASP recommends for CSV injection; numbers are left alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import pandas as pd

# Zero-width and other invisible format characters that survive NFKC.
INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0]"
)
# C0/C1 control characters except tab, LF and CR (which cells may legitimately hold).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Hyphen-like characters registries and hands mix in ids and codes (after NFKC).
HYPHENS = re.compile("[\u2010-\u2015\u2212\u30fc\uff70\ufe58\ufe63\u2043\u02d7]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def clean_text(value: object) -> str:
    """NFKC text without invisible characters, stripped; ``None``/NaN → "" (controls are kept)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    return INVISIBLE.sub("", text).strip()


def clean_id(value: object) -> str:
    """An identifier as compared everywhere: ``clean_text`` plus hyphen variants → ``-``."""
    return HYPHENS.sub("-", clean_text(value))


def control_characters(text: str) -> str:
    """The control characters in ``text`` as ``U+0000`` notation ("" when there are none)."""
    found = sorted(set(CONTROL.findall(text)))
    return ", ".join(f"U+{ord(c):04X}" for c in found)


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
