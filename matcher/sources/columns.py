"""Finding columns by header name (with Japanese synonyms) and header rows below title lines."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from .._errors import InputError, RowIssue
from ..model import normalize_text
from .textfile import decode_bytes, read_table, unwrap_archive

_NOISE = re.compile(r"[\s()（）「」『』\[\]【】<>＜＞:：・、。,.\-‐ー−_/\\\n※*＊]")


def header_key(value: object) -> str:
    """Comparable form of a header: NFKC (①→1), lower case, no spaces, brackets or punctuation."""
    return _NOISE.sub("", normalize_text(value).lower())


def match_columns(headers: Sequence[str], spec: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Map canonical names to the source header that carries them.

    ``spec`` lists, per canonical name, the header names that mean it. An exact match (after
    ``header_key``) wins; otherwise a header containing a synonym is taken, the longest synonym
    first, so that 事業所所在地 goes to the facility's address rather than a partner's 所在地.
    Each header is used at most once.
    """
    keys = {h: header_key(h) for h in headers}
    found: dict[str, str] = {}
    used: set[str] = set()
    for canonical, names in spec.items():
        wanted = {header_key(n) for n in names}
        for h in headers:
            if h not in used and keys[h] in wanted:
                found[canonical] = h
                used.add(h)
                break
    # One-character synonyms (①, which NFKC makes "1") only ever match exactly.
    pairs = sorted(
        (
            (len(header_key(n)), canonical, header_key(n))
            for canonical, names in spec.items()
            for n in names
            if canonical not in found and len(header_key(n)) >= 2
        ),
        key=lambda t: -t[0],
    )
    for _, canonical, syn in pairs:
        if canonical in found:
            continue
        for h in headers:
            if h not in used and syn in keys[h]:
                found[canonical] = h
                used.add(h)
                break
    return found


def missing_columns(
    file: str,
    headers: Sequence[str],
    found: Mapping[str, str],
    required: Mapping[str, str],
    header_row: int = 1,
) -> list[RowIssue]:
    """Issues for required canonical columns not found; ``required`` maps name → 日本語の列名."""
    shown = ", ".join(str(h) for h in headers)
    return [
        RowIssue(
            file, header_row, label, None, f"必須列「{label}」が見つかりません (ある列: {shown})"
        )
        for canonical, label in required.items()
        if canonical not in found
    ]


def read_mapped(
    path: Path, spec: Mapping[str, Sequence[str]], required: Mapping[str, str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read a one-header table and map its columns; a missing required column is an error."""
    df = read_table(path)
    headers = list(df.columns)
    found = match_columns(headers, spec)
    missing = missing_columns(path.name, headers, found, required)
    if missing:
        raise InputError(missing)
    return df, found


def header_tables(
    path: Path,
    spec: Mapping[str, Sequence[str]],
    anchor: Sequence[str],
    required: Mapping[str, str],
) -> Iterator[tuple[str, dict[str, str], list[dict[str, str]], list[RowIssue]]]:
    """Per sheet of a CSV/Excel file: where, mapped columns, records, missing required columns.

    The header row is found by the ``anchor`` canonical names. A workbook's extra sheets without
    it (instructions, lists) are passed over; a file whose only sheet lacks it yields the missing
    columns so the caller can report them.
    """
    sheets = read_grid(path)
    for sheet, grid in sheets.items():
        where = f"{path.name}[{sheet}]" if sheet else path.name
        at = find_header(grid, spec, tuple(anchor))
        if at is None and len(sheets) > 1:
            continue
        headers, records, _ = table_below(grid, at or 0)
        found = match_columns(headers, spec)
        yield where, found, records, missing_columns(where, headers, found, required, (at or 0) + 1)


def read_grid(path: str | Path) -> dict[str, pd.DataFrame]:
    """Every sheet of an Excel workbook (or the one table of a CSV) as strings, without a header."""
    path = Path(path)
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            RowIssue(name, None, None, None, f"ファイルを開けません: {exc.strerror}")
        ) from None
    if path.suffix.lower() in (".xlsx", ".xlsm") or data[:2] == b"PK" and b"xl/" in data[:2000]:
        try:
            sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=str)
        except (
            Exception
        ) as exc:  # openpyxl raises many kinds; all mean "not a workbook we can read"
            raise InputError(
                RowIssue(name, None, None, None, f"Excel ファイルとして読めません: {exc}")
            ) from None
        return {
            str(k): v.fillna("").astype(str).apply(lambda c: c.str.strip())
            for k, v in sheets.items()
        }
    text = decode_bytes(unwrap_archive(data, name), name)
    try:
        df = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(RowIssue(name, None, None, None, f"CSV として読めません: {exc}")) from None
    return {"": df.apply(lambda c: c.str.strip())}


def locate_header(grid: pd.DataFrame, markers: Sequence[str], max_rows: int = 30) -> int | None:
    """Index (0-based) of the first row among the top ``max_rows`` holding every marker header."""
    wanted = [header_key(m) for m in markers]
    for i in range(min(max_rows, len(grid))):
        cells = [header_key(v) for v in grid.iloc[i].tolist()]
        if all(any(w == c or w in c for c in cells if c) for w in wanted):
            return i
    return None


def find_header(
    grid: pd.DataFrame, spec: Mapping[str, Sequence[str]], needed: Sequence[str], max_rows: int = 30
) -> int | None:
    """Index (0-based) of the first top row whose cells name every canonical column in ``needed``."""
    for i in range(min(max_rows, len(grid))):
        cells = [normalize_text(v) for v in grid.iloc[i].tolist()]
        cells = [c for c in cells if c]
        if cells and all(k in match_columns(cells, spec) for k in needed):
            return i
    return None


def table_below(
    grid: pd.DataFrame, header_index: int
) -> tuple[list[str], list[dict[str, str]], int]:
    """Headers, records and the Excel row number of the first record, for a header at ``header_index``.

    Empty header cells get a placeholder name; rows with every cell blank are dropped (their row
    numbers are still counted, so later rows keep the number the user sees).
    """
    raw = [normalize_text(v) for v in grid.iloc[header_index].tolist()]
    headers: list[str] = []
    for j, h in enumerate(raw):
        h = h.replace("\n", "") or f"列{j + 1}"
        while h in headers:
            h += "_"
        headers.append(h)
    records: list[dict[str, str]] = []
    for i in range(header_index + 1, len(grid)):
        cells = [str(v) for v in grid.iloc[i].tolist()]
        rec = dict(zip(headers, cells))
        rec["__row__"] = str(i + 1)
        records.append(rec)
    return headers, records, header_index + 2


def is_blank(record: Mapping[str, object]) -> bool:
    """Whether every cell but the bookkeeping ``__row__`` is empty."""
    return all(normalize_text(v) == "" for k, v in record.items() if k != "__row__")


def records_of(df: pd.DataFrame) -> list[dict[str, str]]:
    """Rows of a string DataFrame as dicts (much faster than ``to_dict("records")`` on 10⁵ rows)."""
    cols = [str(c) for c in df.columns]
    return [dict(zip(cols, values)) for values in zip(*(df[c].tolist() for c in df.columns))]
