"""The import report every importer returns: accepted items, rejected rows with reasons, counts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, TypeVar

import pandas as pd

from .._errors import RowIssue
from ..geocode import Located, locate
from ..model import normalize_text
from ..validate import Validated
from .columns import Table, find_tables, is_blank
from .textfile import write_csv

T = TypeVar("T")
RejectCategory = Literal["error", "skipped", "unmatched"]
CATEGORY_JA = {"error": "エラー", "skipped": "対象外", "unmatched": "未結合"}
# Severities of the input-issue report (``*.issues.csv``), most serious first.
SEVERITIES = ("error", "excluded", "fix", "fallback", "warning")
SEVERITY_JA = {
    "error": "エラー(行を除外)",
    "excluded": "対象外・未結合",
    "fix": "自動修正",
    "fallback": "代替値を使用",
    "warning": "警告",
}
ISSUE_COLUMNS = ("file", "sheet", "row", "column", "value", "severity", "message")


@dataclass(frozen=True)
class Notice(RowIssue):
    """A non-fatal row issue that says what was done: ``fix`` (a value corrected), ``fallback``
    (an approximate value used, e.g. the municipality's point) or plain ``warning``."""

    kind: str = "warning"


@dataclass(frozen=True)
class RejectedRow:
    """One source row that did not become an item: where it was, why, and its original cells.

    ``category`` is ``"error"`` for rows that are wrong, ``"skipped"`` for valid rows that are
    not a target (e.g. 短期入所 or 歯科) and ``"unmatched"`` for rows that name something the
    other registry does not have. Row numbers are Excel's, counting the header row.
    """

    file: str
    row: int | None
    reason: str
    values: Mapping[str, str] = field(default_factory=dict)
    category: RejectCategory = "error"
    whole_table: bool = False  # a sheet refused whole (missing columns): not a data row


@dataclass
class ImportResult(Generic[T]):
    """What an importer produced: ``items`` accepted, ``rejected`` rows, non-fatal ``warnings``."""

    items: list[T] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    warnings: list[RowIssue] = field(default_factory=list)
    rows_read: int = 0
    # ZIP members and sheets passed over (not tables of this source), one issue each.
    skipped_files: list[RowIssue] = field(default_factory=list)
    # Rows left out without a row of their own in the report (e.g. a 名簿's other standards).
    excluded_rows: int = 0
    # For a join step: how many read entries were joined (else accepted rows come from items).
    joined_rows: int | None = None

    def table_rows(
        self, where: str, records: Iterable[dict[str, str]], missing: Sequence[RowIssue]
    ) -> Iterator[dict[str, str]]:
        """The non-blank records of one table, counted as read; a table missing required
        columns is rejected whole (one row per missing column) and yields nothing."""
        if missing:
            for i in missing:
                if i.severity == "warning":
                    self.skipped_files.append(i)
                else:
                    self.rejected.append(RejectedRow(where, i.row, i.message, {}, "error", True))
            return
        for rec in records:
            if is_blank(rec):
                continue
            self.rows_read += 1
            yield rec

    @property
    def errors(self) -> list[RejectedRow]:
        """Rows rejected as wrong (whole tables refused are ``tables_rejected``)."""
        return [r for r in self.rejected if r.category == "error" and not r.whole_table]

    @property
    def skipped(self) -> list[RejectedRow]:
        return [r for r in self.rejected if r.category == "skipped"]

    @property
    def unmatched(self) -> list[RejectedRow]:
        return [r for r in self.rejected if r.category == "unmatched"]

    @property
    def tables_rejected(self) -> list[RejectedRow]:
        return [r for r in self.rejected if r.whole_table]

    @property
    def accepted_rows(self) -> int:
        """Source rows that went into an item (an item merged from several rows counts each)."""
        if self.joined_rows is not None:
            return self.joined_rows
        return sum(len(getattr(i, "rows", ())) or 1 for i in self.items)

    @property
    def counts(self) -> dict[str, int]:
        """Rows read, rows accepted, rejected as errors, excluded (skipped + unmatched), items,
        warnings; ``read == accepted + rejected + excluded`` (see ``balanced``)."""
        excluded = len(self.skipped) + len(self.unmatched) + self.excluded_rows
        out = {
            "read": self.rows_read,
            "accepted": self.accepted_rows,
            "rejected": len(self.errors),
            "excluded": excluded,
            "skipped": len(self.skipped) + self.excluded_rows,
            "items": len(self.items),
            "warnings": len(self.warnings),
        }
        if self.unmatched:
            out["unmatched"] = len(self.unmatched)
        if self.tables_rejected:
            out["tables_rejected"] = len(self.tables_rejected)
        return out

    @property
    def balanced(self) -> bool:
        """Whether every row read is accounted for: accepted, rejected or excluded, once."""
        c = self.counts
        return c["read"] == c["accepted"] + c["rejected"] + c["excluded"]

    def summary_ja(self) -> str:
        """One line for the terminal, e.g. ``読込 12 行: 採用 9 / エラー 2 / 対象外 1 / 警告 3``
        (read = accepted + errors + excluded; a mismatch is flagged)."""
        c = self.counts
        text = (
            f"読込 {c['read']} 行: 採用 {c['accepted']} / エラー {c['rejected']} / "
            f"対象外 {c['excluded']} / 警告 {c['warnings']}"
        )
        if "unmatched" in c:
            text += f" (対象外のうち未結合 {c['unmatched']})"
        if c["items"] != c["accepted"]:
            text += f" → {c['items']} 件"
        if not self.balanced:
            text += " [行数が合いません]"
        return text

    def extend(self, other: ImportResult[T]) -> None:
        """Append another file's result to this one (items, rejects, warnings, row count)."""
        self.items.extend(other.items)
        self.rejected.extend(other.rejected)
        self.warnings.extend(other.warnings)
        self.rows_read += other.rows_read
        self.skipped_files.extend(other.skipped_files)
        self.excluded_rows += other.excluded_rows
        if other.joined_rows is not None:
            self.joined_rows = (self.joined_rows or 0) + other.joined_rows

    def issues(self) -> list[InputIssue]:
        """Every row-level message as one report line each (rejections, exclusions, fixes,
        fallbacks, warnings, members and sheets passed over), in file/row order."""
        out = [InputIssue.of_rejected(r) for r in self.rejected]
        out += [InputIssue.of_issue(i) for i in self.warnings]
        out += [InputIssue.of_issue(i, "excluded") for i in self.skipped_files]
        return sorted(out, key=lambda i: (i.file, i.sheet, i.row or 0))


def _split_where(where: str) -> tuple[str, str]:
    """``book.xlsx[Sheet1]`` → (``book.xlsx``, ``Sheet1``); a plain name has no sheet."""
    if where.endswith("]") and "[" in where:
        at = where.index("[")
        return where[:at], where[at + 1 : -1]
    return where, ""


@dataclass(frozen=True)
class InputIssue:
    """One line of the input-issue report: where, the value, what was done and why."""

    file: str
    sheet: str
    row: int | None
    column: str
    value: str
    severity: str  # one of SEVERITIES
    message: str

    @classmethod
    def of_rejected(cls, r: RejectedRow) -> InputIssue:
        file, sheet = _split_where(r.file)
        severity = "excluded" if r.category in ("skipped", "unmatched") else "error"
        return cls(file, sheet, r.row, "", "", severity, r.reason)

    @classmethod
    def of_issue(cls, i: RowIssue, severity: str | None = None) -> InputIssue:
        file, sheet = _split_where(i.file)
        if severity is None:
            severity = i.severity if i.severity == "error" else getattr(i, "kind", "warning")
        if severity == "excluded" and not sheet and i.value:
            sheet = i.value  # a ZIP member or sheet passed over: name it in the sheet column
        value = "" if severity == "excluded" and sheet == i.value else (i.value or "")
        return cls(file, sheet, i.row, i.column or "", value, severity, i.message)

    def as_row(self) -> dict[str, object]:
        return {
            "file": self.file,
            "sheet": self.sheet,
            "row": "" if self.row is None else self.row,
            "column": self.column,
            "value": self.value,
            "severity": self.severity,
            "message": self.message,
        }


def issues_frame(issues: Iterable[InputIssue]) -> pd.DataFrame:
    """The input-issue report as a table with the columns of ``ISSUE_COLUMNS``."""
    return pd.DataFrame([i.as_row() for i in issues], columns=list(ISSUE_COLUMNS))


def write_issues(issues: Iterable[InputIssue], path: str | Path) -> Path:
    """Write ``*.issues.csv`` (UTF-8 with BOM; formula-like values neutralised)."""
    return write_csv(issues_frame(issues), path)


def group_issues(
    issues: Sequence[InputIssue], first: int = 3
) -> list[tuple[str, str, int, list[InputIssue]]]:
    """Issues grouped by (severity, message kind) for a terminal summary: the first few of each.

    The kind of a message is its text with the quoted values and numbers taken out, so 100 rows
    whose coordinates fell back to their municipality form one group.
    """
    groups: dict[tuple[str, str], list[InputIssue]] = {}
    for i in issues:
        key = (i.severity, _message_kind(i.message))
        groups.setdefault(key, []).append(i)
    order = {s: n for n, s in enumerate(SEVERITIES)}
    ranked = sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 9), -len(kv[1])))
    return [(sev, kind, len(items), items[:first]) for (sev, kind), items in ranked]


