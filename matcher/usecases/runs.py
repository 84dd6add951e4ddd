"""Runs of an area: the request (its parameters, defaults from ``matcher.params``), the preview
(what would change, nothing stored), starting and following a run, its page and the lists.

A run is planned by ``matcher.store.planning.run_plan`` (lock, read, solve, re-read, commit); the
web runs it in a thread through a ``RunStarter`` (``api.jobs.Jobs``), whose thread calls
``execute``. A run's page opens for the actor's areas and for wider areas overlapping the
scope, showing only the actor's facilities then.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .._errors import InputError
from ..match import Progress
from ..objective import Objective
from ..params import MatchParams, Mode
from ..result import warnings_of_counts
from ..store.areas import area_codes, get_run_area, get_visible_area, visible_areas
from ..store.errors import NotFoundError
from ..store.facilities import facility_codes
from ..store.jobs import Job
from ..store.models import AreaRow, RunRow
from ..store.planning import run_plan
from ..store.run_write import PlanReport
from ..store.runs import get_run, list_runs, named_changes, run_changes, run_notes
from ..store.web_audit import record
from ..vocab import CAPABILITIES
from .actor import Actor
from .unit import UnitOfWork
from .views import (
    AreaView,
    JobStartedView,
    JobView,
    RunChangeView,
    RunDetailView,
    RunView,
    area_view,
    from_dict,
    job_view,
    run_view,
)

# The kinds of change a run makes to a proposal, in the order the pages list them.
CHANGE_KINDS: tuple[str, ...] = ("new", "kept", "dropped", "released")
# Changes whose institution gets a letter (a request) from the run.
LETTER_CHANGES: tuple[str, ...] = ("new", "kept")
DEFAULTS = MatchParams()  # every default of a run: ranges, partner limit, road factor …


@dataclass(frozen=True)
class RunRequest:
    """What a coordinator asks a run to do."""

    area_code: str
    mode: Mode = "optimal"
    params: MatchParams = DEFAULTS
    note: str = ""
    # a run that withdraws proposals of another area's run needs this (the preview says which)
    replace_other_areas: bool = False


def run_request(
    area_code: str,
    mode: Mode = "optimal",
    *,
    max_km: Mapping[str, float] | None = None,
    note: str = "",
    replace_other_areas: bool = False,
    **options: Any,
) -> RunRequest:
    """A ``RunRequest`` from plain values: ``max_km`` by capability code (``consult`` …), the
    other ``MatchParams`` fields by name; what is not given keeps ``MatchParams``' default. A
    value ``MatchParams`` refuses is an ``InputError``."""
    km = dict(DEFAULTS.max_km)
    for c in CAPABILITIES:
        if max_km and c.code in max_km:
            km[c] = float(max_km[c.code])
    try:
        params = dataclasses.replace(DEFAULTS, max_km=km, **options)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None
    return RunRequest(area_code, mode, params, note, replace_other_areas)


def change_counts(changes: Iterable[Any]) -> dict[str, int]:
    """How many of ``changes`` are of each kind (``CHANGE_KINDS``)."""
    changes = list(changes)
    return {k: sum(c.change == k for c in changes) for k in CHANGE_KINDS}


@dataclass(frozen=True)
class NamedChange:
    """A change of a run (or of a previewed one) with names, what the pair covers, and why."""

    proposal_id: int
    facility_id: str
    facility_name: str
    institution_id: str
    institution_name: str
    change: str
    status: str
    covers: int  # mask
    distance_km: float
    note: str


def _named(d: Mapping[str, Any]) -> NamedChange:
    return from_dict(NamedChange, d)


def run_area(session: Any, actor: Actor, run: RunRow, *, overlapping: bool) -> AreaRow:
    """The area of ``run`` if the actor may open the run: the area lies in the scope, or (a
    run's page, ``overlapping``) overlaps it. Else the run is not found."""
    area = session.get(AreaRow, run.area_id)
    try:
        if area is None:
            raise NotFoundError(run.id)
        if overlapping:
            return get_run_area(session, actor.scope, area.code)
        return get_visible_area(session, actor.scope, area.code)
    except NotFoundError:
        raise NotFoundError(f"計算 {run.id} は見つかりません") from None


# --- starting and following a run --------------------------------------------------------------


class RunStarter(Protocol):
    """Starts runs in the background and reads their jobs (``api.jobs.Jobs``)."""

    def start(
        self,
        area_code: str,
        params: MatchParams,
        mode: Mode,
        actor: str,
        note: str = "",
        wait: float | None = None,
        replace_other_areas: bool = False,
    ) -> Job: ...

    def get(self, job_id: int) -> Job | None: ...


def start_run(
    uow: UnitOfWork, actor: Actor, jobs: RunStarter, request: RunRequest
) -> JobStartedView:
    """Start a run of one of the actor's areas and wait a moment for it (``jobs``' wait). The
    answer is the job, with its run when it finished within the wait."""
    actor.require_writer()
    with uow.read() as s:
        get_visible_area(s, actor.scope, request.area_code)
    job = jobs.start(
        request.area_code,
        request.params,
        request.mode,
        actor.username,
        request.note,
        replace_other_areas=request.replace_other_areas,
    )
    run = None
    if job.state == "done" and job.run_id is not None:
        with uow.read() as s:
            run = run_view(get_run(s, job.run_id), request.area_code)
    return JobStartedView(**vars(job_view(job)), run=run)


def finished_run(started: JobStartedView) -> JobStartedView:
    """``started`` if it is still running or finished with its run; the error of a run that
    failed as an ``InputError``."""
    if started.state != "running" and started.run is None:
        raise InputError(started.error or "計算に失敗しました")
    return started


def visible_job(uow: UnitOfWork, actor: Actor, jobs: RunStarter, job_id: int) -> JobView:
    """Job ``job_id`` if its area is one of the actor's (else not found)."""
    job = jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"計算ジョブ {job_id} は見つかりません")
    with uow.read() as s:
        get_visible_area(s, actor.scope, job.area_code)
    return job_view(job)


