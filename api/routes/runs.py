"""Matching runs of an area: start (background thread past one second), poll progress, list."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from matcher._errors import InputError
from matcher.model import Capability
from matcher.params import MatchParams
from matcher.store.areas import get_visible_area, visible_areas
from matcher.store.db import Store
from matcher.store.errors import NotFoundError
from matcher.store.jobs import Job
from matcher.store.models import AreaRow, RunRow
from matcher.store.workflow import get_run, list_runs, run_changes

from ..deps import StoreDep, UserDep, WriterDep, scope_of
from ..errors import ERROR_RESPONSES
from ..schemas import IntId, JobOut, JobStartedOut, RunDetailOut, RunIn, RunOut
from ..users import User

router = APIRouter(prefix="/api/runs", tags=["runs"], responses=ERROR_RESPONSES)


def run_dict(r: RunRow, area_code: str) -> dict[str, object]:
    return {
        "id": r.id,
        "area_code": area_code,
        "mode": r.mode,
        "params": r.params,
        "mandatory_full": r.mandatory_full,
        "effort_full": r.effort_full,
        "pairs_covered": r.pairs_covered,
        "partnerships": r.partnerships,
        "distance_km": round(r.distance_km, 3),
        "proven_optimal": r.proven_optimal,
        "message": r.message,
        "counts": r.counts,
        "n_new": r.n_new,
        "n_kept": r.n_kept,
        "n_dropped": r.n_dropped,
        "actor": r.actor,
        "started_at": r.started_at.isoformat(timespec="seconds"),
        "finished_at": r.finished_at.isoformat(timespec="seconds"),
        "seconds": r.seconds,
    }


def params_of(body: RunIn) -> MatchParams:
    try:
        return MatchParams(
            max_km={
                Capability.CONSULT: body.max_km.consult,
                Capability.CARE: body.max_km.care,
                Capability.ADMIT: body.max_km.admit,
            },
            max_new_partners=body.max_new_partners,
            road_factor=body.road_factor,
            time_limit=body.time_limit,
            include_unknown=body.include_unknown,
            prefer_infection_agreement=body.prefer_infection_agreement,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None


def visible_job(request: Request, store: Store, user: User, job_id: int) -> Job:
    """Job ``job_id`` when its area is in the user's scope (``NotFoundError`` otherwise)."""
    job: Job | None = request.app.state.jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"計算ジョブ {job_id} は見つかりません")
    with store.read() as s:
        get_visible_area(s, scope_of(user), job.area_code)
    return job


def start_run(request: Request, store: Store, user: User, body: RunIn) -> Job:
    with store.read() as s:
        get_visible_area(s, scope_of(user), body.area_code)
    job: Job = request.app.state.jobs.start(
        body.area_code,
        params_of(body),
        body.mode.value,
        user.username,
        body.note,
        wait=request.app.state.run_wait,
        replace_other_areas=body.replace_other_areas,
    )
    return job


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
def create_run(body: RunIn, request: Request, user: WriterDep, store: StoreDep) -> JSONResponse:
    job = start_run(request, store, user, body)
    if job.state == "running":
        return JSONResponse({**job.to_dict(), "poll": f"/api/runs/jobs/{job.id}"}, 202)
    if job.state == "failed" or job.run_id is None:
        raise InputError(job.error or "計算に失敗しました")
    with store.read() as s:
        return JSONResponse(
            {**job.to_dict(), "run": run_dict(get_run(s, job.run_id), body.area_code)}, 201
        )


@router.get("/jobs/{job_id}", summary="計算の進捗", response_model=JobOut)
def job_status(
    job_id: IntId, request: Request, user: UserDep, store: StoreDep
) -> dict[str, object]:
    out: dict[str, object] = visible_job(request, store, user, job_id).to_dict()
    return out


@router.get("", summary="計算の一覧", response_model=list[RunOut])
def runs(user: UserDep, store: StoreDep, area: str | None = Query(None)) -> list[dict[str, object]]:
    scope = scope_of(user)
    with store.read() as s:
        areas = [get_visible_area(s, scope, area)] if area else visible_areas(s, scope)
        out = []
        for a in areas:
            out += [run_dict(r, a.code) for r in list_runs(s, a.code)]
        return sorted(out, key=lambda r: -int(r["id"]))  # type: ignore[call-overload]


@router.get("/{run_id}", summary="計算の結果と変更点", response_model=RunDetailOut)
def run_detail(run_id: IntId, user: UserDep, store: StoreDep) -> dict[str, object]:
    with store.read() as s:
        r = get_run(s, run_id)
        area = s.get(AreaRow, r.area_id)
        if area is None:
            raise NotFoundError(f"計算 {run_id} は見つかりません")
        try:
            get_visible_area(s, scope_of(user), area.code)
        except NotFoundError:
            raise NotFoundError(f"計算 {run_id} は見つかりません") from None
        changes = [
            {
                "proposal_id": c.proposal_id,
                "facility_id": c.facility_id,
                "institution_id": c.institution_id,
                "change": c.change,
                "status": c.status,
            }
            for c in run_changes(s, run_id)
        ]
        return {**run_dict(r, area.code), "changes": changes}
