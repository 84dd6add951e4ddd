"""Held acceptances (受入可(保留中)): the ``hold`` round strategy's rule, in one place.

Declines leave 義務 facilities short, and often the capacity their replacements need was just
agreed — in an earlier answer — to another 義務 facility that other partners could cover
(lock-in). ``hold`` (``MatchParams.round_strategy``; ``benchmarks/rounds.py`` measured it)
keeps such a yes movable until the area's next re-plan:

- **Held**: an institution's 受入可 (any channel: a link, an Excel form, typed by a coordinator;
  all reach ``proposal_commands.set_status``) to an open request of a 義務 facility, when the
  latest run holding the request (``RunProposalRow``) has a strategy with ``hold`` and the
  request is no backup (``matcher.store.backups``), stays 打診中 with a ``proposal_holds`` row
  (``answer_target``). It is not coverage; it uses capacity as any contacted pair.
- **At once**: a facility's held answers are agreed as soon as it is complete with its agreed
  and held answers *and* an agreed proposal of it (an answer not held) is among them — whatever
  the order the answers came in (``settlements``, applied by
  ``proposal_commands.settle_backups`` after every status change). A held answer decided in
  another way (declined by a correction, withdrawn) simply stops being held.
- **The re-plan** (``planning.run_plan`` under a ``hold`` strategy) solves the area twice: with
  the held answers kept (contacted pairs: the planner keeps them) and released (as if
  withdrawn: their capacity free). ``releases`` decides: the released plan is taken only when
  it completes more 義務 facilities, and then every held answer it does not choose again is
  released; otherwise the held answers of facilities the kept plan cannot complete are
  released. Released answers are withdrawn by the run (history: ``RELEASE_NOTE``; the run's
  page lists them as 解放 — the letters tell institutions of no withdrawal, so there is no
  release notice). After the write, the held answers of facilities complete with their agreed
  and held answers are agreed (``replan_settlements``); a run without ``hold`` agrees every
  held answer of its area (the hold ends).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..model import FACILITY_KINDS, Instance
from ..params import MatchParams
from ..result import MatchResult
from ..vocab import Duty
from ..vocab import ProposalStatus as Status
from .areas import get_area, member_filter
from .backups import BackupRow
from .models import FacilityRow, HoldRow, ProposalRow, RunProposalRow, RunRow, utcnow
from .state import facility_states

MEASURE = "hold"
HELD_LABEL_JA = "受入可(保留中)"
HELD_NOTE = f"{HELD_LABEL_JA}: 次の再計画まで{Status.CONTACTED.label_ja}のまま (合意または解除)"
RELEASE_NOTE = (
    f"{HELD_LABEL_JA}を解除: 再計画で受入枠を他の義務施設に回すため取り下げ (受入可の回答への"
    "お詫びと取り下げを医療機関に連絡してください)"
)
AGREE_NOTE = f"{HELD_LABEL_JA}を合意: 施設の要件がそろいました"
END_NOTE = f"{HELD_LABEL_JA}を合意: 保留しない計算が実行されました"
_CHUNK = 500  # ids per IN list


def _holding_run(session: Session, p: ProposalRow) -> int | None:
    """The latest run holding ``p`` when its strategy holds answers (else ``None``)."""
    run_id = session.scalar(
        select(func.max(RunProposalRow.run_id)).where(RunProposalRow.proposal_id == p.id)
    )
    run = None if run_id is None else session.get(RunRow, run_id)
    if run is None or not MatchParams.from_dict(run.params or {}).uses(MEASURE):
        return None
    return run.id


def answer_target(session: Session, p: ProposalRow, target: str) -> tuple[str, str]:
    """What a status ``target`` does to ``p`` under the hold: a 受入可 (agreed) to an open
    request of a 義務 facility of a holding run becomes 打診中 with a ``proposal_holds`` row.
    (status, a note to add; empty when nothing changes.)"""
    if target != Status.AGREED.value or p.status not in (
        Status.PROPOSED.value,
        Status.CONTACTED.value,
    ):
        return target, ""
    fac = session.get(FacilityRow, p.facility_id)
    kind = None if fac is None else FACILITY_KINDS.get(fac.kind)
    if kind is None or kind.duty is not Duty.MANDATORY:
        return target, ""
    if session.get(BackupRow, p.id) is not None:
        return target, ""
    run_id = _holding_run(session, p)
    if run_id is None:
        return target, ""
    row = session.get(HoldRow, p.id)
    if row is None:
        session.add(HoldRow(proposal_id=p.id, run_id=run_id, at=utcnow()))
    else:
        row.run_id, row.at = run_id, utcnow()
    session.flush()
    return Status.CONTACTED.value, HELD_NOTE


def held_ids(session: Session, proposal_ids: Iterable[int]) -> set[int]:
    """The held answers among ``proposal_ids`` (for the pages): marked and still 打診中."""
    ids = list(proposal_ids)
    out: set[int] = set()
    for k in range(0, len(ids), _CHUNK):
        out.update(
            int(i)
            for i in session.scalars(
                select(HoldRow.proposal_id)
                .join(ProposalRow, ProposalRow.id == HoldRow.proposal_id)
                .where(
                    HoldRow.proposal_id.in_(ids[k : k + _CHUNK]),
                    ProposalRow.status == Status.CONTACTED.value,
                )
            )
        )
    return out


def _held_of_facilities(session: Session, facility_ids: Iterable[str]) -> list[ProposalRow]:
    """The held answers (still 打診中) of ``facility_ids``, by id."""
    ids = sorted(set(facility_ids))
    out: list[ProposalRow] = []
    for k in range(0, len(ids), _CHUNK):
        out += session.scalars(
            select(ProposalRow)
            .join(HoldRow, HoldRow.proposal_id == ProposalRow.id)
            .where(
                ProposalRow.facility_id.in_(ids[k : k + _CHUNK]),
                ProposalRow.status == Status.CONTACTED.value,
            )
        )
    return sorted(out, key=lambda p: p.id)


def held_in_area(session: Session, area_code: str) -> dict[int, tuple[str, str]]:
    """The held answers of an area's facilities: proposal id → (facility, institution)."""
    area = get_area(session, area_code, create=False)
    rows = session.execute(
        select(ProposalRow.id, ProposalRow.facility_id, ProposalRow.institution_id)
        .join(HoldRow, HoldRow.proposal_id == ProposalRow.id)
        .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
        .where(
            ProposalRow.status == Status.CONTACTED.value,
            member_filter(area, FacilityRow.code5),
        )
        .order_by(ProposalRow.id)
    )
    return {int(pid): (str(f), str(i)) for pid, f, i in rows}


