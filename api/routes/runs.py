"""Matching runs of an area: start (in the background past a moment), poll progress, list
(``matcher.usecases.runs``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query, Response

from matcher.usecases import runs
from matcher.usecases.views import JobStartedView, JobView, RunDetailView, RunView

from ..deps import ActorDep, JobsDep, UowDep, WriterActorDep
from ..errors import ERROR_RESPONSES
from ..schemas import IntId, JobOut, JobStartedOut, RunDetailOut, RunIn, RunOut, many

router = APIRouter(prefix="/api/runs", tags=["runs"], responses=ERROR_RESPONSES)


@router.post(
    "",
    summary="地域の計算を開始 (1秒を超える計算は 202 で進捗を返す)",
    status_code=201,
    response_model=JobStartedOut,
    responses={
        201: {"description": "計算済み (run に結果)"},
        202: {"description": "計算中 (poll で進捗)", "model": JobStartedOut},
    },
)
def create_run(
    body: RunIn, actor: WriterActorDep, uow: UowDep, jobs: JobsDep, response: Response
) -> JobStartedView:
    started = runs.finished_run(runs.start_run(uow, actor, jobs, body.request()))
    if started.state == "running":
        response.status_code = 202
        return dataclasses.replace(started, poll=f"/api/runs/jobs/{started.job_id}")
    return started


@router.get("/jobs/{job_id}", summary="計算の進捗", response_model=JobOut)
def job_status(job_id: IntId, actor: ActorDep, uow: UowDep, jobs: JobsDep) -> JobView:
    return runs.visible_job(uow, actor, jobs, job_id)


@router.get("", summary="計算の一覧", response_model=many(RunOut))
def list_runs(
    actor: ActorDep, uow: UowDep, area: Annotated[str | None, Query()] = None
) -> tuple[RunView, ...]:
    return runs.runs_of(uow, actor, area)


@router.get("/{run_id}", summary="計算の結果と変更点", response_model=RunDetailOut)
def run_detail(run_id: IntId, actor: ActorDep, uow: UowDep) -> RunDetailView:
    return runs.run_detail(uow, actor, run_id)
