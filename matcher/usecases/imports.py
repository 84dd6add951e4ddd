"""Uploads: accepted rows are stored, rejected rows come back with reasons.

Two families of upload kinds:

- ``facilities`` / ``institutions``: the simple CSV format, validated row by row
  (``matcher.sources.simple_csv``), stored by ``matcher.store.imports.import_simple``;
- ``kaigo`` / ``navii`` / ``kouseikyoku`` / ``filings`` / ``declarations``: registry files,
  filings and declarations as published or filed (CSV, Excel, ZIP; several files at once), read
  and joined with the store by ``matcher.store.source_imports.import_source``, like
  ``kyoryoku db import``.

Either way an actor writes only inside their scope: what lies outside is a rejected row. Every
file is checked against the upload and decompression limits (``matcher.settings``) first.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from .._errors import InputError, RowIssue
from ..model import Facility, Institution
from ..settings import get_settings
from ..sources.importing import SOURCE_LABELS_JA, SOURCES
from ..sources.limits import ArchiveLimits, verify_archive
from ..sources.report import CATEGORY_JA, RejectedRow
from ..sources.simple_csv import load_upload
from ..store.imports import import_simple
from ..store.source_imports import import_source
from ..store.web_audit import record
from .actor import Actor
from .unit import UnitOfWork
from .views import ImportCountsView, ImportResultView, IssueView, RejectView, issue_view

SIMPLE_KINDS = ("facilities", "institutions")
# What an upload may be: the simple format's two files or one of the registry sources.
IMPORT_KINDS: tuple[str, ...] = (*SIMPLE_KINDS, *SOURCES)
KIND_LABELS_JA = {
    "facilities": "簡易形式 施設一覧 (facilities.csv)",
    "institutions": "簡易形式 医療機関一覧 (institutions.csv)",
    **{k: SOURCE_LABELS_JA[k] for k in SOURCES},
}
SUFFIXES = (".csv", ".xlsx", ".xlsm", ".zip", ".gz")
Upload = tuple[str, bytes]  # (the file's name as uploaded, its bytes)


def _checked(name: str, data: bytes) -> None:
    """Refuse an empty or too large file, and an archive (ZIP, gzip, Excel) that is corrupt or
    would expand beyond the shared decompression limits (checked by streaming, keeping nothing,
    before any importer reads it)."""
    if not data:
        raise InputError(RowIssue(name, None, "file", None, "ファイルが空です"))
    settings = get_settings()
    verify_archive(data, name, ArchiveLimits(max_total_bytes=settings.max_uncompressed_bytes))
    if len(data) > settings.max_upload_bytes:
        raise InputError(
            RowIssue(
                name,
                None,
                "file",
                None,
                f"ファイルが大きすぎます ({len(data):,} バイト、"
                f"上限 {settings.max_upload_bytes:,} バイト)",
            )
        )


def run_import(
    uow: UnitOfWork,
    actor: Actor,
    kind: str,
    name: str,
    data: bytes,
    filing_year: int | None = None,
) -> ImportResultView:
    """Validate an uploaded simple-format file row by row, store what is valid and in the
    actor's scope, report the rest."""
    actor.require_writer()
    _checked(name, data)
    result = load_upload("facilities" if kind == "facilities" else "institutions", name, data)
    if result.misaligned:  # shifted columns: nothing of the file is stored
        raise InputError(result.misaligned)
    header = [i for i in result.errors if i.row in (None, 1) and not result.rejected_rows]
    if header or (not result.items and not result.rejected_rows and result.errors):
        raise InputError(result.errors)
    rejects = {row: list(issues) for row, issues in result.rejected_rows.items()}
    accepted: list[Facility | Institution] = []
    items: list[Facility | Institution] = list(result.items)
    rows: list[int | None] = [*result.item_rows, *[None] * (len(items) - len(result.item_rows))]
    scope_text = "、".join(sorted(actor.scope.prefectures | actor.scope.municipalities))
    for item, n in zip(items, rows, strict=True):
        if actor.scope.contains(item.municipality_code):
            accepted.append(item)
        else:
            rejects.setdefault(n or 0, []).append(
                RowIssue(
                    name,
                    n,
                    "municipality_code",
                    item.municipality_code,
                    f"担当地域外の市区町村です (担当地域: {scope_text})",
                )
            )
    with uow.write() as s:
        # The store's own import of the simple format; the file's name is the filings' and
        # declarations' source.
        if kind == "facilities":
            facs = [f for f in accepted if isinstance(f, Facility)]  # all of them (narrowing)
            done = import_simple(s, facs, [], filing_year, source=name)
            stats = {"facilities": done["facilities"], "filings": done["filings"]}
        else:
            insts = [i for i in accepted if isinstance(i, Institution)]  # all of them (narrowing)
            done = import_simple(s, [], insts, declared_on=dt.date.today(), source=name)
            stats = {"institutions": done["institutions"], "declarations": done["declarations"]}
        summary = {key: st.summary_ja() for key, st in stats.items()}
        record(
            s,
            actor.username,
            f"import.{kind}",
            name,
            {"accepted": len(accepted), "rejected": len(rejects), **summary},
        )
    return ImportResultView(
        kind=kind,
        file=name,
        accepted=len(accepted),
        rejected=len(rejects),
        rejects=tuple(
            RejectView(row, tuple(issue_view(i) for i in issues))
            for row, issues in sorted(rejects.items())
        ),
        warnings=tuple(issue_view(i) for i in result.warnings),
        stats=summary,
    )