def _agreements(
    session: Session, facility_ids: Iterable[str], note: str, need_agreed: bool
) -> list[tuple[ProposalRow, str | None, str]]:
    """The held answers of the facilities complete with their agreed and held answers (with
    ``need_agreed``: only where an agreed proposal is among them), to agree with ``note``."""
    held = _held_of_facilities(session, facility_ids)
    if not held:
        return []
    by_facility: dict[str, list[ProposalRow]] = defaultdict(list)
    for p in held:
        by_facility[p.facility_id].append(p)
    rows = list(
        session.scalars(select(FacilityRow).where(FacilityRow.facility_id.in_(list(by_facility))))
    )
    out: list[tuple[ProposalRow, str | None, str]] = []
    for st in facility_states(session, rows):
        mine = by_facility[st.facility_id]
        cover = 0
        for p in mine:
            cover |= p.covers
        if st.missing & ~cover or (need_agreed and not st.n_agreed):
            continue
        out += [(p, Status.AGREED.value, note) for p in mine]
    return out


def settlements(
    session: Session, changed: Iterable[ProposalRow]
) -> list[tuple[ProposalRow, str | None, str]]:
    """What the status changes of ``changed`` do to held answers: (held answer, new status,
    history note) — agreed once its facility is complete with an agreed answer among the
    completing ones (module docstring). A marker whose proposal is no longer 打診中 goes."""
    changed = list(changed)
    ids = [p.id for p in changed]
    for k in range(0, len(ids), _CHUNK):  # decided otherwise: no longer held
        for row in session.scalars(
            select(HoldRow).where(HoldRow.proposal_id.in_(ids[k : k + _CHUNK]))
        ):
            p = session.get(ProposalRow, row.proposal_id)
            if p is None or p.status != Status.CONTACTED.value:
                session.delete(row)
    session.flush()
    touched = {p.facility_id for p in changed if p.status in ("agreed", "contacted")}
    return _agreements(session, touched, AGREE_NOTE, need_agreed=True)


def _done(instance: Instance, plan: MatchResult, scope: set[str]) -> set[str]:
    """The facilities of ``scope`` left with nothing missing by ``plan`` on ``instance`` (one
    absent from it misses nothing)."""
    need = {f.facility_id: f.missing for f in instance.facilities}
    planned: dict[str, int] = defaultdict(int)
    for q in plan.proposals:
        planned[q.facility_id] |= q.covers
    return {f for f in scope if not need.get(f, 0) & ~planned.get(f, 0)}


def releases(
    held: Mapping[int, tuple[str, str]],
    kept_instance: Instance,
    kept: MatchResult,
    free_instance: Instance,
    free: MatchResult,
) -> tuple[list[int], bool]:
    """The held answers a re-plan releases (module docstring), and whether it takes the plan
    solved with them released (``free``, planned on ``free_instance``: it completes more 義務
    facilities than ``kept``). The instances are the run's planner input (``AreaState``)."""
    mandatory = {f for f, _ in held.values()}  # only 義務 facilities' answers are held
    for instance in (kept_instance, free_instance):
        mandatory.update(
            f.facility_id
            for f in instance.facilities
            if (k := FACILITY_KINDS.get(f.kind)) is not None and k.duty is Duty.MANDATORY
        )
    scope = (
        {f for f, _ in held.values()}
        | {q.facility_id for q in kept.proposals}
        | {q.facility_id for q in free.proposals}
    ) & mandatory
    done_kept = _done(kept_instance, kept, scope)
    done_free = _done(free_instance, free, scope)
    if len(done_free) > len(done_kept):
        chosen = {(q.facility_id, q.institution_id) for q in free.proposals}
        out = [pid for pid, pair in held.items() if not (pair[0] in done_free and pair in chosen)]
        return sorted(out), True
    return sorted(pid for pid, (f, _) in held.items() if f not in done_kept), False


def replan_settlements(
    session: Session, area_code: str, holding: bool
) -> list[tuple[ProposalRow, str | None, str]]:
    """After a re-plan of ``area_code`` is written: the held answers to agree — those of
    facilities complete with their agreed and held answers (``holding``), or all of them (a
    run without ``hold`` ends the hold)."""
    held = held_in_area(session, area_code)
    if not holding:
        return [
            (p, Status.AGREED.value, END_NOTE)
            for pid in held
            if (p := session.get(ProposalRow, pid)) is not None
        ]
    return _agreements(session, {f for f, _ in held.values()}, AGREE_NOTE, need_agreed=False)


__all__ = [
    "AGREE_NOTE",
    "END_NOTE",
    "HELD_LABEL_JA",
    "HELD_NOTE",
    "RELEASE_NOTE",
    "answer_target",
    "held_ids",
    "held_in_area",
    "releases",
    "replan_settlements",
    "settlements",
]
