"""Exports of an area's current state: CSV with BOM per table, or one Excel workbook
(``matcher.usecases.exports``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from matcher.usecases import exports
from matcher.usecases.exports import Table

from ..deps import ActorDep, UowDep
from ..errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/exports", tags=["exports"], responses=ERROR_RESPONSES)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(data: bytes, name: str, media: str) -> Response:
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.get(
    "/{table}.csv",
    summary="CSV (UTF-8 BOM 付き、Excel でそのまま開けます)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "表の CSV"}},
)
def export_csv(
    table: Table,
    actor: ActorDep,
    uow: UowDep,
    area: Annotated[str, Query(description="地域コード")],
) -> Response:
    data = exports.export_csv(uow, actor, area, table)
    return _download(data, f"{area}_{table}.csv", "text/csv; charset=utf-8")


@router.get(
    "/state.xlsx",
    summary="Excel (施設・提案・医療機関・状況表のシート)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "Excel のブック"}},
)
def export_xlsx(
    actor: ActorDep, uow: UowDep, area: Annotated[str, Query(description="地域コード")]
) -> Response:
    return _download(exports.export_xlsx(uow, actor, area), f"{area}_state.xlsx", XLSX)
