"""Uploads: accepted rows are stored, rejected rows come back with reasons.

Two families of upload kinds:

- ``facilities`` / ``institutions``: the simple CSV format, validated row by row
  (``matcher.sources.simple_csv``), stored by ``matcher.store.imports.import_simple``;
- ``kaigo`` / ``navii`` / ``kouseikyoku`` / ``filings`` / ``declarations``: registry files,
  filings and declarations as published or filed (CSV, Excel, ZIP; several files at once), read
  and joined with the store by ``matcher.store.source_imports.import_source``, like
  ``kyoryoku db import``.

Either way an actor writes facilities only inside their scope, institutions inside it or without
a municipality code (``scope_issue``): what lies outside is a rejected row. Every file is checked
against the upload and decompression limits (``matcher.settings``) first. The good rows of a file
are stored and its bad rows rejected with their reasons (``simple_rows``), as ``kyoryoku db
import-csv`` does; ``rejects_csv`` writes them as the CLI's rejects file.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from .._errors import InputError, RowIssue
from ..model import Facility, Institution
from ..settings import get_settings
from ..sources.importing import SOURCE_LABELS_JA, SOURCES
from ..sources.limits import ArchiveLimits, verify_archive
from ..sources.report import CATEGORY_JA, RejectCategory, RejectedRow, write_rejects
from ..sources.simple_csv import load_upload
from ..store.imports import ImportStats, import_simple
from ..store.source_imports import import_source
from ..store.web_audit import record
from ..validate import Validated
from ..vocab import CodeSet
from ..wareki import today as today_jp
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


Subject = Literal["facility", "institution"]
# What each upload kind writes (its scope is checked on that).
SUBJECT_OF: dict[str, Subject] = {
    "facilities": "facility",
    "kaigo": "facility",
    "filings": "facility",
    "institutions": "institution",
    "navii": "institution",
    "kouseikyoku": "institution",
    "declarations": "institution",
}


def scope_issue(scope: CodeSet, subject: Subject, municipality_code: str) -> str | None:
    """Why an actor of ``scope`` may not write this facility or institution; None when they may.

    A facility is written only inside the scope (its municipality code lies in it). An
    institution serves across borders — a run takes every institution within range of its
    facilities, wherever it lies — so one without a municipality code is anyone's to import;
    one with a code outside the scope is refused: its offers and declared capacity count in that
    area's plans, so that area's coordinators write it. Every upload applies this rule (the
    simple format here, the registry sources through ``import_source``'s ``within``).
    """
    code = (municipality_code or "").strip()
    if (subject == "institution" and not code) or scope.contains(code):
        return None
    area = "、".join(scope.codes)
    if subject == "facility" and not code:
        return (
            f"市区町村コードのない施設は取り込めません: 担当地域 ({area}) の施設か確かめられ"
            "ません (municipality_code を入れてください)"
        )
    what = "施設" if subject == "facility" else "医療機関"
    refused = (
        f"担当地域外の{what}です: 市区町村コード {code} は担当地域 ({area}) に含まれません"
        f" (その地域の担当者が取り込みます"
    )
    if subject == "institution":
        return refused + "。市区町村コードが空の医療機関は取り込めます)"
    return refused + ")"


@dataclass(frozen=True)
class SimpleRows:
    """A simple-format file split row by row: the rows to store (with their source row, None
    when unknown), the rejected rows with their issues, and the reader's warnings."""

    items: list[Facility | Institution]
    rows: list[int | None]
    rejects: dict[int, list[RowIssue]]
    warnings: list[RowIssue]


def simple_rows(result: Validated[Facility] | Validated[Institution]) -> SimpleRows:
    """What of a read simple-format file is stored and what is rejected, the same for the web
    upload and ``kyoryoku db import-csv``: a file whose columns cannot be trusted (a misaligned
    row, a missing or bad header) or that has nothing to read is refused whole (``InputError``);
    otherwise every good row is stored and every bad row is rejected with its reasons."""
    if result.misaligned:  # shifted columns: nothing of the file is stored
        raise InputError(result.misaligned)
    header = [i for i in result.errors if i.row in (None, 1) and not result.rejected_rows]
    if header or (not result.items and not result.rejected_rows and result.errors):
        raise InputError(result.errors)
    items: list[Facility | Institution] = list(result.items)
    rows: list[int | None] = [*result.item_rows, *[None] * (len(items) - len(result.item_rows))]
    rejects = {row: list(issues) for row, issues in result.rejected_rows.items()}
    return SimpleRows(items, rows, rejects, result.warnings)


def simple_rejected_rows(file: str, rejects: dict[int, list[RowIssue]]) -> list[RejectedRow]:
    """The rejected rows of a simple-format file as the rejects CSV lists them (one line per
    issue: file, row, reason with column and value), the same for the web and the CLI."""
    out = []
    for row, issues in sorted(rejects.items()):
        for i in issues:
            out.append(
                RejectedRow(
                    i.file or file,
                    row or i.row,
                    i.message,
                    {"列": i.column or "", "値": "" if i.value is None else str(i.value)},
                )
            )
    return out


def rejects_csv(view: ImportResultView) -> bytes:
    """An upload's rejected rows as a CSV Excel opens (UTF-8 with BOM; ``kyoryoku db import``'s
    and ``db import-csv``'s rejects files have the same columns)."""
    rows = [
        RejectedRow(
            i.file or r.file or view.file,
            r.row if r.row is not None else i.row,
            i.message,
            {
                **{"列": i.column or "", "値": i.value or ""},
                **{k: v for k, v in (r.values or {}).items() if k not in ("列", "値")},
            },
            cast(RejectCategory, r.category if r.category in CATEGORY_JA else "error"),
        )
        for r in view.rejects
        for i in r.issues
    ]
    with tempfile.TemporaryDirectory() as tmp:
        return write_rejects(rows, Path(tmp) / "rejects.csv").read_bytes()


def rejects_of_answer(answer: str) -> tuple[str, bytes]:
    """The rejects CSV (``rejects_csv``) of an upload's answer as ``POST /api/imports/{kind}``
    returned it (JSON), and its file name ``<file>.rejects.csv``: the web's download of what
    ``db import-csv`` writes beside its input. Nothing is read from the store."""
    try:
        data = json.loads(answer)
        view = ImportResultView(
            kind=str(data.get("kind", "")),
            file=str(data.get("file", "")),
            accepted=int(data.get("accepted", 0)),
            rejected=int(data.get("rejected", 0)),
            rejects=tuple(
                RejectView(
                    row=r.get("row"),
                    issues=tuple(IssueView(**i) for i in r["issues"]),
                    file=r.get("file"),
                    category=r.get("category"),
                    values=r.get("values"),
                )
                for r in data["rejects"]
            ),
            warnings=(),
            stats={},
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(
            RowIssue(
                "",
                None,
                "answer",
                None,
                f"取り込みの答え (JSON) を読めません ({type(exc).__name__})",
            )
        ) from exc
    stem = Path(view.file.split(",")[0]).stem or "upload"
    return f"{stem}.rejects.csv", rejects_csv(view)


def _store_warnings(name: str, stats: Mapping[str, ImportStats]) -> list[RowIssue]:
    """What the store's writers warned of (a filed partner not in the institution list …), as
    the CLI prints it after the counts."""
    return [
        RowIssue(name, None, None, None, w, "warning") for st in stats.values() for w in st.warnings
    ]


def run_import(
    uow: UnitOfWork,
    actor: Actor,
    kind: str,
    name: str,
    data: bytes,
    filing_year: int | None = None,
    declared_on: dt.date | None = None,
) -> ImportResultView:
    """Validate an uploaded simple-format file row by row, store what is valid and in the
    actor's scope (``scope_issue``), report the rest; ``declared_on`` starts the declarations
    of an institutions file (default today, as ``db import-csv --declared-on``)."""
    actor.require_writer()
    _checked(name, data)
    split = simple_rows(
        load_upload("facilities" if kind == "facilities" else "institutions", name, data)
    )
    rejects = split.rejects
    accepted: list[Facility | Institution] = []
    for item, n in zip(split.items, split.rows, strict=True):
        refused = scope_issue(actor.scope, SUBJECT_OF[kind], item.municipality_code)
        if refused is None:
            accepted.append(item)
        else:
            rejects.setdefault(n or 0, []).append(
                RowIssue(name, n, "municipality_code", item.municipality_code, refused)
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
            day = declared_on or today_jp()
            done = import_simple(s, [], insts, declared_on=day, source=name)
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
        warnings=tuple(issue_view(i) for i in [*split.warnings, *_store_warnings(name, stats)]),
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
            subject = SUBJECT_OF[source]
            result = import_source(
                s,
                source,
                paths,
                filing_year=filing_year,
                declared_on=declared_on,
                within=lambda code: scope_issue(actor.scope, subject, code) is None,
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
    warnings = [*result.warnings, *_store_warnings(names, result.stats)]
    by_category = {c: sum(r.category == c for r in rejects) for c in CATEGORY_JA}
    return ImportResultView(
        kind=source,
        file=names,
        accepted=result.accepted,
        rejected=len(rejects),
        rejects=tuple(_reject(r) for r in rejects),
        warnings=tuple(issue_view(i) for i in warnings),
        stats=stats,
        counts=ImportCountsView(
            read=result.read.rows_read,
            accepted=result.accepted,
            rejected=len(rejects),
            warnings=len(warnings),
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
        return run_import(uow, actor, kind, name or f"{kind}.csv", data, filing_year, declared_on)
    return run_source_import(uow, actor, kind, uploads, filing_year, declared_on)