def execute(
    uow: UnitOfWork,
    request: RunRequest,
    actor: str,
    progress: Progress | None = None,
    job_id: int | None = None,
) -> PlanReport:
    """Plan the area and store the run (``run_plan``), then record it in the audit log: the
    work of a started run's thread."""
    report = run_plan(
        uow.store,
        request.area_code,
        request.params,
        request.mode,
        actor=actor,
        note=request.note,
        progress=progress,
        replace_other_areas=request.replace_other_areas,
    )
    with uow.write() as s:
        record(
            s,
            actor,
            "run.create",
            f"run:{report.run_id}",
            {
                "area": request.area_code,
                "mode": request.mode,
                "params": request.params.to_dict(),
                **{k: len(report.of(k)) for k in CHANGE_KINDS},
                "job": job_id,
            },
        )
    return report


# --- the JSON API ------------------------------------------------------------------------------


def runs_of(uow: UnitOfWork, actor: Actor, area: str | None = None) -> tuple[RunView, ...]:
    """The runs of one of the actor's areas, or of every visible area, newest first."""
    with uow.read() as s:
        areas = [get_visible_area(s, actor.scope, area)] if area else visible_areas(s, actor.scope)
        out = [run_view(r, a.code) for a in areas for r in list_runs(s, a.code)]
    return tuple(sorted(out, key=lambda r: -r.id))


def run_detail(uow: UnitOfWork, actor: Actor, run_id: int) -> RunDetailView:
    """A run of one of the actor's areas and what it changed."""
    with uow.read() as s:
        run = get_run(s, run_id)
        area = run_area(s, actor, run, overlapping=False)
        changes = tuple(
            RunChangeView(c.proposal_id, c.facility_id, c.institution_id, c.change, c.status)
            for c in run_changes(s, run_id)
        )
        return RunDetailView(**vars(run_view(run, area.code)), changes=changes)


# --- pages -------------------------------------------------------------------------------------