def _message_kind(message: str) -> str:
    text = re.sub(r"「[^」]*」", "「…」", message)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text[:80]


def reason_of(issues: Iterable[RowIssue]) -> str:
    """Join the messages of a row's errors into one 理由 cell (column named when known)."""
    parts = []
    for i in issues:
        where = f"{i.column}: " if i.column else ""
        shown = f"「{i.value}」" if i.value not in (None, "") else ""
        parts.append(f"{where}{shown}{i.message}")
    return " / ".join(parts)


def from_validated(
    validated: Validated[T],
    originals: Mapping[int, Mapping[str, object]],
    file: str,
    rows_read: int | None = None,
) -> ImportResult[T]:
    """Turn a ``validate.Validated`` into an ``ImportResult`` whose rejects carry original cells.

    ``originals`` maps a row number to that row's cells in the source layout, so a reject shows
    what the user wrote rather than the canonical mapping of it.
    """
    out: ImportResult[T] = ImportResult(
        items=list(validated.items),
        warnings=list(validated.warnings),
        rows_read=len(originals) if rows_read is None else rows_read,
    )
    in_rows = {id(i) for issues in validated.rejected_rows.values() for i in issues}
    file_level = [i for i in validated.errors if id(i) not in in_rows]
    for issue in file_level:
        out.rejected.append(RejectedRow(file, issue.row, reason_of([issue])))
    for row, issues in sorted(validated.rejected_rows.items()):
        values = {str(k): normalize_text(v) for k, v in originals.get(row, {}).items()}
        out.rejected.append(RejectedRow(file, row, reason_of(issues), values))
    return out


