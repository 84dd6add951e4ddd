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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..geo import haversine_km
from ..match import Progress, match
from ..model import Instance, Institution, format_capabilities, format_capabilities_ja
from ..params import MatchParams, Mode
from ..result import MatchResult
from ..vocab import (
    PROPOSAL_TRANSITIONS,
)
from ..vocab import ProposalStatus as ProposalStatusCode
from .areas import area_facilities, get_area, member_filter
from .db import Store
from .errors import ConflictError, NotFoundError, OtherAreaProposalsError, TransitionError
from .manual import LimitExceeded, check_proposal
from .models import (
    ACTIVE_STATUSES,
    AreaMunicipalityRow,
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
STATUS_LABELS_JA = {s.value: s.label_ja for s in ProposalStatusCode}
TRANSITIONS: dict[str, frozenset[str]] = {
    k.value: frozenset(v.value for v in allowed) for k, allowed in PROPOSAL_TRANSITIONS.items()
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
    fac_rows = area_facilities(session, area)
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
        inst_states = institution_states(session, inst_rows, on, as_of, replanned=fac_ids)
        for r in inst_rows:
            ist = inst_states[r.institution_id]
            declared[r.institution_id] = ist.declared
            if ist.used:
                used[r.institution_id] = ist.used
            institutions.append(ist.institution(ist.remaining))
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
    change: Literal["new", "kept", "dropped", "released"]
    status: str


@dataclass(frozen=True)
class PlanReport:
    """A stored run: its id, the core's result, and what changed from the area's previous run.

    ``unplanned`` lists facilities whose planned pair was declined while the run was solving and
    that the run could not re-plan (its re-plans were used up): re-run the area for them.
    """

    run_id: int
    previous_run_id: int | None
    area_code: str
    result: MatchResult
    state: AreaState
    changes: tuple[PlanChange, ...]
    unplanned: tuple[str, ...] = ()
    notes: dict[int, str] = field(default_factory=dict)  # dry run: proposal id → history note
    # proposals of other areas' runs this run withdraws: run id → its label, and how many
    other_areas: dict[int, str] = field(default_factory=dict)
    other_area_count: int = 0

    def of(self, change: str) -> list[PlanChange]:
        return [c for c in self.changes if c.change == change]


@dataclass(frozen=True)
class Release:
    """A proposal a run withdraws before planning, and why (the history row's note)."""

    proposal_id: int
    reason: str
    by_run: bool = True  # False: the coordinator's own release (history without the run's id)


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


def impossible_contacted(
    session: Session, state: AreaState, params: MatchParams, on: dt.date | None = None
) -> list[Release]:
    """Contacted proposals of the area that can no longer happen, with the reason: the
    institution's capacity is 0 (or not willing) or exceeded, it no longer offers anything the
    proposal covers, or it is now out of range for all of it (moved, or the limits changed).

    Over capacity, the most recently contacted proposals are released first.
    """
    if not state.kept:
        return []
    on = on or dt.date.today()
    rows = list(
        session.scalars(
            select(ProposalRow)
            .where(ProposalRow.id.in_(state.kept))
            .order_by(ProposalRow.status_at.desc(), ProposalRow.id.desc())
        )
    )
    inst_rows = list(
        session.scalars(
            select(InstitutionRow).where(
                InstitutionRow.institution_id.in_(sorted({p.institution_id for p in rows}))
            )
        )
    )
    insts = institution_states(session, inst_rows, on)
    facs = {f.facility_id: f for f in state.instance.facilities}
    used = {iid: st.firm for iid, st in insts.items()}  # proposals never displace contacted
    out: list[Release] = []
    for p in rows:
        ist, f = insts[p.institution_id], facs.get(p.facility_id)
        if f is None:
            continue
        i, offers, cap = ist.row, ist.offers, ist.declared
        km = float(haversine_km(f.lat, f.lon, i.lat, i.lon)) * params.road_factor
        reach = params.reach(km)
        if cap == 0:
            reason = f"医療機関 {i.institution_id} の受入枠が0になったため解放"
        elif cap is not None and used.get(i.institution_id, 0) > cap:
            reason = (
                f"医療機関 {i.institution_id} の受入枠 {cap} を超えたため解放 "
                f"(合意・打診中 {used[i.institution_id]} 件)"
            )
            used[i.institution_id] -= 1
        # covers 0: a site's partner for a registration that needs nothing of it (matcher.sites)
        elif p.covers and not p.covers & offers:
            reason = (
                f"医療機関 {i.institution_id} が {format_capabilities_ja(p.covers)} "
                "を提供しなくなったため解放"
            )
        elif p.covers and not p.covers & offers & reach:
            reason = f"距離 {km:.1f} km が上限を超えたため解放"
        else:
            continue
        out.append(Release(p.id, reason))
    return out


def _withdraw_what_if(session: Session, ids: list[int]) -> None:
    session.execute(update(ProposalRow).where(ProposalRow.id.in_(ids)).values(status="withdrawn"))


def _prepare(
    session: Session,
    area_code: str,
    params: MatchParams,
    on: dt.date | None,
    release: Iterable[int],
    note: str,
) -> tuple[AreaState, list[Release]]:
    """The state a run plans from, as if the coordinator's ``release`` and the impossible
    contacted proposals were already withdrawn (tried in a savepoint that is rolled back: the
    withdrawals are written by the run's commit, with the run's id in their history)."""
    releases: list[Release] = []
    nested = session.begin_nested()
    try:
        for pid in release:
            p = _get_proposal(session, pid)
            if p.status not in ("proposed", "contacted"):
                raise TransitionError(
                    f"提案 {pid} は「{STATUS_LABELS_JA[p.status]}」のため解放できません"
                )
            releases.append(Release(pid, note or "再計画のため解放", by_run=False))
        if releases:
            _withdraw_what_if(session, [r.proposal_id for r in releases])
        state = load_state(session, area_code, params, on)
        impossible = impossible_contacted(session, state, params, on)
        if impossible:
            _withdraw_what_if(session, [r.proposal_id for r in impossible])
            state = load_state(session, area_code, params, on)
            releases += impossible
    finally:
        nested.rollback()
    return state, releases


def ensure_area(session: Session, area_code: str) -> str:
    """The stored code of ``area_code``. A prefecture code (01–47), or a municipality code with
    facilities, that is not stored yet is stored now (insert-or-ignore: two runs creating it at
    once both succeed); anything else (``99``, a municipality without facilities, an unknown
    name) is a ``NotFoundError`` and nothing is created."""
    area = get_area(session, area_code, create=False)
    if area.id is not None:
        return area.code
    known_prefecture = area.kind == "prefecture" and 1 <= int(area.code) <= 47
    if not known_prefecture and (
        not 1 <= int(area.code[:2]) <= 47
        or not session.scalar(
            select(func.count())
            .select_from(FacilityRow)
            .where(member_filter(area, FacilityRow.code5))
        )
    ):
        raise NotFoundError(
            f"地域「{area_code}」は登録されておらず、該当する施設もありません "
            "(都道府県コード2桁・市区町村コードを確認するか、`kyoryoku db area` で登録してください)"
        )
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        ins(AreaRow)
        .values(code=area.code, name=area.name, kind=area.kind, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["code"])
    )
    area_id = session.scalar(select(AreaRow.id).where(AreaRow.code == area.code))
    for m in area.municipalities:
        session.execute(
            ins(AreaMunicipalityRow).values(area_id=area_id, code=m.code).on_conflict_do_nothing()
        )
    session.expire_all()
    return area.code


def _latest_run_id(session: Session, area_id: int) -> int | None:
    """The id of the area's latest run (``None`` before its first)."""
    return session.scalar(
        select(RunRow.id).where(RunRow.area_id == area_id).order_by(RunRow.id.desc()).limit(1)
    )


def previous_plan(session: Session, area_code: str) -> frozenset[tuple[str, str]]:
    """The (facility_id, institution_id) pairs of the area's latest run that are still live
    (proposed, contacted or agreed now): the warm start of its next run (``match(previous=)``).
    Empty before the first run."""
    area_id = session.scalar(select(AreaRow.id).where(AreaRow.code == area_code))
    run_id = None if area_id is None else _latest_run_id(session, area_id)
    if run_id is None:
        return frozenset()
    ps = proposal_states()
    rows = session.execute(
        select(ps.c.facility_id, ps.c.institution_id)
        .join(RunProposalRow, RunProposalRow.proposal_id == ps.c.id)
        .where(RunProposalRow.run_id == run_id, ps.c.status.in_(ACTIVE_STATUSES))
    )
    return frozenset((str(f), str(i)) for f, i in rows)


def _warm_start(session: Session, area_code: str, warm: bool) -> frozenset[tuple[str, str]] | None:
    """What a run starts the solver from: the area's previous plan (``None``: a cold start)."""
    return (previous_plan(session, area_code) or None) if warm else None


def drop_reason(
    row: ProposalRow, state: AreaState, result: MatchResult, params: MatchParams
) -> str:
    """Why a run withdraws a proposed pair it no longer proposes, in the coordinator's terms:
    the facility is covered by agreed or contacted partners, the institution no longer offers
    it or its capacity is taken, the pair is out of the new range, or another institution (named,
    nearer or not) replaces it."""
    fac = next((f for f in state.instance.facilities if f.facility_id == row.facility_id), None)
    inst = next(
        (i for i in state.instance.institutions if i.institution_id == row.institution_id), None
    )
    covers = row.covers
    if fac is not None and covers and not covers & fac.missing:
        return f"合意・打診中の協力医療機関で{format_capabilities_ja(covers)}が満たされたため"
    if inst is None:
        return "医療機関が地域の範囲外になったため"
    if covers and not covers & inst.offers:
        return f"{inst.name} が{format_capabilities_ja(covers)}を提供しなくなったため"
    if covers and not covers & params.reach(row.distance_km):
        return f"距離 {row.distance_km:.1f} km が新しい距離の上限を超えたため"
    if inst.capacity == 0:
        declared = state.capacity_declared.get(inst.institution_id)
        used = state.capacity_used.get(inst.institution_id, 0)
        return (
            f"{inst.name} の受入枠 {declared} が他の提案・合意 ({used} 件) で使われているため"
            if declared
            else f"{inst.name} の受入枠が0になったため"
        )
    names = {i.institution_id: i.name for i in state.instance.institutions}
    instead = [
        p
        for p in result.proposals
        if p.facility_id == row.facility_id
        and p.covers & covers
        and p.institution_id != inst.institution_id
    ]
    if instead:
        best = min(instead, key=lambda p: (p.distance_km, p.institution_id))
        name = names.get(best.institution_id, best.institution_id)
        if best.distance_km < row.distance_km:
            return f"より近い {name} ({best.distance_km:.1f} km) に置き換えたため"
        return f"{name} ({best.distance_km:.1f} km) に置き換えたため (全体の割り当ての見直し)"
    return "受入枠を他の施設の充足に回したため (全体の割り当ての見直し)"


def _other_area_runs(session: Session, area_id: int, rows: list[ProposalRow]) -> dict[int, str]:
    """run id → 「地域「name」の計算 N」 for the runs of *other* areas that made ``rows``."""
    ids = sorted({r.run_id for r in rows if r.run_id is not None})
    if not ids:
        return {}
    out = {}
    for run_id, run_area, name in session.execute(
        select(RunRow.id, RunRow.area_id, AreaRow.name)
        .join(AreaRow, AreaRow.id == RunRow.area_id)
        .where(RunRow.id.in_(ids))
    ):
        if run_area != area_id:
            out[int(run_id)] = f"地域「{name}」の計算 {run_id}"
    return out


def _write_run(
    session: Session,
    area_code: str,
    params: MatchParams,
    mode: Mode,
    actor: str,
    note: str,
    state: AreaState,
    releases: list[Release],
    result: MatchResult,
    started: dt.datetime,
    seconds: dict[str, float],
    replace_other_areas: bool = True,
) -> PlanReport:
    """Store the run: releases, new/kept/dropped proposals and their history, against what the
    store holds now. Withdrawing a proposal another area's run made needs
    ``replace_other_areas`` (else ``OtherAreaProposalsError``, nothing stored). A pair that
    became declined meanwhile is left out (its facility is listed in
    ``unplanned``); a pair that became contacted or agreed is kept as it is."""
    area = session.scalar(select(AreaRow).where(AreaRow.code == area_code))
    if area is None:  # pragma: no cover - ensure_area ran before
        raise NotFoundError(f"地域「{area_code}」は登録されていません")
    previous = _latest_run_id(session, area.id)
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
            **{k: round(v, 4) for k, v in seconds.items()},
        },
        counts=dict(result.counts),
        actor=actor,
        started_at=started,
    )
    session.add(run)
    session.flush()
    changes: list[PlanChange] = []
    now = utcnow()
    for r in releases:
        p = _get_proposal(session, r.proposal_id, lock=True)
        if p.status not in ("proposed", "contacted"):
            continue
        before = p.status
        p.status, p.updated_by, p.updated_at, p.status_at = "withdrawn", actor, now, now
        session.flush()
        _history(session, p, before, actor, r.reason, run.id if r.by_run else None)
        if r.by_run:
            changes.append(PlanChange(p.id, p.facility_id, p.institution_id, "released", p.status))
    fac_ids = [f.facility_id for f in state.instance.facilities]
    active: dict[tuple[str, str], ProposalRow] = {}
    declined: set[tuple[str, str]] = set()
    if fac_ids:
        for p in session.scalars(
            select(ProposalRow)
            .where(
                ProposalRow.facility_id.in_(fac_ids),
                ProposalRow.status.in_(("proposed", "contacted", "agreed", "declined")),
            )
            .order_by(ProposalRow.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ):
            if p.status == "declined":
                declined.add((p.facility_id, p.institution_id))
            else:
                active[(p.facility_id, p.institution_id)] = p
    live = {pair: p for pair, p in active.items() if p.status == "proposed"}
    linked: set[int] = set()
    unplanned: list[str] = []
    for prop in result.proposals:
        pair = (prop.facility_id, prop.institution_id)
        row = active.get(pair)
        if row is None and pair in declined:
            unplanned.append(prop.facility_id)  # declined while the run was solving
            continue
        change: Literal["new", "kept"]
        if row is not None and row.status == "proposed":
            live.pop(pair, None)
            if row.covers != prop.covers or abs(row.distance_km - prop.distance_km) > 1e-9:
                old_covers, old_km = row.covers, row.distance_km
                row.covers, row.distance_km = prop.covers, prop.distance_km
                row.updated_by, row.updated_at = actor, now
                session.flush()
                _history(
                    session,
                    row,
                    "proposed",
                    actor,
                    f"計算 {run.id} で内容を変更: 対象 {format_capabilities(old_covers)} → "
                    f"{format_capabilities(prop.covers)}、距離 {old_km:.2f} → "
                    f"{prop.distance_km:.2f} km",
                    run.id,
                )
            change = "kept"
        elif row is not None:  # contacted or agreed while the run was solving: kept as it is
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
        linked.add(row.id)
        session.add(RunProposalRow(run_id=run.id, proposal_id=row.id, change=change))
        changes.append(PlanChange(row.id, row.facility_id, row.institution_id, change, row.status))
    for pid in state.kept:
        kept = session.get(ProposalRow, pid)
        if kept is None or pid in linked or kept.status != "contacted":
            continue
        linked.add(pid)
        session.add(RunProposalRow(run_id=run.id, proposal_id=pid, change="kept"))
        changes.append(PlanChange(pid, kept.facility_id, kept.institution_id, "kept", kept.status))
    dropped = sorted(live.values(), key=lambda r: r.id)
    others = _other_area_runs(session, area.id, dropped)
    if others and not replace_other_areas:
        raise OtherAreaProposalsError(others, sum(r.run_id in others for r in dropped))
    for row in dropped:
        why = drop_reason(row, state, result, params)
        if row.run_id in others:
            here = f"地域「{area.name}」の計算 {run.id}"
            why = f"{others[row.run_id]} の提案を、{here} で取り下げ: {why}"
        row.status, row.updated_by, row.updated_at, row.status_at = "withdrawn", actor, now, now
        session.flush()
        _history(session, row, "proposed", actor, why, run.id)
        changes.append(
            PlanChange(row.id, row.facility_id, row.institution_id, "dropped", "withdrawn")
        )
    if unplanned:
        names = "、".join(sorted(set(unplanned)))
        run.message = (
            f"{run.message} 計算中に辞退された組み合わせを提案から除きました (施設: {names})。"
            "これらの施設はもう一度計算してください"
        ).strip()
    run.n_new = sum(c.change == "new" for c in changes)
    run.n_kept = sum(c.change == "kept" for c in changes)
    run.n_dropped = sum(c.change in ("dropped", "released") for c in changes)
    run.finished_at = utcnow()
    session.flush()
    return PlanReport(
        run.id,
        previous,
        area.code,
        result,
        state,
        tuple(changes),
        tuple(sorted(set(unplanned))),
        other_areas=others,
        other_area_count=sum(r.run_id in others for r in dropped),
    )


def _xact_ledger_lock(session: Session) -> None:
    """The capacity ledger's lock for the rest of this transaction: whatever adds a live
    proposal (a run's commit, a hand-made proposal) re-reads the ledger under it, so two areas
    never promise the same capacity twice (PostgreSQL; SQLite's write transaction already
    excludes every other writer)."""
    _xact_area_lock(session, "*ledger*")


def _xact_area_lock(session: Session, area_code: str) -> None:
    """The area's run lock for the rest of this transaction (PostgreSQL; a SQLite write
    transaction already excludes every other writer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock("
                "hashtextextended(current_schema() || '/kyoryoku-area/' || :code, 0))"
            ),
            {"code": area_code},
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
    progress: Progress | None = None,
    create_area: bool = True,
    warm_start: bool = True,
    replace_other_areas: bool = False,
) -> PlanReport:
    """Re-plan an area and store the run, its proposals and their history, all in ``session``'s
    transaction (which stays open during the solve: for small areas and scripts; the CLI and the
    web use ``run_plan``).

    ``release`` names contacted (or proposed) proposals the coordinator gives up before the run:
    they become ``withdrawn`` and their pairs may be proposed again. Contacted proposals that
    became impossible are withdrawn too, with the reason in their history.

    ``warm_start`` seeds the solver with the area's previous plan (``previous_plan``): the same
    objective values in a fraction of the time; ``False`` solves from scratch (benchmarks).
    """
    del create_area  # an area with facilities is always stored; see ``ensure_area``
    params = params or MatchParams()
    started = utcnow()
    t0 = time.perf_counter()
    code = ensure_area(session, area_code)
    _xact_area_lock(session, code)
    _xact_ledger_lock(session)
    state, releases = _prepare(session, code, params, on, release, note)
    previous = _warm_start(session, code, warm_start)
    t_load = time.perf_counter() - t0
    result = match(
        state.instance, params, mode, None, progress, forbidden=state.forbidden, previous=previous
    )
    return _write_run(
        session,
        code,
        params,
        mode,
        actor,
        note,
        state,
        releases,
        result,
        started,
        {"load": t_load},
        replace_other_areas,
    )


def run_plan(
    store: Store,
    area_code: str,
    params: MatchParams | None = None,
    mode: Mode = "optimal",
    actor: str = "",
    release: Iterable[int] = (),
    note: str = "",
    on: dt.date | None = None,
    progress: Progress | None = None,
    lock_wait: float | None = None,
    replans: int = 2,
    before_commit: Callable[[int], None] | None = None,
    dry_run: bool = False,
    warm_start: bool = True,
    replace_other_areas: bool = False,
) -> PlanReport:
    """Re-plan an area the way a team works: one run of the area at a time, no transaction held
    while solving, decisions re-read at commit.

    1. Take the area's run lock (``matcher.store.locks``), waiting at most ``lock_wait`` seconds
       for a run in progress (then ``RunInProgressError``); runs of an area thus form one chain.
    2. Read the state in a short transaction and solve with no transaction open, so coordinators
       keep changing proposals meanwhile.
    3. In the commit transaction read the state again. If decisions changed during the solve
       (declined, contacted, agreed, imports), solve again from the new state, at most
       ``replans`` times; after that, store the plan without the pairs declined meanwhile (their
       facilities are reported in ``PlanReport.unplanned``) and keep pairs contacted or agreed
       meanwhile as they are. Nothing declined is ever proposed again.

    ``before_commit(attempt)`` is called after each solve, before the commit (tests use it to
    change decisions at that exact moment).

    ``dry_run`` computes the same report (with each changed proposal's history note in
    ``notes``) in a savepoint that is rolled back: nothing is stored, the ids of the run and of
    new proposals are provisional (the preview of the web's run page).

    ``replace_other_areas``: a run that would withdraw proposals made by another area's run (a
    wider or overlapping area holding some of the same facilities) stores nothing and raises
    ``OtherAreaProposalsError`` unless this says the coordinator confirmed it (the dry run's
    ``PlanReport.other_areas`` says which runs and how many proposals, for the preview).

    ``warm_start`` (as in ``plan``) seeds the first solve with the area's previous plan and each
    re-solve with the plan just computed.
    """
    from .locks import area_lock

    params = params or MatchParams()
    release = list(release)
    started = utcnow()
    with store.write() as s:
        code = ensure_area(s, area_code)
    if progress:
        progress("wait", 0, 0)
    with area_lock(store, code, lock_wait):
        t0 = time.perf_counter()
        with store.write() as s:
            state, releases = _prepare(s, code, params, on, release, note)
            previous = _warm_start(s, code, warm_start)
        seconds = {"load": time.perf_counter() - t0}
        for attempt in range(replans + 1):
            result = match(
                state.instance,
                params,
                mode,
                None,
                progress,
                forbidden=state.forbidden,
                previous=previous,
            )
            if before_commit is not None:
                before_commit(attempt)
            if progress:
                progress("commit", 0, 0)
            t1 = time.perf_counter()
            with store.write() as s:
                _xact_ledger_lock(s)  # the ledger read below stays true until this commits
                now_state, now_releases = _prepare(s, code, params, on, release, note)
                if now_state.input_hash != state.input_hash:
                    if warm_start:  # the plan just computed is the closest one
                        previous = frozenset(
                            (p.facility_id, p.institution_id) for p in result.proposals
                        )
                    if attempt < replans:
                        state = now_state
                        continue
                    # Re-plans used up: solve once more inside the commit transaction, under
                    # the ledger lock, so the stored plan never promises capacity taken meanwhile.
                    state = now_state
                    result = match(
                        state.instance,
                        params,
                        mode,
                        None,
                        progress,
                        forbidden=state.forbidden,
                        previous=previous,
                    )
                seconds["commit"] = time.perf_counter() - t1
                seconds["replans"] = attempt
                if dry_run:
                    return _dry_run(
                        s, code, params, mode, actor, note, now_state, now_releases, result, started
                    )
                return _write_run(
                    s,
                    code,
                    params,
                    mode,
                    actor,
                    note,
                    now_state,
                    now_releases,
                    result,
                    started,
                    seconds,
                    replace_other_areas,
                )
    raise AssertionError("unreachable")  # pragma: no cover


def _dry_run(
    session: Session,
    code: str,
    params: MatchParams,
    mode: Mode,
    actor: str,
    note: str,
    state: AreaState,
    releases: list[Release],
    result: MatchResult,
    started: dt.datetime,
) -> PlanReport:
    """``_write_run`` in a savepoint rolled back at once: the report with the history notes."""
    nested = session.begin_nested()
    try:
        report = _write_run(
            session, code, params, mode, actor, note, state, releases, result, started, {}
        )
        notes = {
            h.proposal_id: h.note
            for h in session.scalars(
                select(ProposalHistoryRow).where(ProposalHistoryRow.run_id == report.run_id)
            )
        }
        notes.update({r.proposal_id: r.reason for r in releases})
    finally:
        nested.rollback()
    return replace(report, notes=notes)


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
    """Move a proposal to ``status`` if nobody changed it since the caller read
    ``expected_version``.

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
            ProposalRow.status.in_(ACTIVE_STATUSES),
        )
    )
    if live is not None:
        raise ConflictError(
            f"この組み合わせには既に提案 {live.id} ({STATUS_LABELS_JA[live.status]}) があります"
        )
    _xact_ledger_lock(session)
    check = check_proposal(session, fac, inst, covers)
    if check.filed_partner:  # an existing partnership is never proposed as a new one
        raise ConflictError(
            f"{inst.name} はこの施設が届け出た既存の協力医療機関です。新たな提案にはできません"
        )
    covers, km, problems = check.covers, check.km, list(check.problems)
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
        PlanChange(p.id, p.facility_id, p.institution_id, rp.change, p.status)  # type: ignore[arg-type]
        for rp, p in session.execute(
            select(RunProposalRow, ProposalRow)
            .join(ProposalRow, ProposalRow.id == RunProposalRow.proposal_id)
            .where(RunProposalRow.run_id == run_id)
            .order_by(ProposalRow.id)
        )
    ]
    dropped = session.execute(
        select(ProposalRow, ProposalHistoryRow.from_status)
        .join(ProposalHistoryRow, ProposalHistoryRow.proposal_id == ProposalRow.id)
        .where(ProposalHistoryRow.run_id == run_id, ProposalHistoryRow.to_status == "withdrawn")
        .order_by(ProposalRow.id)
    )
    out += [
        PlanChange(
            p.id,
            p.facility_id,
            p.institution_id,
            "released" if before == "contacted" else "dropped",
            p.status,
        )
        for p, before in dropped
    ]
    return out