_COLUMN = re.compile(r"^([^:：「」]{1,60}): ")


def _reject(r: RejectedRow) -> RejectView:
    """A registry import's rejected row shaped like the simple import's (issues with a column)."""
    m = _COLUMN.match(r.reason)
    column = m.group(1) if m else None
    value = r.values.get(column) if column else None
    issue = IssueView(r.file, r.row, column, value, r.reason, "error")
    return RejectView(
        row=r.row,
        issues=(issue,),
        file=r.file,
        category=r.category,
        category_ja=CATEGORY_JA[r.category],
        values=dict(r.values),
    )


def _safe_name(name: str, taken: set[str]) -> str:
    """The uploaded file's own name (the importers report it, and ナビイ's tells hospital/clinic
    apart), reduced to a plain file name that is unique within the upload."""
    base = unicodedata.normalize("NFKC", Path(name.replace("\\", "/")).name).strip()
    base = re.sub(r"[^\w.\-()\[\] ]", "_", base).lstrip(".") or "upload.csv"
    if Path(base).suffix.lower() not in SUFFIXES:
        base += ".csv"
    out, n = base, 1
    while out.lower() in taken:
        n += 1
        out = f"{Path(base).stem}-{n}{Path(base).suffix}"
    taken.add(out.lower())
    return out


def run_source_import(
    uow: UnitOfWork,
    actor: Actor,
    source: str,
    uploads: Sequence[Upload],
    filing_year: int | None = None,
    declared_on: dt.date | None = None,
) -> ImportResultView:
    """Import uploaded registry files, filings or declarations with ``import_source`` in one
    transaction, writing only inside the actor's scope; report counts, rejects and warnings."""
    actor.require_writer()
    if not uploads:
        raise InputError(RowIssue("", None, "file", None, "ファイルを選んでください"))
    total = 0
    for name, data in uploads:
        _checked(name, data)
        total += len(data)
    limit = get_settings().max_upload_bytes
    if total > limit:
        raise InputError(
            RowIssue(
                uploads[0][0],
                None,
                "file",
                None,
                f"ファイルが大きすぎます (合計 {total:,} バイト、上限 {limit:,} バイト)",
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        taken: set[str] = set()
        paths = []
        for name, data in uploads:
            path = Path(tmp) / _safe_name(name, taken)
            path.write_bytes(data)
            paths.append(path)
        names = ",".join(p.name for p in paths)
        with uow.write() as s:
            result = import_source(
                s,
                source,
                paths,
                filing_year=filing_year,
                declared_on=declared_on,
                within=actor.scope.contains,
            )
            stats = {key: st.summary_ja() for key, st in result.stats.items()}
            rejects = result.rejected
            record(
                s,
                actor.username,
                f"import.{source}",
                names[:200],
                {"accepted": result.accepted, "rejected": len(rejects), **stats},
            )
    by_category = {c: sum(r.category == c for r in rejects) for c in CATEGORY_JA}
    return ImportResultView(
        kind=source,
        file=names,
        accepted=result.accepted,
        rejected=len(rejects),
        rejects=tuple(_reject(r) for r in rejects),
        warnings=tuple(issue_view(i) for i in result.warnings),
        stats=stats,
        counts=ImportCountsView(
            read=result.read.rows_read,
            accepted=result.accepted,
            rejected=len(rejects),
            warnings=len(result.warnings),
            **by_category,
        ),
    )


def import_upload(
    uow: UnitOfWork,
    actor: Actor,
    kind: str,
    uploads: Sequence[Upload],
    filing_year: int | None = None,
    declared_on: dt.date | None = None,
) -> ImportResultView:
    """An upload of ``kind`` (``IMPORT_KINDS``): the simple import for one simple-format file,
    the registry import otherwise."""
    if kind not in IMPORT_KINDS:
        raise InputError(f"不明な種類「{kind}」")
    if kind in SIMPLE_KINDS:
        if len(uploads) != 1:
            raise InputError(
                RowIssue(
                    "",
                    None,
                    "file",
                    None,
                    f"簡易形式の取り込みはファイル1つです ({len(uploads)} 個が送られました)",
                )
            )
        name, data = uploads[0]
        return run_import(uow, actor, kind, name or f"{kind}.csv", data, filing_year)
    return run_source_import(uow, actor, kind, uploads, filing_year, declared_on)
