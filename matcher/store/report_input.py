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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..match import result_of_pairs
from ..model import Instance
from ..params import MatchParams
from ..progress import Progress
from ..result import BASELINE_KEYS, MatchResult, Proposal, SolveInfo
from .areas import area_codes
from .errors import NotFoundError
from .models import AreaRow, ProposalRow, RunProposalRow, RunRow, StoreChangeRow
from .planner_input import AreaState, load_state
from .progress import progress_by_year
from .runs import get_run


@dataclass(frozen=True)
class RunInput:
    """A stored run as the core sees it: the input it was computed on and its explained result.

    ``exact`` says whether ``instance`` is the very input of the run (its hash matches);
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


def _local_day(at: dt.datetime) -> dt.date:
    """The local calendar day of a naive-UTC time (a run loads declarations in force on its day)."""
    return at.replace(tzinfo=dt.UTC).astimezone().date()


def _state_at(
    session: Session, area_code: str, run: RunRow, params: MatchParams
) -> tuple[AreaState, bool]:
    """The area's state when ``run`` finished, and whether it is exactly the run's input."""
    first: AreaState | None = None
    for day in dict.fromkeys(
        (_local_day(run.started_at), run.started_at.date(), _local_day(run.finished_at))
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
    pairs = [(p.facility_id, p.institution_id) for p in rows if p.id not in carried]
    info = SolveInfo(
        run.mode,  # type: ignore[arg-type]  # a stored mode is one of MODES (RunRow.mode is str)
        run.proven_optimal,
        run.message,
        {k: float(v) for k, v in run.seconds.items()},
        {"run_id": run.id, "area_code": area.code, "input_exact": exact},
    )
    result, absent = result_of_pairs(state.instance, params, pairs, info, state.forbidden)
    # The greedy baseline was computed with the run on its input: keep the stored values.
    stored_baseline = {k: run.counts[k] for k in BASELINE_KEYS if k in run.counts}
    result = replace(result, counts={**result.counts, **stored_baseline})
    if absent:
        off_graph = set(absent)
        result, dropped = _with_stored(
            state.instance,
            result,
            [
                p
                for p in rows
                if (p.facility_id, p.institution_id) in off_graph and p.id not in carried
            ],
        )
        notes.append(
            f"提案 {len(absent)} 件は現在のデータでは候補の範囲外のため、"
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
        state.instance,
        result,
        exact,
        tuple(notes),
        progress_by_year(session, area_codes(area)),
    )


def report_fingerprint(session: Session, run_id: int) -> str:
    """What run ``run_id``'s reports depend on besides their date and options, as a SHA-256:
    the registry (its change counter: facilities, institutions, filings, declarations, areas)
    and the run's proposals as stored (pair, covers, distance). Statuses are not in it: the
    reports read them as at the run's end (``run_input``), so agreeing or declining a proposal
    later does not change them; a later run that changes a kept proposal's covers does.

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
    payload = [registry, [[i, f, n, c, round(km, 9)] for i, f, n, c, km in rows]]
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
