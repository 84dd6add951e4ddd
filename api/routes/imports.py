"""Uploads in the simple CSV format: accepted rows are stored, rejected rows come back with reasons."""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile

from matcher._errors import InputError, RowIssue
from matcher.sources.textfile import read_table
from matcher.store.areas import code5_of
from matcher.store.db import Store
from matcher.store.imports import (
    declarations_from_institutions,
    filings_from_facilities,
    fiscal_year,
    import_declarations,
    import_facilities,
    import_filings,
    import_institutions,
)
from matcher.validate import validate_facilities, validate_institutions

from ..deps import get_store, writer
from ..users import User, audit

router = APIRouter(prefix="/api/imports", tags=["imports"])
MAX_BYTES = 20 * 1024 * 1024
ImportKind = Literal["facilities", "institutions"]


def _issue(i: RowIssue) -> dict[str, object]:
    return {"file": i.file, "row": i.row, "column": i.column, "value": i.value, "message": i.message,
            "severity": i.severity}


def run_import(store: Store, user: User, kind: str, name: str, data: bytes,
               filing_year: int | None = None) -> dict[str, object]:
    """Validate an uploaded file row by row, store what is valid and in scope, report the rest."""
    if not data:
        raise InputError(RowIssue(name, None, "file", None, "ファイルが空です"))
    if len(data) > MAX_BYTES:
        raise InputError(RowIssue(name, None, "file", None, f"ファイルが大きすぎます ({len(data)} バイト、上限 {MAX_BYTES})"))
    suffix = Path(name).suffix.lower() if Path(name).suffix.lower() in (".csv", ".xlsx", ".zip", ".gz") else ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        df = read_table(path)
    records = df.to_dict(orient="records")
    validate = validate_facilities if kind == "facilities" else validate_institutions
    result = validate(records, name, list(df.columns))
    header = [i for i in result.errors if i.row == 1 and not result.rejected_rows]
    if header or (not result.items and not result.rejected_rows and result.errors):
        raise InputError(result.errors)
    rejects = {row: list(issues) for row, issues in result.rejected_rows.items()}
    accepted = []
    id_col = "facility_id" if kind == "facilities" else "institution_id"
    row_of = {str(r.get(id_col, "")).strip(): n for n, r in enumerate(records, start=2)}
    for item in result.items:
        code5 = code5_of(item.municipality_code)
        if user.covers_code(code5):
            accepted.append(item)
        else:
            n = row_of.get(getattr(item, id_col), None)
            rejects.setdefault(n or 0, []).append(RowIssue(
                name, n, "municipality_code", item.municipality_code,
                "担当地域外の市区町村です (担当地域: " + "、".join(user.scope) + ")"))
    stats: dict[str, object] = {}
    with store.write() as s:
        if kind == "facilities":
            st = import_facilities(s, accepted)
            fl = import_filings(s, filings_from_facilities(accepted, filing_year or fiscal_year(), name))
            stats = {"facilities": st.summary_ja(), "filings": fl.summary_ja()}
        else:
            st = import_institutions(s, accepted)
            dc = import_declarations(s, declarations_from_institutions(accepted, dt.date.today(), name))
            stats = {"institutions": st.summary_ja(), "declarations": dc.summary_ja()}
        audit(s, user.username, f"import.{kind}", name,
              {"accepted": len(accepted), "rejected": len(rejects), **stats})
    return {
        "kind": kind, "file": name, "accepted": len(accepted), "rejected": len(rejects),
        "rejects": [{"row": row, "issues": [_issue(i) for i in issues]} for row, issues in sorted(rejects.items())],
        "warnings": [_issue(i) for i in result.warnings], "stats": stats,
    }


@router.post("/{kind}", summary="簡易形式 CSV の取り込み (施設・医療機関)")
async def upload(kind: ImportKind, file: UploadFile = File(..., description="facilities.csv / institutions.csv"),
                 filing_year: int | None = Form(None, ge=2000, le=2100),
                 user: User = Depends(writer), store: Store = Depends(get_store)) -> dict[str, object]:
    data = await file.read()
    return run_import(store, user, kind, file.filename or f"{kind}.csv", data, filing_year)
