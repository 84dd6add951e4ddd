"""How a run sends its round of requests (``MatchParams.round_strategy``): what it holds back
and which conditional backup requests (条件付き依頼) it adds.

Declines arrive after the letters went out; the capacity a declined request leaves is then often
already promised elsewhere, and a 義務 facility waits a round for its replacement. Two measures
(``benchmarks/rounds.py`` measured them; the README gives the numbers):

- ``reserve`` (``hold_back``): the run does not ask yet what completes no 義務 facility — those
  new requests are left out of the stored plan (the next run plans them again), so their
  capacity stays free for the replacements. Meant for the first round of an area.
- ``backups`` (``add_backups``): for each 義務 facility the plan completes, a second institution
  is asked for a pair whose coverage hangs on one scarce pair — one in range that offers all the
  pair covers (the planner's candidate rule, ``MatchParams.reach``), never a declined pair or a
  filed partner, only where the capacity ledger has room *counting the backup* (so a backup
  never promises capacity nobody has). Scarcest first (fewest such institutions, then the
  nearest primary), at most ``BACKUP_SHARE`` × the run's new requests. A backup is a proposal
  of the run (its institution's letter asks it) with a ``proposal_backups`` row naming the
  request it backs; how answers settle it: ``matcher.store.backups``.

- ``hold``: a 義務 facility's 受入可 stays 打診中 until the area's next re-plan, which may
  release it when that completes more 義務 facilities (``matcher.store.holds``: the rule;
  ``planning.run_plan`` solves with the held answers kept and released).

``write_round`` applies them around the run's write (``planning.run_plan``); ``none`` writes
the plan as it is (and, as every run without ``hold``, agrees the area's held answers).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..geo import haversine_km
from ..model import FACILITY_KINDS, filed_partner_pairs
from ..params import MatchParams
from ..result import MatchResult
from ..vocab import BACKUP_LABEL_JA, Duty
from ..vocab import ProposalStatus as Status
from ..wareki import day_of
from . import holds
from .backups import BackupRow
from .models import (
    ACTIVE_STATUSES,
    InstitutionRow,
    ProposalRow,
    RunProposalRow,
    RunRow,
    utcnow,
)
from .planner_input import AreaState
from .proposal_commands import add_proposal, apply_settlements
from .run_write import PlanChange, PlanReport
from .state import institution_states

# Backups per run / the run's new requests (``benchmarks/rounds.py``, 400 × 120, seeds 3–4,
# reserve + backups + same-day replacement: 0.5 covered no more after two rounds than 0.3, 96.7 %
# either way, at 1.22× the requests instead of 1.17×).
BACKUP_SHARE = 0.3

# ``reserve`` still asks a held-back request whose institution the run writes to anyway (it
# joins a letter that goes out regardless, so it costs no letter). Part of issue 23 item 7's
# winning configuration (``benchmarks/rounds.py``; ``--no-reserve-joins`` measures without: with
# ``hold``, 400 × 120, after two rounds: 1.19× the letters of ``none`` on seeds 3–4 instead of
# 1.24×, 1.10× instead of 1.19× on the tuning seeds 1–2; 努力義務 newly covered 267 instead of
# 240 on seeds 1–2; 義務 the same).
RESERVE_JOINS = True


def _completes_mandatory(state: AreaState, plan: Iterable[tuple[str, int]]) -> set[str]:
    """The 義務 facilities that the ``plan`` (facility id, covers) leaves with nothing missing."""
    planned: dict[str, int] = {}
    for fid, covers in plan:
        planned[fid] = planned.get(fid, 0) | covers
    out = set()
    for f in state.instance.facilities:
        kind = FACILITY_KINDS.get(f.kind)
        if kind is None or kind.duty is not Duty.MANDATORY or f.facility_id not in planned:
            continue
        if not f.missing & ~planned[f.facility_id]:
            out.add(f.facility_id)
    return out


def hold_back(session: Session, state: AreaState, result: MatchResult) -> tuple[MatchResult, int]:
    """``result`` without the new requests (pairs not live now) of facilities the plan does not
    complete as 義務 facilities (``reserve``), and how many were held back. Live pairs stay: a
    kept request was asked already. With ``RESERVE_JOINS`` (read when called) a request to an
    institution that the kept plan asks anyway stays too (one letter either way)."""
    complete = _completes_mandatory(state, ((p.facility_id, p.covers) for p in result.proposals))
    ids = sorted({p.facility_id for p in result.proposals} - complete)
    live: set[tuple[str, str]] = set()
    for chunk in range(0, len(ids), 500):
        live.update(
            (str(f), str(i))
            for f, i in session.execute(
                select(ProposalRow.facility_id, ProposalRow.institution_id).where(
                    ProposalRow.facility_id.in_(ids[chunk : chunk + 500]),
                    ProposalRow.status.in_(ACTIVE_STATUSES),
                )
            )
        )
    kept = tuple(
        p
        for p in result.proposals
        if p.facility_id in complete or (p.facility_id, p.institution_id) in live
    )
    if RESERVE_JOINS:
        asked = set(kept)
        written = {p.institution_id for p in kept if (p.facility_id, p.institution_id) not in live}
        kept = tuple(p for p in result.proposals if p in asked or p.institution_id in written)
    return replace(result, proposals=kept), len(result.proposals) - len(kept)


@dataclass(frozen=True)
class Backup:
    """A backup request a run added: its proposal, the request it backs, the pair."""

    proposal_id: int
    primary_id: int
    facility_id: str
    institution_id: str


def add_backups(
    session: Session,
    run_id: int,
    state: AreaState,
    params: MatchParams,
    actor: str,
    now: dt.datetime,
    share: float | None = None,
) -> list[Backup]:
    """Add the run's backup requests (module docstring) as proposals of run ``run_id`` (its
    plan is written and flushed), at most ``share`` (default ``BACKUP_SHARE``, read when
    called) × its new requests, rounded up. Deterministic: ties go by distance, then ids."""
    new = list(
        session.scalars(
            select(ProposalRow)
            .join(RunProposalRow, RunProposalRow.proposal_id == ProposalRow.id)
            .where(
                RunProposalRow.run_id == run_id,
                RunProposalRow.change == "new",
                ProposalRow.status == Status.PROPOSED.value,
            )
            .order_by(ProposalRow.id)
        )
    )
    budget = math.ceil((BACKUP_SHARE if share is None else share) * len(new))
    if budget <= 0:
        return []
    complete = _completes_mandatory(state, ((p.facility_id, p.covers) for p in new))
    facilities = {f.facility_id: f for f in state.instance.facilities}
    insts = list(state.instance.institutions)
    if not insts:
        return []
    lat = np.array([i.lat for i in insts])
    lon = np.array([i.lon for i in insts])
    offers = np.array([i.offers for i in insts], np.int64)
    ids = np.array([i.institution_id for i in insts])
    fac_ids = sorted(complete)
    taken: set[tuple[str, str]] = set()
    for chunk in range(0, len(fac_ids), 500):
        taken.update(
            (str(f), str(i))
            for f, i in session.execute(
                select(ProposalRow.facility_id, ProposalRow.institution_id).where(
                    ProposalRow.facility_id.in_(fac_ids[chunk : chunk + 500])
                )
            )
        )
    taken |= state.forbidden | filed_partner_pairs(state.instance.facilities)
    options = []
    for p in new:
        if p.facility_id not in complete:
            continue
        f = facilities[p.facility_id]
        km = haversine_km(f.lat, f.lon, lat, lon) * params.road_factor
        alts = sorted(
            (float(km[k]), str(ids[k]))
            for k in np.flatnonzero(offers & p.covers == p.covers)
            if params.reach(float(km[k])) & p.covers == p.covers  # the candidate rule
            and ids[k] != p.institution_id
            and (p.facility_id, str(ids[k])) not in taken
        )
        if alts:
            options.append((len(alts), p.distance_km, p.id, p, alts))
    # the ledger after the run's plan (its proposals flushed): room is what a backup may use
    wanted = sorted({iid for *_, alts in options for _, iid in alts})
    left: dict[str, int | None] = {}
    for chunk in range(0, len(wanted), 500):
        rows = list(
            session.scalars(
                select(InstitutionRow).where(
                    InstitutionRow.institution_id.in_(wanted[chunk : chunk + 500])
                )
            )
        )
        left.update(
            (iid, st.remaining)
            for iid, st in institution_states(session, rows, day_of(now)).items()
        )
    options.sort(key=lambda o: o[:3])  # scarcest first, then the nearest primary
    out: list[Backup] = []
    used: dict[str, int] = {}
    names = {i.institution_id: i.name for i in insts}
    for _, _, _, p, alts in options:
        if len(out) >= budget:
            break
        for road_km, iid in alts:
            room = left.get(iid)
            if room is not None and room - used.get(iid, 0) <= 0:
                continue
            note = (
                f"計算 {run_id} の{BACKUP_LABEL_JA}: 提案 {p.id} "
                f"({names.get(p.institution_id, p.institution_id)}) が不可のときだけ合意になります"
            )
            b = add_proposal(
                session, p.facility_id, iid, p.covers, road_km, actor, note, now, run_id
            )
            session.add(BackupRow(backup_id=b.id, primary_id=p.id, run_id=run_id))
            session.execute(
                insert(RunProposalRow), [{"run_id": run_id, "proposal_id": b.id, "change": "new"}]
            )
            used[iid] = used.get(iid, 0) + 1
            taken.add((p.facility_id, iid))
            out.append(Backup(b.id, p.id, p.facility_id, iid))
            break
    session.flush()
    return out


def write_round(
    session: Session,
    params: MatchParams,
    actor: str,
    state: AreaState,
    result: MatchResult,
    write: Callable[[MatchResult], PlanReport],
) -> PlanReport:
    """``write`` the run's plan (``run_write.write_run`` bound to everything else) under the
    run's strategy: the plan without the held-back requests (``reserve``), then the backups
    (``backups``), then the held answers settled (``hold``: those of complete facilities
    agreed; without it: all agreed, the hold ends), all said in the run's message. ``none``
    with no held answer in the area: exactly ``write(result)``."""
    held = 0
    if params.uses("reserve"):
        result, held = hold_back(session, state, result)
    answers = holds.held_in_area(session, state.area_code)  # held before the run's releases
    report = write(result)
    report = _settle_holds(session, params, actor, report, answers)
    if params.round_strategy == "none":
        return report
    added = []
    if params.uses("backups"):
        added = add_backups(session, report.run_id, state, params, actor, utcnow())
    run = session.get(RunRow, report.run_id)
    assert run is not None
    said = []
    if params.uses("reserve"):
        said.append(f"義務施設を満たさない新しい依頼 {held} 件を次の回に回しました (受入枠を残す)")
    if params.uses("backups"):
        said.append(f"{BACKUP_LABEL_JA} {len(added)} 件を添えました")
    if params.uses(holds.MEASURE):
        said.append("義務施設の受入可を次の再計画まで保留します")
    run.message = " ".join([run.message, *[f"{s}。" for s in said]]).strip()
    run.n_new += len(added)
    session.flush()
    changes = tuple(
        PlanChange(b.proposal_id, b.facility_id, b.institution_id, "new", Status.PROPOSED.value)
        for b in added
    )
    return replace(report, changes=report.changes + changes)


def _settle_holds(
    session: Session,
    params: MatchParams,
    actor: str,
    report: PlanReport,
    answers: dict[int, tuple[str, str]],
) -> PlanReport:
    """After the run's write: agree the held answers ``holds.replan_settlements`` names (run
    ``report.run_id`` in their history), say in the run's message what became of the area's
    held ``answers`` (agreed, released by the run), and show the agreed ones' status in the
    report's changes."""
    if not answers:
        return report
    moves = holds.replan_settlements(session, report.area_code, params.uses(holds.MEASURE))
    agreed = {p.id for p in apply_settlements(session, moves, actor, report.run_id)}
    released = sum(
        (p := session.get(ProposalRow, pid)) is not None and p.status == Status.WITHDRAWN.value
        for pid in answers
    )
    run = session.get(RunRow, report.run_id)
    assert run is not None
    run.message = (
        f"{run.message} {holds.HELD_LABEL_JA} {len(answers)} 件のうち {len(agreed & set(answers))}"
        f" 件を合意、{released} 件を解除しました。"
    ).strip()
    session.flush()
    changes = tuple(
        replace(c, status=Status.AGREED.value) if c.proposal_id in agreed else c
        for c in report.changes
    )
    return replace(report, changes=changes)


__all__ = [
    "BACKUP_SHARE",
    "RESERVE_JOINS",
    "Backup",
    "add_backups",
    "hold_back",
    "write_round",
]
