"""One entry point per source for ``kyoryoku import SOURCE FILE...``: read, join, write, report.

Each source turns its files into the simple CSV format of MODEL.md, joined onto what earlier
steps produced (flags and declarations onto institutions, filings onto facilities), and writes
the rejected rows next to the output (``<out>.rejects.csv``, UTF-8 with BOM, 理由 column) and
every input issue — rejections, exclusions, fixes, fallbacks, warnings, ZIP members and sheets
passed over — to ``<out>.issues.csv`` (file, sheet, row, column, value, severity, message).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .. import vocab
from .._errors import InputError, RowIssue
from ..model import Facility
from . import declarations, filings, kaigo_registry, kouseikyoku, navii
from .report import (
    SEVERITIES,
    SEVERITY_JA,
    ImportResult,
    InputIssue,
    RejectedRow,
    group_issues,
    write_issues,
    write_rejects,
)
from .simple_csv import load_facilities, load_institutions, write_facilities, write_institutions

Source = Literal["kaigo", "navii", "kouseikyoku", "filings", "declarations"]
SOURCES: tuple[str, ...] = vocab.Source.codes()
SOURCE_LABELS_JA = {
    "kaigo": "介護サービス情報公表システム オープンデータ → 施設一覧",
    "navii": "医療情報ネット(ナビイ) 施設票 → 医療機関一覧",
    "kouseikyoku": "地方厚生局 届出受理医療機関名簿 → 医療機関一覧に施設基準を結合",
    "filings": "協力医療機関の届出 → 施設一覧に充足状況を結合",
    "declarations": "医療機関の申出(意向・受入可能数・要件) → 医療機関一覧に反映",
}


@dataclass(frozen=True)
class ImportOutcome:
    """What an import wrote and found: the reading step's result, the join's, every input issue.

    ``issues`` go to ``issues_path`` (``<out stem>.issues.csv``: file, sheet, row, column, value,
    severity, message); ``lines_ja`` is the grouped summary the CLI prints.
    """

    source: str
    out: Path
    rejects: Path | None
    read: ImportResult[Any]  # items: the source's own record type
    joined: ImportResult[Any] | None = None
    issues: tuple[InputIssue, ...] = ()
    issues_path: Path | None = None

    @property
    def balanced(self) -> bool:
        """Every row read is accepted, rejected or excluded (read step and join alike)."""
        return self.read.balanced and (self.joined is None or self.joined.balanced)

    def severity_counts(self) -> dict[str, int]:
        """Issues per severity (``error``, ``excluded``, ``fix``, ``fallback``, ``warning``)."""
        out = {s: 0 for s in SEVERITIES}
        for i in self.issues:
            out[i.severity] = out.get(i.severity, 0) + 1
        return out

    def lines_ja(self, first: int = 3) -> list[str]:
        """The grouped Japanese summary for the terminal: counts, then each kind of issue with
        its first ``first`` examples (file, sheet, row, column, value)."""
        lines = [f"{SOURCE_LABELS_JA[self.source]}", f"  {self.read.summary_ja()}"]
        if self.joined is not None:
            lines.append(f"  結合: {self.joined.summary_ja()}")
        for severity, _, n, examples in group_issues(self.issues, first):
            lines.append(f"  [{SEVERITY_JA[severity]}] {examples[0].message} … {n} 件")
            for e in examples:
                where = e.file + (f"[{e.sheet}]" if e.sheet else "")
                where += f" {e.row}行目" if e.row is not None else ""
                where += f" 列「{e.column}」" if e.column else ""
                shown = f" 値「{e.value}」" if e.value else ""
                lines.append(f"      {where}{shown}: {e.message}")
        lines.append(f"  出力: {self.out}")
        if self.issues_path is not None:
            lines.append(f"  取り込みの指摘 (全 {len(self.issues)} 件): {self.issues_path}")
        if self.rejects is not None:
            lines.append(f"  除外・未結合の行 (元の列付き): {self.rejects}")
        return lines


def check_source(source: str) -> None:
    """``InputError`` unless ``source`` is one of ``SOURCES``."""
    if source not in SOURCES:
        raise InputError(
            RowIssue(
                "",
                None,
                None,
                None,
                f"不明な取り込み元「{source}」(使えるのは {', '.join(SOURCES)})",
            )
        )


def _need(path: str | Path | None, option: str, source: str) -> Path:
    if path is None:
        raise InputError(
            RowIssue("", None, None, None, f"{source} の取り込みには {option} の指定が必要です")
        )
    return Path(path)


def merge_listed_facilities(registry: Sequence[Facility], listed: Path) -> ImportResult[Facility]:
    """Registry facilities plus those of a simple facilities CSV (e.g. 養護/軽費 homes).

    A listed facility whose id the registry already has is rejected (the registry's row wins).
    """
    loaded = load_facilities(listed)
    rows = loaded.items
    known = {f.facility_id for f in registry}
    out: ImportResult[Facility] = ImportResult(
        items=list(registry), rows_read=len(rows), warnings=list(loaded.warnings), joined_rows=0
    )
    for f, row in zip(rows, loaded.item_rows, strict=True):
        if f.facility_id in known:
            out.rejected.append(
                RejectedRow(
                    listed.name,
                    row,
                    f"facility_id: 「{f.facility_id}」介護サービス情報公表のデータと ID が"
                    "重複しています",
                    {"facility_id": f.facility_id, "name": f.name},
                )
            )
        else:
            out.items.append(f)
            out.joined_rows = (out.joined_rows or 0) + 1
            known.add(f.facility_id)
    return out


def _refuse_broken_tables(read: ImportResult[Any]) -> None:
    """A table without its required columns (or with a header but no rows) stops the import."""
    broken = read.tables_rejected
    if broken:
        raise InputError([RowIssue(r.file, r.row, None, None, r.reason) for r in broken])


def import_files(
    source: Source,
    files: Sequence[str | Path],
    out: str | Path,
    *,
    facilities: str | Path | None = None,
    institutions: str | Path | None = None,
) -> ImportOutcome:
    """Import ``files`` of one ``source`` and write the canonical CSV to ``out``.

    - ``kaigo``: facilities from 介護サービス情報公表 CSVs, plus those of ``facilities`` (simple
      CSV: 養護/軽費 homes from a prefecture's list, which the 介護 registry does not hold).
    - ``navii``: institutions (offers empty) from ナビイ 施設票.
    - ``kouseikyoku``: flags joined onto ``institutions`` (required), offers inferred.
    - ``filings``: covered/has_partner joined onto ``facilities`` (required); partners are
      checked against ``institutions`` when given.
    - ``declarations``: willing/capacity/offers applied onto ``institutions`` (required).

    ``out`` may be the same file as the input list (it is read first). Rejected, skipped and
    unmatched rows go to ``<out stem>.rejects.csv`` when there are any.
    """
    check_source(source)
    out = Path(out)
    read: ImportResult[Any]  # the item type depends on the source
    joined: ImportResult[Any] | None = None
    if source == "kaigo":
        read_kaigo = read = kaigo_registry.import_kaigo(files)
        items = read_kaigo.items
        if facilities is not None:
            joined_kaigo = joined = merge_listed_facilities(read_kaigo.items, Path(facilities))
            items = joined_kaigo.items
        write_facilities(items, out)
    elif source == "navii":
        read_navii = read = navii.import_navii(files)
        write_institutions(read_navii.items, out)
    elif source == "kouseikyoku":
        base = load_institutions(_need(institutions, "--institutions", source)).items
        read_flags = read = kouseikyoku.import_kouseikyoku(files)
        joined_flags = joined = kouseikyoku.apply_flags(base, read_flags.items)
        write_institutions(joined_flags.items, out)
    elif source == "declarations":
        base = load_institutions(_need(institutions, "--institutions", source)).items
        read_declared = read = declarations.import_declarations(files)
        _refuse_broken_tables(read_declared)
        joined_declared = joined = declarations.apply_declarations(base, read_declared.items)
        write_institutions(joined_declared.items, out)
    else:
        base_f = load_facilities(_need(facilities, "--facilities", source)).items
        registry = load_institutions(institutions).items if institutions is not None else None
        read_filings = read = filings.import_filings(files, registry)
        _refuse_broken_tables(read_filings)
        joined_filings = joined = filings.apply_filings(base_f, read_filings.items)
        write_facilities(joined_filings.items, out)
    rejected = read.rejected + (joined.rejected if joined is not None else [])
    rejects = (
        write_rejects(rejected, out.with_name(out.stem + ".rejects.csv")) if rejected else None
    )
    issues = read.issues() + (joined.issues() if joined is not None else [])
    issues_path = write_issues(issues, out.with_name(out.stem + ".issues.csv"))
    return ImportOutcome(source, out, rejects, read, joined, tuple(issues), issues_path)