def run_areas(uow: UnitOfWork, actor: Actor) -> tuple[AreaView, ...]:
    """The areas the actor may run (the parameter page's choices)."""
    actor.require_writer()
    with uow.read() as s:
        return tuple(area_view(a) for a in visible_areas(s, actor.scope))


@dataclass(frozen=True)
class Unplanned:
    """A requirement a facility still misses after the run, and why."""

    facility_id: str
    name: str
    capability: int
    reason: str


@dataclass(frozen=True)
class RunPreview:
    """What a run would change, computed by the planner and stored nowhere."""

    area: AreaView
    objective: Objective
    proven_optimal: bool
    warnings: tuple[str, ...]
    changes: tuple[NamedChange, ...]
    counts: dict[str, int]
    unmatched: tuple[Unplanned, ...]
    other_areas: tuple[str, ...]  # runs of other areas whose proposals this run withdraws
    other_area_count: int  # … and how many


PREVIEW_LOCK_WAIT = 2.0  # seconds a preview waits for a run of the area in progress


def preview_run(uow: UnitOfWork, actor: Actor, request: RunRequest) -> RunPreview:
    """The run ``request`` asks for as a dry run (``RunInProgressError`` while the area runs)."""
    actor.require_writer()
    with uow.read() as s:
        area = get_visible_area(s, actor.scope, request.area_code)
    report = run_plan(
        uow.store,
        area.code,
        request.params,
        request.mode,
        actor=actor.username,
        note=request.note,
        lock_wait=PREVIEW_LOCK_WAIT,
        dry_run=True,
    )
    result = report.result
    planned = report.planned_pairs()  # its 条件付き依頼 too: their rows were rolled back
    with uow.read() as s:
        changes = tuple(_named(c) for c in named_changes(s, report.changes, report.notes, planned))
    names = {f.facility_id: f.name for f in report.state.instance.facilities}
    return RunPreview(
        area=area_view(area),
        objective=result.objective,
        proven_optimal=result.info.proven_optimal,
        warnings=result.warnings_ja,
        changes=changes,
        counts=change_counts(changes),
        unmatched=tuple(
            Unplanned(u.facility_id, names.get(u.facility_id, ""), int(u.capability), u.reason)
            for u in result.unmatched
        ),
        other_areas=tuple(report.other_areas.values()),
        other_area_count=report.other_area_count,
    )


@dataclass(frozen=True)
class RunPage:
    """A stored run next to the previous one, what it changed and why, its letters."""

    run: RunView
    previous: RunView | None
    area: AreaView
    partial: bool  # a wider area's run: only the actor's facilities are shown
    seconds: float  # how long it took
    warnings: tuple[str, ...]
    changes: tuple[NamedChange, ...]
    counts: dict[str, int]
    letters: tuple[tuple[str, str], ...]  # (institution id, name) asked by this run


def run_page(uow: UnitOfWork, actor: Actor, run_id: int) -> RunPage:
    with uow.read() as s:
        run = get_run(s, run_id)
        area = run_area(s, actor, run, overlapping=True)
        partial = not actor.scope.covers(area_codes(area))
        previous = get_run(s, run.previous_run_id) if run.previous_run_id else None
        changes = named_changes(s, run_changes(s, run_id), run_notes(s, run_id))
    if partial:
        codes = facility_codes(uow.cache, uow.store)
        changes = [c for c in changes if codes.get(str(c["facility_id"]), "") in actor.scope]
    named = tuple(_named(c) for c in changes)
    return RunPage(
        run=run_view(run, area.code),
        previous=None if previous is None else run_view(previous, area.code),
        area=area_view(area),
        partial=partial,
        seconds=(run.finished_at - run.started_at).total_seconds(),
        warnings=warnings_of_counts(run.counts),
        changes=named,
        counts=change_counts(named),
        letters=tuple(
            sorted(
                {
                    (c.institution_id, c.institution_name)
                    for c in named
                    if c.change in LETTER_CHANGES
                }
            )
        ),
    )