def rejects_frame(rejected: Iterable[RejectedRow]) -> pd.DataFrame:
    """Rejected rows as a table: ファイル, 行, 区分, 理由, then the original columns."""
    rows: list[dict[str, str]] = []
    extra: list[str] = []
    for r in rejected:
        rows.append(
            {
                "ファイル": r.file,
                "行": "" if r.row is None else str(r.row),
                "区分": CATEGORY_JA[r.category],
                "理由": r.reason,
                **dict(r.values),
            }
        )
        extra.extend(
            k for k in r.values if k not in extra and k not in ("ファイル", "行", "区分", "理由")
        )
    return pd.DataFrame(rows, columns=["ファイル", "行", "区分", "理由", *extra])


def write_rejects(result: ImportResult[T] | Iterable[RejectedRow], path: str | Path) -> Path:
    """Write rejected/skipped rows to a CSV that Excel opens (UTF-8 with BOM) with a 理由 column."""
    rejected = result.rejected if isinstance(result, ImportResult) else list(result)
    return write_csv(rejects_frame(rejected), path)


@dataclass(frozen=True)
class SourceRow:
    """A source row mapped onto canonical columns, with its file, Excel row number and original
    cells."""

    file: str
    row: int
    canonical: dict[str, str]
    original: Mapping[str, str]


