"""Reading user files: archives (bounded), encodings (UTF-8, UTF-8 with BOM, cp932), CSV and Excel.

Every reader returns strings (nothing converted, NaN → "") with the file's display name, so
validation can point at the exact file, sheet, row and column the user sees. A CSV's grid marks
the cells a short row does not have with ``None``, so that a row whose cells do not line up with
its header can be told (``misaligned_rows``). Archives go through
``limits`` (member count, total size and ratio checked while reading); every member is either read
or reported by name with the reason it was not.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from .._errors import InputError, RowIssue
from ..model import normalize_text
from ..validate import FACILITY_REQUIRED, INSTITUTION_REQUIRED
from .limits import DEFAULT_LIMITS, ArchiveError, ArchiveLimits, gunzip, open_zip, read_member

ENCODINGS = ("utf-8-sig", "cp932")
TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
ARCHIVE_SUFFIXES = (".zip", ".gz", ".lzh", ".7z", ".rar", ".tar", ".tgz")
# Columns a row of a ``read_table`` file may not leave out by ending early: the simple format's
# required ones (facilities and institutions), as the web upload reads that format here.
REQUIRED_CELLS = tuple(dict.fromkeys(FACILITY_REQUIRED + INSTITUTION_REQUIRED))


def decode_bytes(data: bytes, name: str) -> str:
    """Decode file bytes as UTF-8 (with or without BOM) or cp932, in that order."""
    for enc in ENCODINGS:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError(
        RowIssue(
            name,
            None,
            None,
            None,
            "文字コードを判別できません (UTF-8 または Shift_JIS(cp932) で保存してください)",
        )
    )


@dataclass(frozen=True)
class Member:
    """One table file: itself, or one member of a ZIP/gzip (``name`` is the member's path)."""

    name: str
    data: bytes
    archive: str = ""  # the archive's file name when this came out of one

    @property
    def is_excel(self) -> bool:
        return PurePosixPath(self.name).suffix.lower() in EXCEL_SUFFIXES or _is_xlsx(self.data)


@dataclass
class Expanded:
    """The table files of one input file, and the members passed over (with the reason)."""

    members: list[Member] = field(default_factory=list)
    skipped: list[RowIssue] = field(default_factory=list)


def _is_xlsx(data: bytes) -> bool:
    """Whether ZIP bytes are an Excel workbook (its parts, not a folder of tables)."""
    if data[:2] != b"PK":
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return "[Content_Types].xml" in names and "xl/workbook.xml" in names


def _nested(data: bytes, member: str) -> bool:
    suffix = PurePosixPath(member).suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return False
    return suffix in ARCHIVE_SUFFIXES or data[:2] in (b"PK", b"\x1f\x8b")


def expand(data: bytes, name: str, limits: ArchiveLimits = DEFAULT_LIMITS) -> Expanded:
    """The tables inside ``data``: a ZIP's members, a gzip's payload, or the file itself.

    Nested archives, corrupt or truncated archives and archives beyond ``limits`` raise
    ``InputError`` naming the file; members that are not CSV/Excel (PDF, README, macOS
    ``__MACOSX`` folders) are skipped with a reason.
    """
    out = Expanded()
    if data[:2] == b"PK" and not _is_xlsx(data):
        with open_zip(data, name, limits) as zf:
            used = 0
            for info in zf.infolist():
                if info.is_dir():
                    continue
                member = info.filename
                base = PurePosixPath(member).name
                if member.startswith("__MACOSX/") or base.startswith("."):
                    out.skipped.append(
                        _skip(name, member, "macOS などの付属ファイルのため読みません")
                    )
                    continue
                suffix = PurePosixPath(member).suffix.lower()
                if suffix in ARCHIVE_SUFFIXES:
                    raise ArchiveError(name, _nested_message(member))
                if suffix not in TABLE_SUFFIXES:
                    out.skipped.append(_skip(name, member, "CSV・Excel ではないため読みません"))
                    continue
                body = read_member(zf, info, name, limits, already=used)
                used += len(body)
                if _nested(body, member):
                    raise ArchiveError(name, _nested_message(member))
                out.members.append(Member(member, body, name))
        if not out.members:
            raise InputError(
                [RowIssue(name, None, None, None, "ZIP の中に CSV・Excel ファイルがありません")]
                + out.skipped
            )
        return out
    if data[:2] == b"\x1f\x8b":
        body = gunzip(data, name, limits)
        inner = name[:-3] if name.lower().endswith(".gz") else name
        if body[:2] == b"\x1f\x8b" or (body[:2] == b"PK" and not _is_xlsx(body)):
            raise ArchiveError(name, _nested_message(inner))
        out.members.append(Member(inner, body, name))
        return out
    out.members.append(Member(name, data))
    return out


def _skip(archive: str, member: str, why: str) -> RowIssue:
    return RowIssue(archive, None, None, member, f"「{member}」: {why}", "warning")


def _nested_message(member: str) -> str:
    return f"圧縮ファイルの中に圧縮ファイル「{member}」があります。展開してから渡してください"


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, or ``InputError`` naming it."""
    path = Path(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(
            RowIssue(path.name, None, None, None, f"ファイルを開けません: {exc.strerror}")
        ) from None


def csv_rows(text: str, name: str) -> list[list[str]]:
    """Every CSV record as a list of cells (ragged rows padded later); ``InputError`` if
    unreadable."""
    delimiter = "\t" if name.lower().endswith(".tsv") else ","
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise InputError(RowIssue(name, None, None, None, f"CSV として読めません: {exc}")) from None


def grid_of_rows(rows: list[list[str]]) -> pd.DataFrame:
    """A rectangular DataFrame (no header) of ragged rows, cells stripped.

    A row shorter than the widest is padded with ``None``, not "", so that the grid still says
    how many cells each row had (``misaligned_rows``); readers turn ``None`` into "".
    """
    width = max((len(r) for r in rows), default=0)
    padded = [[c.strip() for c in r] + [None] * (width - len(r)) for r in rows]
    return pd.DataFrame(padded, columns=range(width), dtype=object)


def _cells(row: Sequence[object]) -> int:
    """How many cells a grid row had in its file (``None`` pads only the end of a CSV row)."""
    n = len(row)
    while n and row[n - 1] is None:
        n -= 1
    return n


def _extent(row: Sequence[object]) -> int:
    """1 + the position of a grid row's last non-empty cell (0 for a blank row)."""
    n = len(row)
    while n and (row[n - 1] is None or str(row[n - 1]).strip() == ""):
        n -= 1
    return n


def misaligned_rows(
    grid: pd.DataFrame, header_index: int, where: str, needed: Collection[int] = ()
) -> list[RowIssue]:
    """Errors for the rows below the header at ``header_index`` whose cells do not line up with it.

    A row with more cells than the header (in a CSV: an unquoted comma in a value splits it and
    moves every later value one column to the right), or with a value right of the header's last
    named column (in any sheet), is an error. So is a CSV row with fewer cells than the header,
    unless every cell it leaves out is under a column whose position (0-based) is not in
    ``needed``. Blank rows are passed over. Each error names ``where``, the row as the user sees
    it (the header's row is ``header_index + 1``) and both counts.
    """
    rows = grid.to_numpy().tolist()
    if header_index >= len(rows):
        return []
    header = rows[header_index]
    header_cells, named = _cells(header), _extent(header)
    names = [normalize_text(h) or f"列{j + 1}" for j, h in enumerate(header)]
    issues: list[RowIssue] = []
    for i, cells in enumerate(rows[header_index + 1 :], start=header_index + 2):
        extent = _extent(cells)
        if extent == 0:
            continue
        n = _cells(cells)
        lost = [names[j] for j in range(n, header_cells) if j in needed]
        if n > header_cells:
            issue = RowIssue(
                where,
                i,
                None,
                _shown(cells[header_cells:n]),
                f"この行のセルが {n} 個あり、見出しの {header_cells} 列より多くなっています。"
                "値に半角カンマ (,) が含まれていないか確かめてください "
                '(カンマを含む値は "…" で囲みます)。列がずれるため読めません',
            )
        elif extent > named:
            issue = RowIssue(
                where,
                i,
                None,
                _shown(cells[named:extent]),
                f"この行は {extent} 列目まで値があり、見出しの {named} 列より多くなっています。"
                "見出しのない列に値があるため読めません。列がずれていないか確かめてください",
            )
        elif lost:
            issue = RowIssue(
                where,
                i,
                None,
                None,
                f"この行のセルが {n} 個しかなく、見出しの {header_cells} 列より少なくなって"
                f"います (必須列「{'」「'.join(lost)}」の値がありません)。"
                "列が欠けていないか確かめてください",
            )
        else:
            continue
        issues.append(issue)
    return issues


def _shown(cells: Sequence[object]) -> str:
    """The cells right of the header, as the issue's value (shortened)."""
    text = ", ".join("" if c is None else str(c) for c in cells)
    return text if len(text) <= 60 else text[:59] + "…"


def excel_grids(data: bytes, name: str) -> dict[str, pd.DataFrame]:
    """Every sheet of a workbook as strings, without a header (the workbook is size-checked)."""
    from .limits import verify_archive

    verify_archive(data, name)
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=str)
    except Exception as exc:  # openpyxl raises many kinds; all mean "not a workbook we can read"
        raise InputError(
            RowIssue(name, None, None, None, f"Excel ファイルとして読めません: {exc}")
        ) from None
    return {
        str(k): v.fillna("").astype(str).apply(lambda c: c.str.strip()) for k, v in sheets.items()
    }


