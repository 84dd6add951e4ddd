"""Uploads: accepted rows are stored, rejected rows come back with reasons
(``matcher.usecases.imports``: the simple CSV format or a registry's files, one route
``POST /api/imports/{kind}``)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from matcher.usecases import imports
from matcher.usecases.views import ImportResultView

from ..deps import UowDep, WriterActorDep, read_uploads
from ..errors import ERROR_RESPONSES
from ..schemas import ImportOut

router = APIRouter(prefix="/api/imports", tags=["imports"], responses=ERROR_RESPONSES)
# What an upload may be: the simple format's two files or one of the registry sources.
ImportKind = enum.StrEnum("ImportKind", {k: k for k in imports.IMPORT_KINDS})  # type: ignore[misc]


@router.post(
    "/{kind}",
    summary="取り込み: 簡易形式 CSV、公開データ (介護・ナビイ・厚生局)、届出、申出",
    response_model=ImportOut,
)
async def upload(
    kind: ImportKind,
    actor: WriterActorDep,
    uow: UowDep,
    file: Annotated[
        list[UploadFile],
        File(
            min_length=1,
            # at least one file, none of them empty (an empty file is a 422 naming it)
            json_schema_extra={"items": {"type": "string", "format": "binary", "minLength": 1}},
            description="簡易形式は1ファイル。公開データ・届出・申出は CSV / "
            "Excel (.xlsx) / ZIP を複数選べます (ナビイは病院・診療所の施設票)",
        ),
    ],
    filing_year: Annotated[
        int | None,
        Form(ge=2000, le=2100, description="届出の年度 (facilities, filings; 既定は確認日の年度)"),
    ] = None,
    declared_on: Annotated[
        dt.date | None, Form(description="申出の適用開始日 (declarations; 既定は今日)")
    ] = None,
) -> ImportResultView:
    uploads = await read_uploads(file)
    return await run_in_threadpool(  # imports are long: off the event loop
        imports.import_upload, uow, actor, kind.value, uploads, filing_year, declared_on
    )