def validate_rows(
    rows: Sequence[SourceRow],
    validator: Callable[[list[Mapping[str, object]], str, list[str], int], Validated[T]],
    id_column: str,
) -> ImportResult[T]:
    """Validate mapped rows one by one with a ``validate`` function, keeping each row's number.

    Importers skip rows before validation (other service types, blank lines), so rows are not
    consecutive; ids are checked for duplicates here, across every file given (first one wins).
    """
    out: ImportResult[T] = ImportResult()
    seen: dict[str, tuple[str, int]] = {}
    for r in rows:
        ident = normalize_text(r.canonical.get(id_column, ""))
        if ident and ident in seen:
            file, row = seen[ident]
            where = f"{row}行目" if file == r.file else f"{file} {row}行目"
            out.rejected.append(
                RejectedRow(
                    r.file,
                    r.row,
                    f"{id_column}: 「{ident}」ID が重複しています ({where}と同じ)",
                    dict(r.original),
                )
            )
            continue
        part = validator([r.canonical], r.file, list(r.canonical), r.row)
        if part.items and ident:
            seen[ident] = (r.file, r.row)
        out.extend(from_validated(part, {r.row: r.original}, r.file, rows_read=0))
    return out


def locate_row(
    file: str,
    row: int,
    original: Mapping[str, str],
    found: Mapping[str, str],
    lat: str,
    lon: str,
    municipality_code: str,
    address: str,
    rejected: list[RejectedRow],
    warnings: list[RowIssue],
) -> Located | None:
    """A registry row's place (``geocode.locate``); None, with the row rejected, when it has none,
    and a notice in ``warnings`` when its coordinates were corrected or fell back."""
    where = locate(lat, lon, municipality_code, address)
    if not where.ok:
        rejected.append(RejectedRow(file, row, where.note, original))
        return None
    if where.note:
        warnings.append(
            Notice(file, row, found.get("lat"), f"{lat}, {lon}", where.note, "warning", where.kind)
        )
    return where


def read_registry(
    paths: Sequence[str | Path],
    columns: Mapping[str, Sequence[str]],
    anchor: Sequence[str],
    required: Mapping[str, str],
    what: str,
    read_table: Callable[[Table], tuple[list[SourceRow], list[RejectedRow], list[RowIssue], int]],
    out: ImportResult[T],
) -> list[SourceRow]:
    """Every table of ``paths`` (see ``columns.find_tables``) read with ``read_table``: its rows
    returned, the rest into ``out``."""
    rows: list[SourceRow] = []
    tables = find_tables(paths, columns, anchor, required, what)
    out.skipped_files.extend(tables.skipped)
    for t in tables.tables:
        part, rejected, warnings, n = read_table(t)
        rows.extend(part)
        out.rejected.extend(rejected)
        out.warnings.extend(warnings)
        out.rows_read += n
    return rows


def validate_into(
    out: ImportResult[T],
    rows: Sequence[SourceRow],
    validator: Callable[[list[Mapping[str, object]], str, list[str], int], Validated[T]],
    id_column: str,
) -> ImportResult[T]:
    """``validate_rows`` into ``out``, its rejected rows then in file and row order."""
    validated = validate_rows(rows, validator, id_column)
    out.items.extend(validated.items)
    out.rejected.extend(validated.rejected)
    out.warnings.extend(validated.warnings)
    out.rejected.sort(key=lambda r: (r.file, r.row or 0))
    return out
