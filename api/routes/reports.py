"""Reports of a stored run as one ZIP: the coordinator's workbook, CSV, overview, requests, notices
(``matcher.usecases.reports``), streamed from a temporary file removed once sent."""

from __future__ import annotations

import shutil
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from matcher.usecases import reports

from ..deps import ActorDep, UowDep
from ..errors import ERROR_RESPONSES
from ..schemas import IntId, ReportDay

router = APIRouter(prefix="/api/runs", tags=["reports"], responses=ERROR_RESPONSES)
ZIP = "application/zip"


@router.get(
    "/{run_id}/reports",
    summary="計算の帳票一式 (ZIP: Excel・CSV・HTML、pdf=true で PDF も)",
    response_class=FileResponse,
    responses={200: {"content": {ZIP: {}}, "description": "帳票一式の ZIP (目次は index.html)"}},
)
def run_reports(
    run_id: IntId,
    actor: ActorDep,
    uow: UowDep,
    pdf: Annotated[bool, Query(description="PDF も作る (時間がかかります)")] = False,
    # the validator inside Annotated (a ``Query`` default would drop it)
    date: Annotated[ReportDay, Query(description="帳票の作成日 YYYY-MM-DD (省略時は今日)")] = None,
) -> FileResponse:
    bundle = reports.run_reports(uow, actor, run_id, pdf, date)
    return FileResponse(
        bundle.path,
        media_type=ZIP,
        filename=bundle.path.name,
        headers={"X-Report-Input-Exact": "true" if bundle.exact else "false"},
        background=BackgroundTask(shutil.rmtree, bundle.folder, True),
    )
