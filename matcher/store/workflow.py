"""The coordinator workflow: an area's current state as an ``Instance``, re-planning runs that
honour decisions, and proposal status changes with an optimistic version check.

Decisions and the next run:

- ``agreed``: the partnership is existing coverage for the facility and consumes the
  institution's declared capacity (when agreed on or after the declaration's start);
- ``contacted``: kept as it is (coverage and capacity as if agreed) unless the coordinator
  releases it (→ ``withdrawn``);
- ``declined``: the pair is never proposed again;
- ``proposed`` by an earlier run: kept when the new run proposes the same pair, otherwise
  withdrawn by the run (history note says so);
- ``withdrawn``: no effect; the pair may be proposed again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..geo import haversine_km
from ..match import match
from ..model import Instance, Institution, format_capabilities
from ..params import MatchParams, Mode
from ..result import MatchResult
from ..vocab import admissible_offers
from .areas import get_area, member_filter
from .errors import ConflictError, NotFoundError, TransitionError
from .manual import LimitExceeded, limit_problems
from .models import (
    AreaRow,
    FacilityRow,
    InstitutionRow,
    ProposalHistoryRow,
    ProposalRow,
    RunProposalRow,
    RunRow,
    utcnow,
)
from .state import (
    FacilityState,
    facility_states,
    institution_states,
    proposal_states,
)

ProposalStatus = Literal["proposed", "contacted", "agreed", "declined", "withdrawn"]
STATUS_LABELS_JA = {
    "proposed": "提案中",
    "contacted": "打診中",
    "agreed": "合意",
    "declined": "辞退",
    "withdrawn": "取り下げ",
}
# proposed → contacted → agreed | declined | withdrawn; a call that ends at once may skip contacted.
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"contacted", "agreed", "declined", "withdrawn"}),
    "contacted": frozenset({"agreed", "declined", "withdrawn"}),
    "agreed": frozenset(),
    "declined": frozenset(),
    "withdrawn": frozenset(),
}
_KM_PER_DEG_LAT = 111.0


@dataclass(frozen=True)
class AreaState:
    """What a run of an area starts from."""

    area_code: str
    instance: Instance
    forbidden: frozenset[tuple[str, str]]  # declined, plus pairs already agreed or contacted
    declined: frozenset[tuple[str, str]]
    kept: tuple[int, ...]  # ids of contacted proposals carried into the plan
    agreed: tuple[int, ...]
    capacity_declared: dict[str, int | None]  # before agreed/contacted consumption
    capacity_used: dict[str, int]
    states: tuple[FacilityState, ...] = ()  # each facility's state (status, pending) as shown

    @property
    def input_hash(self) -> str:
        return snapshot_hash(self.instance, self.forbidden)


def snapshot_hash(instance: Instance, forbidden: Iterable[tuple[str, str]] = ()) -> str:
    """SHA-256 of everything a run's answer depends on besides its parameters."""
    payload = {
        "facilities": [
            [f.facility_id, f.kind, round(f.lat, 7), round(f.lon, 7), f.covered, f.has_partner]
            for f in instance.facilities
        ],
        "institutions": [
            [i.institution_id, i.kind, round(i.lat, 7), round(i.lon, 7), i.offers, i.capacity]
            for i in instance.institutions
        ],
        "forbidden": sorted(map(list, forbidden)),
    }
    return hashlib.sha256(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def load_state(
    session: Session,
    area_code: str,
    params: MatchParams | None = None,
    on: dt.date | None = None,
    create_area: bool = False,
    as_of: dt.datetime | None = None,
) -> AreaState:
    """The planner's input for an area, read from the facilities' state (``store.state``).

    Each facility enters with ``covered_now`` (latest filing ∪ agreed) plus what its contacted
    pairs cover: those pairs are kept by the plan as they are (never proposed again, ``kept``)
    and consume the institution's capacity, but they are not coverage of the facility's status
    (``states`` holds the status every view shows). Institutions within reach come with their
    capacity net of what agreed and contacted pairs use.

    ``as_of`` (naive UTC) takes the proposals' statuses at that moment instead of now, to
    rebuild what a past run started from; registry rows, filings and declarations are always
    the stored ones.
    """
    params = params or MatchParams()
    on = on or dt.date.today()
    area = get_area(session, area_code, create=create_area)
    fac_rows = list(
        session.scalars(
            select(FacilityRow)
            .where(member_filter(area, FacilityRow.code5))
            .order_by(FacilityRow.facility_id)
        )
    )
    fac_ids = [f.facility_id for f in fac_rows]
    states = facility_states(session, fac_rows, as_of)
    ps = proposal_states(as_of)
    decided = (
        list(
            session.execute(
                select(ps)
                .where(
                    ps.c.facility_id.in_(fac_ids),
                    ps.c.status.in_(("contacted", "agreed", "declined")),
                )
                .order_by(ps.c.id)
            )
        )
        if fac_ids
        else []
    )
    facilities = [st.planning_facility() for st in states]
    institutions: list[Institution] = []
    declared: dict[str, int | None] = {}
    used: dict[str, int] = {}
    if fac_rows:
        # Everything within reach of a facility: a bounding box around the area, widened by the
        # longest range (road distances are never shorter than the arc).
        reach = params.max_range_km / params.road_factor + 1.0
        lat0, lat1 = min(f.lat for f in fac_rows), max(f.lat for f in fac_rows)
        lon0, lon1 = min(f.lon for f in fac_rows), max(f.lon for f in fac_rows)
        dlat = reach / _KM_PER_DEG_LAT
        dlon = reach / (
            _KM_PER_DEG_LAT * max(0.1, math.cos(math.radians(max(abs(lat0), abs(lat1)) + dlat)))
        )
        inst_rows = list(
            session.scalars(
                select(InstitutionRow)
                .where(
                    InstitutionRow.lat.between(lat0 - dlat, lat1 + dlat),
                    InstitutionRow.lon.between(lon0 - dlon, lon1 + dlon),
                )
                .order_by(InstitutionRow.institution_id)
            )
        )
        inst_states = institution_states(session, inst_rows, on, as_of)
        for r in inst_rows:
            ist = inst_states[r.institution_id]
            declared[r.institution_id] = ist.declared
            if ist.used:
                used[r.institution_id] = ist.used
            institutions.append(
                Institution(
                    r.institution_id,
                    r.name,
                    r.kind,
                    r.lat,
                    r.lon,
                    ist.offers,
                    ist.remaining,
                    r.municipality_code,
                    r.address,
                    r.geocode,
                    dict(r.extra),
                )
            )
    declined = frozenset(
        (p.facility_id, p.institution_id) for p in decided if p.status == "declined"
    )
    forbidden = frozenset((p.facility_id, p.institution_id) for p in decided)
    return AreaState(
        area_code=area.code,
        instance=Instance.of(facilities, institutions),
        forbidden=forbidden,
        declined=declined,
        kept=tuple(p.id for p in decided if p.status == "contacted"),
        agreed=tuple(p.id for p in decided if p.status == "agreed"),
        capacity_declared=declared,
        capacity_used=used,
        states=tuple(states),
    )


@dataclass(frozen=True)
class PlanChange:
    proposal_id: int
    facility_id: str
    institution_id: str
    change: Literal["new", "kept", "dropped"]
    status: str


@dataclass(frozen=True)
class PlanReport:
    """A stored run: its id, the core's result, and what changed from the area's previous run."""

    run_id: int
    previous_run_id: int | None
    area_code: str
    result: MatchResult
    state: AreaState
    changes: tuple[PlanChange, ...]

    def of(self, change: str) -> list[PlanChange]:
        return [c for c in self.changes if c.change == change]


def _history(
    session: Session,
    p: ProposalRow,
    from_status: str | None,
    actor: str,
    note: str,
    run_id: int | None = None,
) -> None:
    session.add(
        ProposalHistoryRow(
            proposal_id=p.id,
            at=utcnow(),
            actor=actor,
            from_status=from_status,
            to_status=p.status,
            note=note,
            run_id=run_id,
            version=p.version,
        )
    )


def plan(
    session: Session,
    area_code: str,
    params: MatchParams | None = None,
    mode: Mode = "optimal",
    actor: str = "",
    release: Iterable[int] = (),
    note: str = "",
    on: dt.date | None = None,
    progress=None,
    create_area: bool = True,
) -> PlanReport:
    """Re-plan an area and store the run, its proposals and their history (one transaction).

    ``release`` names contacted (or proposed) proposals the coordinator gives up before the run:
    they become ``withdrawn`` and their pairs may be proposed again.
    """
    params = params or MatchParams()
    started = utcnow()
    t0 = time.perf_counter()
    for pid in release:
        p = _get_proposal(session, pid, lock=True)
        if p.status not in ("proposed", "contacted"):
            raise TransitionError(
                f"提案 {pid} は「{STATUS_LABELS_JA[p.status]}」のため解放できません"
            )
        before = p.status
        p.status, p.updated_by, p.updated_at, p.status_at = "withdrawn", actor, utcnow(), utcnow()
        session.flush()
        _history(session, p, before, actor, note or "再計画のため解放")
    state = load_state(session, area_code, params, on, create_area=create_area)
    area = get_area(session, state.area_code)
    t_load = time.perf_counter() - t0
    result = match(state.instance, params, mode, None, progress, forbidden=state.forbidden)
    previous = session.scalar(
        select(RunRow.id).where(RunRow.area_id == area.id).order_by(RunRow.id.desc()).limit(1)
    )
    o = result.objective
    run = RunRow(
        area_id=area.id,
        previous_run_id=previous,
        mode=mode,
        params={**params.to_dict(), "max_km_all": params.max_range_km},
        input_hash=state.input_hash,
        mandatory_full=o.mandatory_full,
        effort_full=o.effort_full,
        pairs_covered=o.pairs_covered,
        partnerships=o.partnerships,
        distance_km=o.distance_km,
        proven_optimal=result.info.proven_optimal,
        message=result.info.message,
        seconds={
            **{k: round(v, 4) for k, v in result.info.seconds.items()},
            "load": round(t_load, 4),
        },
        counts=dict(result.counts),
        actor=actor,
        started_at=started,
    )
    session.add(run)
    session.flush()
    fac_ids = [f.facility_id for f in state.instance.facilities]
    live = (
        {
            (p.facility_id, p.institution_id): p
            for p in session.scalars(
                select(ProposalRow)
                .where(ProposalRow.facility_id.in_(fac_ids), ProposalRow.status == "proposed")
                .with_for_update()
            )
        }
        if fac_ids
        else {}
    )
    changes: list[PlanChange] = []
    now = utcnow()
    for prop in result.proposals:
        pair = (prop.facility_id, prop.institution_id)
        row = live.pop(pair, None)
        if row is not None:
            if row.covers != prop.covers or abs(row.distance_km - prop.distance_km) > 1e-9:
                row.covers, row.distance_km, row.updated_at = prop.covers, prop.distance_km, now
            change = "kept"
        else:
            row = ProposalRow(
                run_id=run.id,
                facility_id=prop.facility_id,
                institution_id=prop.institution_id,
                covers=prop.covers,
                distance_km=prop.distance_km,
                status="proposed",
                created_at=now,
                updated_at=now,
                updated_by=actor,
                status_at=now,
            )
            session.add(row)
            session.flush()
            _history(session, row, None, actor, note or f"計算 {run.id} で提案", run.id)
            change = "new"
        session.add(RunProposalRow(run_id=run.id, proposal_id=row.id, change=change))
        changes.append(PlanChange(row.id, row.facility_id, row.institution_id, change, "proposed"))
    for pid in state.kept:
        p = session.get(ProposalRow, pid)
        assert p is not None
        session.add(RunProposalRow(run_id=run.id, proposal_id=pid, change="kept"))
        changes.append(PlanChange(pid, p.facility_id, p.institution_id, "kept", p.status))
    for row in sorted(live.values(), key=lambda r: r.id):
        row.status, row.updated_by, row.updated_at, row.status_at = "withdrawn", actor, now, now
        session.flush()
        _history(session, row, "proposed", actor, f"計算 {run.id} で提案から外れました", run.id)
        changes.append(
            PlanChange(row.id, row.facility_id, row.institution_id, "dropped", "withdrawn")
        )
    run.n_new = sum(c.change == "new" for c in changes)
    run.n_kept = sum(c.change == "kept" for c in changes)
    run.n_dropped = sum(c.change == "dropped" for c in changes)
    run.finished_at = utcnow()
    session.flush()
    return PlanReport(run.id, previous, area.code, result, state, tuple(changes))


def _get_proposal(session: Session, proposal_id: int, lock: bool = False) -> ProposalRow:
    q = select(ProposalRow).where(ProposalRow.id == proposal_id)
    if lock:
        q = q.with_for_update()
    p = session.scalar(q.execution_options(populate_existing=True))
    if p is None:
        raise NotFoundError(f"提案 {proposal_id} は存在しません")
    return p


def set_status(
    session: Session,
    proposal_id: int,
    status: ProposalStatus,
    expected_version: int,
    actor: str,
    note: str = "",
) -> ProposalRow:
    """Move a proposal to ``status`` if nobody changed it since the caller read ``expected_version``.

    Raises ``ConflictError`` on a stale version, ``TransitionError`` on a change the lifecycle does
    not allow, ``NotFoundError`` for an unknown id.
    """
    if status not in TRANSITIONS:
        raise TransitionError(f"不明な状態「{status}」(使えるのは {', '.join(TRANSITIONS)})")
    p = _get_proposal(session, proposal_id, lock=True)
    if p.version != expected_version:
        raise ConflictError(
            f"提案 {proposal_id} は他の人が先に更新しました (あなたの版: {expected_version}、"
            f"現在の版: {p.version}、現在の状態: {STATUS_LABELS_JA[p.status]})。"
            "最新の内容を読み込んでから、もう一度操作してください",
            expected_version,
            p.version,
        )
    if status not in TRANSITIONS[p.status]:
        allowed = "、".join(STATUS_LABELS_JA[s] for s in sorted(TRANSITIONS[p.status])) or "なし"
        raise TransitionError(
            f"提案 {proposal_id} は「{STATUS_LABELS_JA[p.status]}」から"
            f"「{STATUS_LABELS_JA[status]}」に変更できません (変更できる状態: {allowed})"
        )
    before = p.status
    now = utcnow()
    p.status, p.updated_by, p.updated_at, p.status_at = status, actor, now, now
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(
            f"提案 {proposal_id} は他の人が同時に更新しました。"
            "最新の内容を読み込んでから、もう一度操作してください",
            expected_version,
        ) from None
    _history(session, p, before, actor, note)
    session.flush()
    return p


def propose(
    session: Session,
    facility_id: str,
    institution_id: str,
    actor: str,
    note: str = "",
    covers: int | None = None,
    override_reason: str = "",
) -> ProposalRow:
    """A proposal a coordinator enters by hand (no run); ``covers`` defaults to what the
    institution offers of the facility's required capabilities. Beyond the distance limits of
    the area's latest run or the institution's remaining capacity it is refused
    (``manual.LimitExceeded``) unless ``override_reason`` says why; the reason and what was
    exceeded go into the history."""
    fac = session.get(FacilityRow, facility_id)
    inst = session.get(InstitutionRow, institution_id)
    if fac is None:
        raise NotFoundError(f"施設 {facility_id} は存在しません")
    if inst is None:
        raise NotFoundError(f"医療機関 {institution_id} は存在しません")
    live = session.scalar(
        select(ProposalRow).where(
            ProposalRow.facility_id == facility_id,
            ProposalRow.institution_id == institution_id,
            ProposalRow.status.in_(("proposed", "contacted", "agreed")),
        )
    )
    if live is not None:
        raise ConflictError(
            f"この組み合わせには既に提案 {live.id} ({STATUS_LABELS_JA[live.status]}) があります"
        )
    from ..model import FACILITY_KINDS

    if covers is None:
        covers = admissible_offers(inst.kind, inst.offers) & FACILITY_KINDS[fac.kind].required
    km = float(haversine_km(fac.lat, fac.lon, inst.lat, inst.lon))
    problems = limit_problems(session, fac, inst, covers, km)
    if problems and not override_reason.strip():
        raise LimitExceeded(problems)
    if problems:
        exceeded, why = "; ".join(problems), override_reason.strip()
        note = f"{note or '手入力で提案'} / 条件を超えて提案: {why} ({exceeded})"
    now = utcnow()
    p = ProposalRow(
        run_id=None,
        facility_id=facility_id,
        institution_id=institution_id,
        covers=covers,
        distance_km=km,
        status="proposed",
        created_at=now,
        updated_at=now,
        updated_by=actor,
        status_at=now,
    )
    session.add(p)
    session.flush()
    _history(session, p, None, actor, note or "手入力で提案")
    return p


@dataclass(frozen=True)
class ProposalView:
    """A proposal with the names a coordinator needs (for lists, exports and the web API)."""

    id: int
    facility_id: str
    facility_name: str
    institution_id: str
    institution_name: str
    covers: str
    distance_km: float
    status: str
    status_ja: str
    version: int
    run_id: int | None
    updated_at: dt.datetime
    updated_by: str


def list_proposals(
    session: Session,
    area_code: str | None = None,
    status: Iterable[str] | str | None = None,
    facility_id: str | None = None,
    institution_id: str | None = None,
    run_id: int | None = None,
) -> list[ProposalView]:
    """Proposals filtered by area, status, facility, institution or run (the run's plan)."""
    q = (
        select(ProposalRow, FacilityRow.name, InstitutionRow.name)
        .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
        .join(InstitutionRow, InstitutionRow.institution_id == ProposalRow.institution_id)
    )
    if area_code is not None:
        q = q.where(member_filter(get_area(session, area_code), FacilityRow.code5))
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        bad = [s for s in statuses if s not in TRANSITIONS]
        if bad:
            raise TransitionError(f"不明な状態「{bad[0]}」(使えるのは {', '.join(TRANSITIONS)})")
        q = q.where(ProposalRow.status.in_(statuses))
    if facility_id is not None:
        q = q.where(ProposalRow.facility_id == facility_id)
    if institution_id is not None:
        q = q.where(ProposalRow.institution_id == institution_id)
    if run_id is not None:
        q = q.join(RunProposalRow, RunProposalRow.proposal_id == ProposalRow.id).where(
            RunProposalRow.run_id == run_id
        )
    q = q.order_by(
        ProposalRow.facility_id, ProposalRow.distance_km, ProposalRow.institution_id, ProposalRow.id
    )
    return [
        ProposalView(
            p.id,
            p.facility_id,
            fname,
            p.institution_id,
            iname,
            format_capabilities(p.covers),
            p.distance_km,
            p.status,
            STATUS_LABELS_JA[p.status],
            p.version,
            p.run_id,
            p.updated_at,
            p.updated_by,
        )
        for p, fname, iname in session.execute(q)
    ]


def proposal_history(session: Session, proposal_id: int) -> list[ProposalHistoryRow]:
    _get_proposal(session, proposal_id)
    return list(
        session.scalars(
            select(ProposalHistoryRow)
            .where(ProposalHistoryRow.proposal_id == proposal_id)
            .order_by(ProposalHistoryRow.id)
        )
    )


def list_runs(session: Session, area_code: str | None = None) -> list[RunRow]:
    q = select(RunRow).order_by(RunRow.id.desc())
    if area_code is not None:
        q = q.where(RunRow.area_id == get_area(session, area_code).id)
    return list(session.scalars(q))


def get_run(session: Session, run_id: int) -> RunRow:
    run = session.get(RunRow, run_id)
    if run is None:
        raise NotFoundError(f"計算 {run_id} は存在しません")
    return run


def run_changes(session: Session, run_id: int) -> list[PlanChange]:
    """What run ``run_id`` changed: its new and kept proposals, and those it dropped."""
    get_run(session, run_id)
    out = [
        PlanChange(p.id, p.facility_id, p.institution_id, rp.change, p.status)
        for rp, p in session.execute(
            select(RunProposalRow, ProposalRow)
            .join(ProposalRow, ProposalRow.id == RunProposalRow.proposal_id)
            .where(RunProposalRow.run_id == run_id)
            .order_by(ProposalRow.id)
        )
    ]
    dropped = session.execute(
        select(ProposalRow)
        .join(ProposalHistoryRow, ProposalHistoryRow.proposal_id == ProposalRow.id)
        .where(ProposalHistoryRow.run_id == run_id, ProposalHistoryRow.to_status == "withdrawn")
        .order_by(ProposalRow.id)
    ).scalars()
    out += [PlanChange(p.id, p.facility_id, p.institution_id, "dropped", p.status) for p in dropped]
    return out


def area_of(session: Session, area_code: str) -> AreaRow:
    return get_area(session, area_code)
