"""Uploads: accepted rows are stored, rejected rows come back with reasons.

Two families share one route, ``POST /api/imports/{kind}``:

- ``facilities`` / ``institutions``: the simple CSV format, validated here row by row;
- ``kaigo`` / ``navii`` / ``kouseikyoku`` / ``filings`` / ``declarations``: registry files, filings
  and declarations as published or filed (CSV, Excel, ZIP; several files at once), read and
  joined with the store by ``matcher.store.source_imports.import_source``, like
  ``kyoryoku db import``.

Either way a coordinator writes only inside their area: what lies outside is a rejected row.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import tempfile
import unicodedata
from pathlib import Path

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from matcher._errors import InputError, RowIssue
from matcher.model import Facility, Institution
from matcher.settings import get_settings
from matcher.sources.importing import SOURCE_LABELS_JA, SOURCES
from matcher.sources.limits import ArchiveLimits, verify_archive
from matcher.sources.report import CATEGORY_JA, RejectedRow
from matcher.sources.simple_csv import load_upload
from matcher.store.db import Store
from matcher.store.imports import import_simple
from matcher.store.source_imports import import_source

from ..deps import StoreDep, WriterDep, scope_of
from ..errors import ERROR_RESPONSES, issue_dict
from ..schemas import ImportOut
from ..users import User, audit

router = APIRouter(prefix="/api/imports", tags=["imports"], responses=ERROR_RESPONSES)
SIMPLE_KINDS = ("facilities", "institutions")
# What an upload may be: the simple format's two files or one of the registry sources.
ImportKind = enum.StrEnum("ImportKind", {k: k for k in (*SIMPLE_KINDS, *SOURCES)})  # type: ignore[misc]
KIND_LABELS_JA = {
    "facilities": "簡易形式 施設一覧 (facilities.csv)",
    "institutions": "簡易形式 医療機関一覧 (institutions.csv)",
    **{k: SOURCE_LABELS_JA[k] for k in SOURCES},
}
SUFFIXES = (".csv", ".xlsx", ".xlsm", ".zip", ".gz")


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
    store: Store, user: User, kind: str, name: str, data: bytes, filing_year: int | None = None
) -> dict[str, object]:
    """Validate an uploaded file row by row, store what is valid and in scope, report the rest."""
    _checked(name, data)
    result = load_upload("facilities" if kind == "facilities" else "institutions", name, data)
    if result.misaligned:  # shifted columns: nothing of the file is stored
        raise InputError(result.misaligned)
    header = [i for i in result.errors if i.row in (None, 1) and not result.rejected_rows]
    if header or (not result.items and not result.rejected_rows and result.errors):
        raise InputError(result.errors)
    rejects = {row: list(issues) for row, issues in result.rejected_rows.items()}
    accepted: list[Facility | Institution] = []
    scope = scope_of(user)
    items: list[Facility | Institution] = list(result.items)
    rows: list[int | None] = [*result.item_rows, *[None] * (len(items) - len(result.item_rows))]
    for item, n in zip(items, rows, strict=True):
        if scope.contains(item.municipality_code):
            accepted.append(item)
        else:
            rejects.setdefault(n or 0, []).append(
                RowIssue(
                    name,
                    n,
                    "municipality_code",
                    item.municipality_code,
                    "担当地域外の市区町村です (担当地域: " + "、".join(user.scope) + ")",
                )
            )
    with store.write() as s:
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
        audit(
            s,
            user.username,
            f"import.{kind}",
            name,
            {"accepted": len(accepted), "rejected": len(rejects), **summary},
        )
    return {
        "kind": kind,
        "file": name,
        "accepted": len(accepted),
        "rejected": len(rejects),
        "rejects": [
            {"row": row, "issues": [issue_dict(i) for i in issues]}
            for row, issues in sorted(rejects.items())
        ],
        "warnings": [issue_dict(i) for i in result.warnings],
        "stats": summary,
    }


_COLUMN = re.compile(r"^([^:：「」]{1,60}): ")


def _reject(r: RejectedRow) -> dict[str, object]:
    """A registry import's rejected row shaped like the simple import's (issues with a column)."""
    m = _COLUMN.match(r.reason)
    column = m.group(1) if m else None
    value = r.values.get(column) if column else None
    issue = {
        "file": r.file,
        "row": r.row,
        "column": column,
        "value": value,
        "message": r.reason,
        "severity": "error",
    }
    return {
        "file": r.file,
        "row": r.row,
        "category": r.category,
        "category_ja": CATEGORY_JA[r.category],
        "values": dict(r.values),
        "issues": [issue],
    }


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
    store: Store,
    user: User,
    source: str,
    uploads: list[tuple[str, bytes]],
    filing_year: int | None = None,
    declared_on: dt.date | None = None,
) -> dict[str, object]:
    """Import uploaded registry files, filings or declarations with ``import_source`` in one
    transaction, writing only inside the user's scope; report counts, rejects and warnings."""
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
        with store.write() as s:
            result = import_source(
                s,
                source,
                paths,
                filing_year=filing_year,
                declared_on=declared_on,
                within=scope_of(user).contains,
            )
            stats = {key: st.summary_ja() for key, st in result.stats.items()}
            rejects = result.rejected
            audit(
                s,
                user.username,
                f"import.{source}",
                names[:200],
                {"accepted": result.accepted, "rejected": len(rejects), **stats},
            )
    counts = {
        "read": result.read.rows_read,
        "accepted": result.accepted,
        "rejected": len(rejects),
        **{c: sum(r.category == c for r in rejects) for c in CATEGORY_JA},
        "warnings": len(result.warnings),
    }
    return {
        "kind": source,
        "file": names,
        "accepted": result.accepted,
        "rejected": len(rejects),
        "rejects": [_reject(r) for r in rejects],
        "warnings": [issue_dict(i) for i in result.warnings],
        "stats": stats,
        "counts": counts,
    }


async def read_uploads(files: list[UploadFile]) -> list[tuple[str, bytes]]:
    return [(f.filename or "upload.csv", await f.read()) for f in files]


async def import_upload(
    store: Store,
    user: User,
    kind: str,
    files: list[UploadFile],
    filing_year: int | None,
    declared_on: dt.date | None,
) -> dict[str, object]:
    """Route an upload to the simple or the registry import (in a worker thread: imports are
    long)."""
    uploads = await read_uploads(files)
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
        return await run_in_threadpool(
            run_import, store, user, kind, name or f"{kind}.csv", data, filing_year
        )
    return await run_in_threadpool(
        run_source_import, store, user, kind, uploads, filing_year, declared_on
    )


@router.post(
    "/{kind}",
    summary="取り込み: 簡易形式 CSV、公開データ (介護・ナビイ・厚生局)、届出、申出",
    response_model=ImportOut,
)
async def upload(
    kind: ImportKind,
    user: WriterDep,
    store: StoreDep,
    file: list[UploadFile] = File(
        ...,
        min_length=1,
        # at least one file, none of them empty (an empty file is a 422 naming it)
        json_schema_extra={"items": {"type": "string", "format": "binary", "minLength": 1}},
        description="簡易形式は1ファイル。公開データ・届出・申出は CSV / "
        "Excel (.xlsx) / ZIP を複数選べます (ナビイは病院・診療所の施設票)",
    ),
    filing_year: int | None = Form(
        None, ge=2000, le=2100, description="届出の年度 (facilities, filings; 既定は確認日の年度)"
    ),
    declared_on: dt.date | None = Form(
        None, description="申出の適用開始日 (declarations; 既定は今日)"
    ),
) -> dict[str, object]:
    return await import_upload(store, user, kind.value, file, filing_year, declared_on)