def csv_grid(text: str, name: str) -> pd.DataFrame:
    """A CSV as a grid without a header, each row as long as the file's (``grid_of_rows``).

    The csv module, not pandas' C parser: pandas pads a short row with "" and so hides how many
    cells it had, and under pandas 3 (``dtype=str``) it is also the slower of the two (100 000
    rows × 20 cells: read and strip 2.0 s with pandas, 0.8–1.2 s with the csv module).
    """
    return grid_of_rows(csv_rows(text, name))


def member_grids(member: Member) -> dict[str, pd.DataFrame]:
    """The sheets of one table file (one unnamed sheet for a CSV)."""
    if member.is_excel:
        return excel_grids(member.data, member.name)
    return {"": csv_grid(decode_bytes(member.data, member.name), member.name)}


def duplicated_headers(headers: list[str]) -> list[str]:
    """Header names that occur more than once (after NFKC and stripping; blanks ignored)."""
    seen: dict[str, int] = {}
    for h in headers:
        key = normalize_text(h)
        if key:
            seen[key] = seen.get(key, 0) + 1
    return [h for h, n in seen.items() if n > 1]


def read_table(
    path: str | Path,
    sheet: str | int | None = None,
    required: Collection[str] = REQUIRED_CELLS,
    name: str | None = None,
) -> pd.DataFrame:
    """Read a one-header CSV (any supported encoding, possibly zipped) or an Excel sheet as strings.

    The header is the first row; a header used twice, a missing header or a file without data rows
    after the header is an ``InputError`` naming the file. So is a row whose cells do not line up
    with the header (``misaligned_rows``): more cells than the header, or fewer where a column
    named in ``required`` is left out (by default the simple format's required columns, which the
    web upload reads with this function). Errors name the file ``name`` (by default the path's
    own name; a temporary copy of an upload is better named as the user's file).
    """
    path = Path(path)
    name = name or path.name
    expanded = expand(read_bytes(path), name)
    member = expanded.members[0]
    grids = member_grids(member)
    if sheet is None:
        grid = next(iter(grids.values()))
    else:
        key = sheet if isinstance(sheet, str) else list(grids)[sheet]
        grid = grids[key]
    if grid.empty or len(grid.columns) == 0:
        raise InputError(RowIssue(name, None, None, None, "ファイルが空です"))
    headers = ["" if c is None else str(c).strip().lstrip("\ufeff") for c in grid.iloc[0].tolist()]
    twice = duplicated_headers(headers)
    if twice:
        raise InputError(
            RowIssue(name, 1, twice[0], None, f"同じ名前の列が複数あります: {', '.join(twice)}")
        )
    misaligned = misaligned_rows(grid, 0, name, [j for j, h in enumerate(headers) if h in required])
    if misaligned:
        raise InputError(misaligned)
    body = grid.iloc[1:].to_numpy().tolist()
    df = pd.DataFrame(
        [["" if c is None else c for c in row] for row in body], columns=headers, dtype=object
    )
    return df


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a CSV that Excel opens correctly (UTF-8 with BOM, CRLF) and never evaluates."""
    from .cells import safe_frame

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe_frame(df).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return path
