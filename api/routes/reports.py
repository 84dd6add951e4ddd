"""Reports of a stored run as one ZIP: the coordinator's workbook, CSV, overview, requests, notices
(``matcher.usecases.reports``), built once by a job and kept.

``GET /api/runs/{id}/reports`` answers the kept ZIP at once (200) when it is built; otherwise it
starts the job (or joins the one running) and either waits for the ZIP — ``wait=true``, and by
default for a client that does not ask for JSON (the 200 ZIP every client got before) — or
answers 202 with the job to poll (``wait=false``, or ``Accept: application/json``). The page
``/runs/{id}/reports`` shows the job's progress and then downloads the ZIP.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from matcher.usecases import reports
from matcher.usecases.reports import ReportAnswer, ReportRequest
from matcher.usecases.views import JobStartedView

from ..deps import ActorDep, ReportJobsDep, SessionDep, ShelfDep, UowDep
from ..errors import ERROR_RESPONSES
from ..render import render
from ..schemas import IntId, JobStartedOut, ReportDay

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)
ZIP = "application/zip"
_JOB = JobStartedOut


def _wants_json(request: Request) -> bool:
    """Whether the client asked for JSON rather than the ZIP (``Accept``)."""
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and ZIP not in accept


def download_url(answer: ReportAnswer) -> str:
    """Where the ZIP of ``answer`` is fetched once built (waiting for it if need be)."""
    r = answer.request
    query = {"pdf": str(r.pdf).lower(), "wait": "true"}
    if r.day is not None:
        query["date"] = r.day.isoformat()
    return f"/api/runs/{r.run_id}/reports?{urlencode(query)}"


def _zip(answer: ReportAnswer) -> FileResponse:
    assert answer.built is not None
    return FileResponse(
        answer.built.path,
        media_type=ZIP,
        filename=answer.request.filename,
        headers={"X-Report-Input-Exact": "true" if answer.built.exact else "false"},
    )


@router.get(
    "/api/runs/{run_id}/reports",
    summary="計算の帳票一式 (ZIP: Excel・CSV・HTML、pdf=true で PDF も; 作成済みなら即座に)",
    response_class=FileResponse,
    responses={
        200: {"content": {ZIP: {}}, "description": "帳票一式の ZIP (目次は index.html)"},
        202: {"description": "作成中 (poll で進捗、終われば同じ URL で ZIP)", "model": _JOB},
    },
)
def run_reports(
    run_id: IntId,
    request: Request,
    actor: ActorDep,
    uow: UowDep,
    jobs: ReportJobsDep,
    shelf: ShelfDep,
    pdf: Annotated[bool, Query(description="PDF も作る (時間がかかります)")] = False,
    # the validator inside Annotated (a ``Query`` default would drop it)
    date: Annotated[ReportDay, Query(description="帳票の作成日 YYYY-MM-DD (省略時は今日)")] = None,
    wait: Annotated[
        bool | None,
        Query(
            description="true: できるまで待って ZIP を返す; false: 作成中なら 202 (進捗は poll)。"
            "省略時は Accept が application/json なら false、それ以外は true"
        ),
    ] = None,
) -> Response:
    waiting = not _wants_json(request) if wait is None else wait
    answer = reports.run_reports(
        uow, actor, jobs, shelf, ReportRequest(run_id, pdf, date), math.inf if waiting else None
    )
    if answer.built is not None:
        return _zip(answer)
    assert answer.job is not None
    started = JobStartedView(
        **dataclasses.asdict(answer.job), poll=f"/api/runs/jobs/{answer.job.job_id}"
    )
    body = _JOB.model_validate(started, from_attributes=True).model_dump(mode="json")
    return JSONResponse(body, 202, headers={"Location": download_url(answer)})


@router.get("/runs/{run_id}/reports", response_class=HTMLResponse, include_in_schema=False)
def reports_page(
    run_id: IntId,
    request: Request,
    sess: SessionDep,
    uow: UowDep,
    jobs: ReportJobsDep,
    shelf: ShelfDep,
    pdf: bool = False,
    date: Annotated[ReportDay, Query()] = None,
) -> Response:
    """The ZIP when built (a redirect to the download), else the job's progress page, which
    downloads it when the job is done."""
    answer = reports.run_reports(
        uow, sess.user.actor, jobs, shelf, ReportRequest(run_id, pdf, date)
    )
    if answer.built is not None:
        return RedirectResponse(download_url(answer), 303)
    return render(
        request,
        "report_progress.html",
        sess,
        job=answer.job,
        run_id=run_id,
        pdf=pdf,
        download=download_url(answer),
        stages=list(reports.REPORT_STAGES_JA.items()),
        stage_ja=reports.REPORT_STAGES_JA,
    )
