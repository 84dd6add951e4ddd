"""Uploads: accepted rows are stored, rejected rows come back with reasons
(``matcher.usecases.imports``: the simple CSV format or a registry's files, one route
``POST /api/imports/{kind}``); ``POST /api/imports/rejects.csv`` turns an upload's answer into
the rejects CSV ``kyoryoku db import-csv`` writes."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from matcher.usecases import imports
from matcher.usecases.views import ImportResultView

from ..deps import ActorDep, UowDep, WriterActorDep, read_uploads
from ..errors import ERROR_RESPONSES
from ..schemas import ImportOut

router = APIRouter(prefix="/api/imports", tags=["imports"], responses=ERROR_RESPONSES)
# What an upload may be: the simple format's two files or one of the registry sources.
ImportKind = enum.StrEnum("ImportKind", {k: k for k in imports.IMPORT_KINDS})  # type: ignore[misc]


@router.post(
    "/rejects.csv",
    summary="除外した行の CSV (UTF-8 BOM 付き): 取り込みの答えから",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "除外した行と理由の CSV"}},
)
def rejects_csv(
    actor: ActorDep,
    answer: Annotated[
        str,
        Form(
            description="POST /api/imports/{kind} の答え (JSON) をそのまま。"
            "kyoryoku db import-csv が書く <ファイル名>.rejects.csv と同じ列です"
        ),
    ],
) -> Response:
    del actor  # any signed-in user: it only reshapes what the upload already answered
    name, data = imports.rejects_of_answer(answer)
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


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
        dt.date | None,
        Form(description="受入枠の申告・申出の適用開始日 (institutions, declarations; 既定は今日)"),
    ] = None,
) -> ImportResultView:
    uploads = await read_uploads(file)
    return await run_in_threadpool(  # imports are long: off the event loop
        imports.import_upload, uow, actor, kind.value, uploads, filing_year, declared_on
    )
