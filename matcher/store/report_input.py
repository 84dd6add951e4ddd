"""A stored run read back as the core's input and result, so that reports can be written for it.

The store keeps a run's parameters, the hash of its input, its objective and its proposals, not
the input itself. The input is rebuilt with ``load_state`` from the registry rows, filings and
declarations in the store, with every proposal's status as it was when the run finished (from
the proposal history). When the rebuilt input hashes to the run's ``input_hash`` it is exactly
what the run solved; otherwise (facilities, filings or declarations changed since) the report is
drawn on today's data and its notes say so.

The run's proposals are then placed on the same candidate graph and explained by the core's own
functions (``matcher.match.result_of``): outcomes, reasons and alternatives are recomputed, the
proposals themselves are the stored ones.

Capacity is the one thing the letters show as it is *now*: the capacity ledger
(``state.capacity_use``, through ``institution_states``) counts every area's proposed, contacted
and agreed pairs, so once another area's run has reserved places at the same institutions the
run's own input no longer says what is left. Each declared institution's capacity (the room the
planner's bound means) is set to what the ledger leaves plus what the run's own requests use of
it (``ledger_capacities``): room − requests, what the letters print as left (and each
alternative's 残り), is the facility page's 残り. The declared capacity is carried beside the
room (``matcher.capacity``), so that a letter's 「申告いただいた受入枠」 is the declaration and
the room, where it differs, is its own figure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..capacity import partnerships_used, with_room
from ..match import result_of_pairs
from ..model import Instance
from ..params import MatchParams
from ..progress import Progress
from ..result import BASELINE_KEYS, MatchResult, Proposal, SolveInfo
from ..wareki import day_of
from ..wareki import today as today_jp
from .areas import area_codes
from .backups import backups_of
from .errors import NotFoundError
from .models import (
    AreaRow,
    DeclarationRow,
    InstitutionRow,
    ProposalRow,
    RunProposalRow,
    RunRow,
    StoreChangeRow,
)
from .planner_input import AreaState, load_state
from .progress import progress_by_year
from .runs import get_run
from .state import institution_states

_IN_CHUNK = 2000  # ids per IN list (SQLite's bound-parameter limit)


@dataclass(frozen=True)
class RunInput:
    """A stored run as the core sees it: the input it was computed on and its explained result.

    ``exact`` says whether the input rebuilt as at the run's end is the very input of the run
    (its hash matches); ``instance`` is that input with the capacities the ledger leaves now
    (``ledger_capacities``; the same input when nothing reserved or freed places since).
    ``notes`` (Japanese) say what could not be rebuilt, for the report's notes.
    """

    run_id: int
    area_code: str
    area_name: str
    instance: Instance
    result: MatchResult
    exact: bool
    notes: tuple[str, ...]
    filing_years: Progress | None = None  # the area's progress over 年度 (reports' section)


def _state_at(
    session: Session, area_code: str, run: RunRow, params: MatchParams
) -> tuple[AreaState, bool]:
    """The area's state when ``run`` finished, and whether it is exactly the run's input."""
    first: AreaState | None = None
    # the run loaded the declarations in force on its day in Japan (``wareki.today``); a run
    # stored before that counted its server's day, UTC on these machines
    for day in dict.fromkeys(
        (day_of(run.started_at), day_of(run.finished_at), run.started_at.date())
    ):
        state = load_state(session, area_code, params, on=day, as_of=run.finished_at)
        if state.input_hash == run.input_hash:
            return state, True
        first = first or state
    assert first is not None
    return first, False


def run_input(session: Session, run_id: int) -> RunInput:
    """Rebuild run ``run_id``'s input and result for its reports.

    Raises ``NotFoundError`` for an unknown run.
    """
    run = get_run(session, run_id)
    area = session.get(AreaRow, run.area_id)
    if area is None:  # pragma: no cover - a foreign key keeps the area
        raise NotFoundError(f"計算 {run_id} の地域が見つかりません")
    params = MatchParams.from_dict(run.params)
    state, exact = _state_at(session, area.code, run, params)
    notes: list[str] = []
    if not exact:
        notes.append(
            f"計算 {run_id} の後に施設・医療機関・届出・受入枠の申告が更新されたため、"
            "計算時の入力をそのままは復元できませんでした。"
            "施設の状況・未充足の理由・代替候補は現在のデータで"
            "計算し直しています (提案の組み合わせは計算時のままです)"
        )
    carried = set(state.kept)  # contacted before the run: existing coverage, not proposed by it
    rows = list(
        session.scalars(
            select(ProposalRow)
            .join(RunProposalRow, RunProposalRow.proposal_id == ProposalRow.id)
            .where(RunProposalRow.run_id == run_id)
            .order_by(ProposalRow.id)
        )
    )
    listed = [p for p in rows if p.id not in carried]
    pairs = [(p.facility_id, p.institution_id) for p in listed]
    conditional = backups_of(session, [p.id for p in listed])
    info = SolveInfo(
        run.mode,  # type: ignore[arg-type]  # a stored mode is one of MODES (RunRow.mode is str)
        run.proven_optimal,
        run.message,
        {k: float(v) for k, v in run.seconds.items()},
        {
            "run_id": run.id,
            "area_code": area.code,
            "input_exact": exact,
            # the run's 条件付き依頼 still conditional now: [facility id, institution id] pairs
            # (the letters mark them: ``reports.pages.BACKUPS_KEY``)
            "backups": sorted(
                [p.facility_id, p.institution_id] for p in listed if p.id in conditional
            ),
        },
    )

    def explained(instance: Instance) -> tuple[MatchResult, int, int]:
        """The run's proposals explained on ``instance``: result, pairs off the graph, and how
        many of those could not even be listed."""
        result, absent = result_of_pairs(instance, params, pairs, info, state.forbidden)
        # The greedy baseline was computed with the run on its input: keep the stored values.
        stored_baseline = {k: run.counts[k] for k in BASELINE_KEYS if k in run.counts}
        result = replace(result, counts={**result.counts, **stored_baseline})
        dropped = 0
        if absent:
            off_graph = set(absent)
            result, dropped = _with_stored(
                instance,
                result,
                [p for p in listed if (p.facility_id, p.institution_id) in off_graph],
            )
        return result, len(absent), dropped

    result, absent, dropped = explained(state.instance)
    instance, moved = ledger_capacities(session, state.instance, result.proposals, params=params)
    if moved:  # the run's proposals do not depend on capacity: only the explanations move
        result, absent, dropped = explained(instance)
        shown = "、".join(moved[:5]) + (" ほか" if len(moved) > 5 else "")
        notes.append(
            "受入枠の残りは計算時ではなく現在の台帳 (すべての地域の提案中・打診中・合意済みの"
            f"提案) の値です。計算後に残りが変わった医療機関 {len(moved)} 件: {shown}"
        )
    if absent:
        notes.append(
            f"提案 {absent} 件は現在のデータでは候補の範囲外のため、"
            "施設の状況の集計に含めていません"
            + (
                f" (うち {dropped} 件は施設または医療機関が対象から外れたため一覧にもありません)"
                if dropped
                else ""
            )
        )
    stored = (run.mandatory_full, run.effort_full, run.pairs_covered, run.partnerships)
    o = result.objective
    if (
        exact
        and not absent
        and (o.mandatory_full, o.effort_full, o.pairs_covered, o.partnerships) != stored
    ):
        notes.append(
            "再構成した提案の評価値が計算時と異なります "
            f"(計算時: 義務 {stored[0]}・努力義務 {stored[1]}・"
            f"組 {stored[2]}・提案 {stored[3]}、"
            f"再構成: 義務 {o.mandatory_full}・努力義務 {o.effort_full}・"
            f"組 {o.pairs_covered}・提案 {o.partnerships})"
        )
    return RunInput(
        run.id,
        area.code,
        area.name,
        instance,
        result,
        exact,
        tuple(notes),
        progress_by_year(session, area_codes(area)),
    )


def ledger_capacities(
    session: Session,
    instance: Instance,
    asked: Sequence[Proposal],
    on: dt.date | None = None,
    params: MatchParams | None = None,
) -> tuple[Instance, list[str]]:
    """``instance`` with each institution's capacity as the ledger has it on ``on`` (today) for
    a run that ``asked`` these proposals: undeclared stays unlimited; a declared one gets as its
    room what the ledger leaves (``InstitutionState.remaining``: every area's proposed,
    contacted and agreed pairs, a site once) plus what the run's own requests use of it, counted
    as the reports count them (``capacity.partnerships_used`` with the run's ``params``), and
    carries its declared capacity beside the room (``capacity.with_room``): the letters print
    the declaration, and room − requests is the facility page's 残り. Also the ids of the
    institutions whose room changed."""
    on = on or today_jp()
    params = params or MatchParams()
    ids = [i.institution_id for i in instance.institutions]
    rows: list[InstitutionRow] = []
    for k in range(0, len(ids), _IN_CHUNK):
        part = ids[k : k + _IN_CHUNK]
        rows += session.scalars(
            select(InstitutionRow).where(InstitutionRow.institution_id.in_(part))
        )
    states = institution_states(session, rows, on)
    requested = partnerships_used(
        instance,
        ((p.facility_id, p.institution_id) for p in asked),
        params.count_site_registrations,
    )
    out, moved = [], []
    for i in instance.institutions:
        st = states.get(i.institution_id)
        room, declared = i.capacity, i.capacity
        if st is not None:
            declared = st.declared
            room = (
                None if st.remaining is None else st.remaining + requested.get(i.institution_id, 0)
            )
        if room != i.capacity:
            moved.append(i.institution_id)
        out.append(with_room(i, room, declared))
    return Instance.of(list(instance.facilities), out), moved


def report_fingerprint(session: Session, run_id: int) -> str:
    """What run ``run_id``'s reports depend on besides their date and options, as a SHA-256:
    the registry (its change counter: facilities, institutions, filings, declarations, areas),
    the run's proposals as stored (pair, covers, distance) and the capacity ledger of the
    declared institutions today (declared, used: ``ledger_capacities`` reads it). Statuses are
    otherwise not in it: the reports read them as at the run's end (``run_input``), so agreeing
    with a proposal later does not change them (the ledger counts it either way); a decline, a
    withdrawal or another area's run that moves some institution's line does, and so does a
    later run that changes a kept proposal's covers.

    Raises ``NotFoundError`` for an unknown run."""
    get_run(session, run_id)
    registry = session.scalar(
        select(StoreChangeRow.version).where(StoreChangeRow.topic == "registry")
    )
    rows = session.execute(
        select(
            ProposalRow.id,
            ProposalRow.facility_id,
            ProposalRow.institution_id,
            ProposalRow.covers,
            ProposalRow.distance_km,
        )
        .join(RunProposalRow, RunProposalRow.proposal_id == ProposalRow.id)
        .where(RunProposalRow.run_id == run_id)
        .order_by(ProposalRow.id)
    )
    declared = list(
        session.scalars(
            select(InstitutionRow)
            .where(InstitutionRow.institution_id.in_(select(DeclarationRow.institution_id)))
            .order_by(InstitutionRow.institution_id)
        )
    )
    ledger = institution_states(session, declared, today_jp())
    payload = [
        registry,
        [[i, f, n, c, round(km, 9)] for i, f, n, c, km in rows],
        [[iid, st.declared, st.used] for iid, st in ledger.items() if st.declared is not None],
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def _with_stored(
    instance: Instance, result: MatchResult, rows: list[ProposalRow]
) -> tuple[MatchResult, int]:
    """``result`` plus the stored proposals that are not on the candidate graph (listed as stored,
    counted nowhere); returns how many could not be listed (facility or institution gone)."""
    facs = {f.facility_id for f in instance.facilities}
    insts = {i.institution_id for i in instance.institutions}
    extra = [
        Proposal(p.facility_id, p.institution_id, p.covers, p.distance_km)
        for p in rows
        if p.facility_id in facs and p.institution_id in insts
    ]
    fpos = {f.facility_id: k for k, f in enumerate(instance.facilities)}
    merged = sorted(
        [*result.proposals, *extra],
        key=lambda p: (fpos[p.facility_id], p.distance_km, p.institution_id),
    )
    return replace(result, proposals=tuple(merged)), len(rows) - len(extra)
