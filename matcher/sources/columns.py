"""Finding columns by header name (with Japanese synonyms) and header rows below title lines."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .._errors import InputError, RowIssue
from ..model import normalize_text
from .textfile import expand, member_grids, read_bytes

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


@dataclass
class Table:
    """One table found in a file: where (file, sheet or ZIP member), its header and its records."""

    file: str
    sheet: str
    header_row: int  # 1-based, as the user sees it
    headers: list[str]
    found: dict[str, str]
    records: list[dict[str, str]]
    # The sheet as read (header and title lines included), for checks that need each row's own
    # cell count, which the records no longer show (``textfile.misaligned_rows``).
    grid: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"{self.file}[{self.sheet}]" if self.sheet else self.file


@dataclass
class Tables:
    """Every table of some files that carries the wanted header, and what was passed over."""

    tables: list[Table] = field(default_factory=list)
    skipped: list[RowIssue] = field(default_factory=list)


def read_sheets(path: str | Path) -> tuple[dict[str, pd.DataFrame], list[RowIssue]]:
    """Every sheet of every table in a file (ZIP members and workbook sheets), keyed by where.

    Keys: "" for a plain CSV, the sheet name for a workbook, the member name for a ZIP member
    (``member[sheet]`` for a workbook inside a ZIP). The second value lists ZIP members that are
    not tables, each named with the reason.
    """
    path = Path(path)
    expanded = expand(read_bytes(path), path.name)
    grids: dict[str, pd.DataFrame] = {}
    for member in expanded.members:
        for sheet, grid in member_grids(member).items():
            if member.archive and not member.archive.lower().endswith(".gz"):
                key = f"{member.name}[{sheet}]" if sheet else member.name
            else:
                key = sheet
            grids[key] = grid
    return grids, expanded.skipped


def sheet_warning(path: Path, sheet: str, message: str) -> RowIssue:
    """A warning about one whole sheet (or ZIP member) of ``path``: no row, no column."""
    return RowIssue(path.name, None, None, sheet or None, message, "warning")


def find_tables(
    paths: Sequence[str | Path],
    spec: Mapping[str, Sequence[str]],
    anchor: Sequence[str],
    required: Mapping[str, str],
    what: str,
    max_rows: int = 30,
) -> Tables:
    """The tables of ``paths`` whose header (in the top ``max_rows`` rows of any sheet or ZIP
    member) names every ``anchor`` column; other sheets and members are reported as skipped.

    ``InputError`` naming the file when a file has no such table, a table lacks a required
    column, a column the importer reads appears twice, or a file has a header but no data row.
    ``what`` names the expected table in messages (e.g. ``介護サービス情報公表の事業所一覧``).
    """
    out = Tables()
    labels = "・".join(required.get(a, a) for a in anchor)
    for p in paths:
        path = Path(p)
        grids, skipped = read_sheets(path)
        out.skipped.extend(skipped)
        found_any: list[Table] = []
        errors: list[RowIssue] = []
        passed: list[RowIssue] = []
        for sheet, grid in grids.items():
            where = f"{path.name}[{sheet}]" if sheet else path.name
            at = find_header(grid, spec, tuple(anchor), max_rows)
            if at is None:
                passed.append(
                    sheet_warning(
                        path,
                        sheet,
                        f"{where}: 先頭 {max_rows} 行に{what}の見出し行 ({labels}) がないため"
                        "読みません",
                    )
                )
                continue
            headers, records, _ = table_below(grid, at)
            found = match_columns(headers, spec)
            errors.extend(missing_columns(where, headers, found, required, at + 1))
            errors.extend(duplicated_mapped(where, headers, found, at + 1))
            records = [r for r in records if not is_blank(r)]
            found_any.append(Table(path.name, sheet, at + 1, headers, found, records, grid))
        if errors:
            raise InputError(errors)
        if not found_any:
            # A header naming only some anchor columns: say which required ones it lacks.
            for (sheet, grid), one in itertools.product(grids.items(), anchor):
                at = find_header(grid, spec, (one,), max_rows)
                if at is not None:
                    where = f"{path.name}[{sheet}]" if sheet else path.name
                    headers = table_below(grid, at)[0]
                    found = match_columns(headers, spec)
                    missing = missing_columns(where, headers, found, required, at + 1)
                    if missing:
                        raise InputError(missing)
            empty = all(g.empty or not g.map(bool).to_numpy().any() for g in grids.values())
            message = (
                "ファイルが空です"
                if empty
                else f"{what}の見出し行 ({labels}) が先頭 {max_rows} 行に見つかりません。"
                "取り込み元の種類とファイルが合っているか確かめてください"
            )
            raise InputError(RowIssue(path.name, None, None, None, message))
        if not any(t.records for t in found_any):
            raise InputError(
                RowIssue(
                    path.name,
                    found_any[0].header_row,
                    None,
                    None,
                    "見出し行だけでデータ行がありません",
                )
            )
        out.tables.extend(found_any)
        out.skipped.extend(passed)
    return out


def duplicated_mapped(
    where: str, headers: Sequence[str], found: Mapping[str, str], header_row: int
) -> list[RowIssue]:
    """Issues for columns the importer reads that appear more than once in the header."""
    keys = [header_key(h) for h in headers]
    return [
        RowIssue(
            where,
            header_row,
            h,
            None,
            f"列「{h}」が複数あります。どちらを使うか決められないため、"
            "片方を削除するか名前を変えてください",
        )
        for h in found.values()
        if keys.count(header_key(h)) > 1
    ]


def header_tables(
    path: Path,
    spec: Mapping[str, Sequence[str]],
    anchor: Sequence[str],
    required: Mapping[str, str],
) -> Iterator[tuple[str, dict[str, str], list[dict[str, str]], list[RowIssue]]]:
    """Per sheet of a CSV/Excel/ZIP file: where, mapped columns, records, missing required columns.

    The header row is found by the ``anchor`` canonical names. A workbook's extra sheets without
    it (instructions, lists) are passed over; a file whose only sheet lacks it yields the missing
    columns so the caller can report them. ZIP members that are not tables are yielded as one
    warning each (the caller reports them as skipped).
    """
    sheets, skipped = read_sheets(path)
    for issue in skipped:
        yield path.name, {}, [], [issue]
    for sheet, grid in sheets.items():
        where = f"{path.name}[{sheet}]" if sheet else path.name
        at = find_header(grid, spec, tuple(anchor))
        if at is None and len(sheets) > 1:
            continue
        headers, records, _ = table_below(grid, at or 0)
        found = match_columns(headers, spec)
        missing = missing_columns(where, headers, found, required, (at or 0) + 1)
        missing += duplicated_mapped(where, headers, found, (at or 0) + 1)
        if at is not None and not missing and not any(not is_blank(r) for r in records):
            missing = [RowIssue(where, at + 1, None, None, "見出し行だけでデータ行がありません")]
        yield where, found, records, missing


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
    """Index (0-based) of the first top row whose cells name every canonical column of
    ``needed``."""
    for i in range(min(max_rows, len(grid))):
        cells = [normalize_text(v) for v in grid.iloc[i].tolist()]
        cells = [c for c in cells if c]
        if cells and all(k in match_columns(cells, spec) for k in needed):
            return i
    return None


def table_below(
    grid: pd.DataFrame, header_index: int
) -> tuple[list[str], list[dict[str, str]], int]:
    """Headers, records and the Excel row number of the first record, for a header at
    ``header_index``.

    Empty header cells get a placeholder name; every record keeps its row number as the user sees
    it in ``__row__`` (blank rows are kept here; callers skip them with ``is_blank``).
    """
    raw = [normalize_text(v).lstrip("\ufeff") for v in grid.iloc[header_index].tolist()]
    headers: list[str] = []
    for j, h in enumerate(raw):
        h = h.replace("\n", "") or f"列{j + 1}"
        while h in headers:
            h += "_"
        headers.append(h)
    records: list[dict[str, str]] = []
    for i, cells in enumerate(grid.iloc[header_index + 1 :].to_numpy().tolist()):
        rec = dict(zip(headers, ("" if c is None else str(c) for c in cells), strict=False))
        rec["__row__"] = str(header_index + 2 + i)
        records.append(rec)
    return headers, records, header_index + 2


def cell_reader(rec: Mapping[str, str], found: Mapping[str, str]) -> Callable[[str], str]:
    """``get(key)``: the normalized text of ``rec``'s cell in the column that ``found`` maps
    ``key`` to ("" for a column not found)."""

    def get(key: str) -> str:
        return normalize_text(rec.get(found.get(key, ""), ""))

    return get


def is_blank(record: Mapping[str, object]) -> bool:
    """Whether every cell but the bookkeeping ``__row__`` is empty."""
    # str.strip removes every Unicode space (also U+3000), as NFKC + strip would.
    return all(v is None or str(v).strip() == "" for k, v in record.items() if k != "__row__")
