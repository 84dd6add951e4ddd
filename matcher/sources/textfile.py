"""Reading user files: archives (bounded), encodings (UTF-8, UTF-8 with BOM, cp932), CSV and Excel.

Every reader returns strings (nothing converted, NaN → "") with the file's display name, so
validation can point at the exact file, sheet, row and column the user sees. Archives go through
``limits`` (member count, total size and ratio checked while reading); every member is either read
or reported by name with the reason it was not.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from .._errors import InputError, RowIssue
from .limits import DEFAULT_LIMITS, ArchiveError, ArchiveLimits, gunzip, open_zip, read_member

ENCODINGS = ("utf-8-sig", "cp932")
TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
ARCHIVE_SUFFIXES = (".zip", ".gz", ".lzh", ".7z", ".rar", ".tar", ".tgz")


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
    """A rectangular string DataFrame (no header) of ragged rows, cells stripped."""
    width = max((len(r) for r in rows), default=0)
    padded = [[c.strip() for c in r] + [""] * (width - len(r)) for r in rows]
    return pd.DataFrame(padded, columns=range(width), dtype=object)


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
    """A CSV as a string grid without a header: pandas' C parser for rectangular files, the csv
    module when rows differ in length (title lines above the header)."""
    if not name.lower().endswith(".tsv"):
        try:
            df = pd.read_csv(
                io.StringIO(text),
                header=None,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError):
            pass
        else:
            return df.apply(lambda c: c.str.strip()).set_axis(range(df.shape[1]), axis=1)
    return grid_of_rows(csv_rows(text, name))


def member_grids(member: Member) -> dict[str, pd.DataFrame]:
    """The sheets of one table file (one unnamed sheet for a CSV)."""
    if member.is_excel:
        return excel_grids(member.data, member.name)
    return {"": csv_grid(decode_bytes(member.data, member.name), member.name)}


def duplicated_headers(headers: list[str]) -> list[str]:
    """Header names that occur more than once (after NFKC and stripping; blanks ignored)."""
    from ..model import normalize_text

    seen: dict[str, int] = {}
    for h in headers:
        key = normalize_text(h)
        if key:
            seen[key] = seen.get(key, 0) + 1
    return [h for h, n in seen.items() if n > 1]


def read_table(path: str | Path, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a one-header CSV (any supported encoding, possibly zipped) or an Excel sheet as strings.

    The header is the first row; a header used twice, a missing header or a file without data rows
    after the header is an ``InputError`` naming the file.
    """
    path = Path(path)
    name = path.name
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
    headers = [str(c).strip().lstrip("\ufeff") for c in grid.iloc[0].tolist()]
    twice = duplicated_headers(headers)
    if twice:
        raise InputError(
            RowIssue(name, 1, twice[0], None, f"同じ名前の列が複数あります: {', '.join(twice)}")
        )
    df = grid.iloc[1:].reset_index(drop=True)
    df.columns = headers
    return df


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a CSV that Excel opens correctly (UTF-8 with BOM, CRLF) and never evaluates."""
    from .cells import safe_frame

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe_frame(df).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return path
