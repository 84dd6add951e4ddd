"""A run's write: its plan stored against what the store holds now, and what changed (and why).

``write_run`` stores the run, its new, kept and dropped proposals and their history (a
withdrawn request settles its conditional backups: ``proposal_commands.settle_backups``);
``preview_run`` does the same in a savepoint rolled back at once (the dry run). Both are called
by ``planning.run_plan`` inside its commit transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..model import format_capabilities, format_capabilities_ja
from ..params import MatchParams, Mode
from ..result import MatchResult
from .errors import NotFoundError, OtherAreaProposalsError
from .models import (
    AreaRow,
    ProposalHistoryRow,
    ProposalRow,
    RunProposalRow,
    RunRow,
    utcnow,
)
from .planner_input import AreaState, Release
from .proposal_commands import add_proposal, record_history, settle_backups
from .proposals import proposal_row


@dataclass(frozen=True)
class PlanChange:
    """One proposal a run made (``new``), kept, dropped or released, and its status after it."""

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
    # dry run: proposal id → (covers, km) as the rolled-back rows had them (a 条件付き依頼 is
    # in no plan: this is where the preview reads what it would cover)
    shown: dict[int, tuple[int, float]] = field(default_factory=dict)
    # proposals of other areas' runs this run withdraws: run id → its label, and how many
    other_areas: dict[int, str] = field(default_factory=dict)
    other_area_count: int = 0

    def of(self, change: str) -> list[PlanChange]:
        return [c for c in self.changes if c.change == change]

    def planned_pairs(self) -> dict[tuple[str, str], tuple[int, float]]:
        """(facility id, institution id) → (covers, km) of every pair the run asks: its plan's,
        and (dry run) those it adds beyond the plan, e.g. its 条件付き依頼 — what a preview
        shows for rows that were never stored."""
        out = {
            (c.facility_id, c.institution_id): self.shown[c.proposal_id]
            for c in self.changes
            if c.proposal_id in self.shown
        }
        out.update(
            ((p.facility_id, p.institution_id), (p.covers, p.distance_km))
            for p in self.result.proposals
        )
        return out


def latest_run_id(session: Session, area_id: int) -> int | None:
    """The id of the area's latest run (``None`` before its first)."""
    return session.scalar(
        select(RunRow.id).where(RunRow.area_id == area_id).order_by(RunRow.id.desc()).limit(1)
    )


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


def other_area_runs(session: Session, area_id: int, rows: list[ProposalRow]) -> dict[int, str]:
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


def write_run(
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
    previous = latest_run_id(session, area.id)
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
    released: list[ProposalRow] = []
    for r in releases:
        p = proposal_row(session, r.proposal_id, lock=True)
        if p.status not in ("proposed", "contacted"):
            continue
        before = p.status
        p.status, p.updated_by, p.updated_at, p.status_at = "withdrawn", actor, now, now
        session.flush()
        record_history(session, p, before, actor, r.reason, run.id if r.by_run else None)
        released.append(p)
        if r.by_run:
            changes.append(PlanChange(p.id, p.facility_id, p.institution_id, "released", p.status))
    settle_backups(session, released, actor, run.id)  # as any withdrawal settles its backups
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
    links: list[dict[str, object]] = []  # the run's plan: its run_proposals rows
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
                record_history(
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
            row = add_proposal(
                session,
                prop.facility_id,
                prop.institution_id,
                prop.covers,
                prop.distance_km,
                actor,
                note or f"計算 {run.id} で提案",
                now,
                run.id,
            )
            change = "new"
        linked.add(row.id)
        links.append({"run_id": run.id, "proposal_id": row.id, "change": change})
        changes.append(PlanChange(row.id, row.facility_id, row.institution_id, change, row.status))
    for pid in state.kept:
        kept = session.get(ProposalRow, pid)
        if kept is None or pid in linked or kept.status != "contacted":
            continue
        linked.add(pid)
        links.append({"run_id": run.id, "proposal_id": pid, "change": "kept"})
        changes.append(PlanChange(pid, kept.facility_id, kept.institution_id, "kept", kept.status))
    if links:  # one bulk insert, no ORM object per link (hundreds per run)
        session.execute(insert(RunProposalRow), links)
    dropped = sorted(live.values(), key=lambda r: r.id)
    others = other_area_runs(session, area.id, dropped)
    if others and not replace_other_areas:
        raise OtherAreaProposalsError(others, sum(r.run_id in others for r in dropped))
    for row in dropped:
        why = f"計算 {run.id} で取り下げ: {drop_reason(row, state, result, params)}"
        if row.run_id in others:
            why = f"{others[row.run_id]} の提案を、地域「{area.name}」の{why}"
        row.status, row.updated_by, row.updated_at, row.status_at = "withdrawn", actor, now, now
        session.flush()
        record_history(session, row, "proposed", actor, why, run.id)
        changes.append(
            PlanChange(row.id, row.facility_id, row.institution_id, "dropped", "withdrawn")
        )
    settle_backups(session, dropped, actor, run.id)  # after the drops: a dropped backup stays so
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


def preview_run(
    session: Session, releases: list[Release], write: Callable[[], PlanReport]
) -> PlanReport:
    """``write`` (a ``write_run`` of ``releases`` in ``session``) in a savepoint rolled back at
    once: the report with the history notes and what each changed proposal covers (``shown``)."""
    nested = session.begin_nested()
    try:
        report = write()
        notes = {
            h.proposal_id: h.note
            for h in session.scalars(
                select(ProposalHistoryRow).where(ProposalHistoryRow.run_id == report.run_id)
            )
        }
        notes.update({r.proposal_id: r.reason for r in releases})
        ids = sorted({c.proposal_id for c in report.changes})
        shown = {
            int(pid): (int(covers), float(km))
            for k in range(0, len(ids), 500)
            for pid, covers, km in session.execute(
                select(ProposalRow.id, ProposalRow.covers, ProposalRow.distance_km).where(
                    ProposalRow.id.in_(ids[k : k + 500])
                )
            )
        }
    finally:
        nested.rollback()
    return replace(report, notes=notes, shown=shown)
