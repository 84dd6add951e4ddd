"""Exact lexicographic optimum of MODEL.md: staged LPs by column generation, MILPs if needed.

The five levels (``vocab.Level``): L1 max fully covered 義務 facilities, L2 max fully covered
努力義務 facilities, L3 max covered (facility, capability) pairs, L4 min partnerships, L5 min km.
They are solved per connected component of the candidate graph (components are independent)
in three stages, each stage's optimum becoming a row of the next: L1+L2 as max (n₂+1)·L1 + L2
(n₂ = completable 努力義務 facilities, so one 義務 facility outweighs them all), L3+L4 as
max (P·n+1)·L3 − L4 (P·n bounds the partnerships), then L5. Both weightings are exact for
integer solutions.

Two formulations of one component, the same optimum (the tests compare them):

- ``pattern`` (default, ``pattern.PatternModel``): one column per partner set of a facility, one
  convexity row per facility and the binding capacity rows. Its LP bound is the Lagrangian bound
  with only capacity relaxed; pricing is exact in O(pairs).
- ``bundle`` (``bundle.BundleModel``, ``bundle_cg``): one column per (pair, subset of what it
  covers) with cover, full, partner and capacity rows; a weaker LP and a larger master. Kept as
  the independent formulation.

The strategy both share (``staged.StagedSolver``): column generation against a bound LB(y) valid
over the full model at every round, stopped as soon as the master's value meets ⌈LB⌉; an
integral LP optimum is the stage's optimum; otherwise a MILP over the facilities the LP left
fractional (everything else fixed), widened by every column that fits under the bound, and
then reduced-cost fixing, which is exact. A proposal is called optimal only when every level of
every component was proven so. With ``workers > 1`` the smaller components are solved in a
second process while this one solves the largest (same results as sequentially).

Between stages (``fixing``, default in ``solve_optimal``, pattern formulation) the next stage is
not given dense rows "level ≤ its optimum" but reduced-cost fixing with the stage's final duals
(``PatternSolver.next_stage``): only the patterns, pairs and "no partner" choices an optimum can
use stay, the capacity rows it must fill become equalities, and the dropped columns leave the
master. The later stages' LPs are smaller and have no dense rows; each later stage's solution is
checked to keep the earlier levels, and a component that would not is solved again with rows.

National instance (43,000 × 23,000, 6.6 M pairs; ``benchmarks/national.py``, one run): the
bundle formulation proved the optimum in 208 s, the pattern formulation in 28 s (issue 17), with
fixing and the pricing scan of ``pattern.PairGroups`` in about 9 s, the same optimum.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context

import numpy as np

from .._errors import SolverTimeLimit
from ..candidates import Candidates, Problem
from ..memory import tune_allocator
from ..vocab import Level
from .bundle import BITS, BundleModel, ComponentGraph, Stage
from .bundle_cg import BundleSolver
from .greedy import solve_greedy
from .pattern import PatternModel, PatternSolver
from .staged import ComponentOutcome, StageFixingFailed, StageResult

_log = logging.getLogger(__name__)

__all__ = ["StageResult", "OptimalReport", "solve_levels", "solve_optimal", "stages_of"]


Progress = Callable[[int, int], None]
StageSpec = tuple[Level, ...]
DEFAULT_STAGES: tuple[StageSpec, ...] = (
    (Level.MANDATORY_FULL, Level.EFFORT_FULL),
    (Level.PAIRS_COVERED, Level.PARTNERSHIPS),
    (Level.DISTANCE,),
)


@dataclass
class OptimalReport:
    """How the optimum was found, and how far from proven it may be if the time ran out."""

    proven: bool = True
    components: int = 0
    lp_integral_levels: int = 0
    milp_levels: int = 0
    columns: int = 0
    pricing_rounds: int = 0
    stopped_level: str | None = None
    bounds: dict[str, float] = field(default_factory=dict)  # stopped level: bound, achieved
    levels: list[dict[str, object]] = field(default_factory=list)  # per level: value/bound/gap
    seconds: float = 0.0
    slowest: list[dict[str, object]] = field(default_factory=list)  # slowest stage solves

    def message_ja(self) -> str:
        if self.proven:
            return "最適性を証明済み"
        b = self.bounds
        gap = f"第{b.get('level')}段階「{self.stopped_level}」: 達成 {b.get('achieved'):g}" + (
            f"、証明済みの{'上限' if b['level'] <= 3 else '下限'} {b['bound']:g}"
            if "bound" in b
            else "、限界値は未計算"
        )
        return f"制限時間で停止しました。最適とは証明されていません ({gap})"


def stages_of(specs: Sequence[StageSpec], model: ComponentGraph, max_partners: int) -> list[Stage]:
    """Weights that make each merged stage lexicographic for integer solutions."""
    n_effort = int(np.count_nonzero(model.completable & ~model.mandatory))
    span = {  # the most the level after it can change, plus one
        Level.MANDATORY_FULL: float(n_effort + 1),
        Level.PAIRS_COVERED: float(max_partners * len(model.facs) + 1),
    }
    out = []
    for spec in specs:
        weights = [1.0] * len(spec)
        for k in range(len(spec) - 2, -1, -1):
            if spec[k] not in span or spec[k + 1] != Level(spec[k] + 1):
                raise ValueError(f"levels {spec} cannot be merged into one stage")
            weights[k] = span[spec[k]] * weights[k + 1]
        out.append(Stage(tuple(spec), tuple(weights)))
    return out


def _trivial_bounds(model: ComponentGraph) -> list[float | None]:
    """Bounds that need no solve (minimisation form): every completable facility made full."""
    complete, mand = model.completable, model.mandatory
    pairs_bound = sum(int(np.count_nonzero(model.union & b)) for b in BITS)
    return [
        -float(np.count_nonzero(complete & mand)),
        -float(np.count_nonzero(complete & ~mand)),
        -float(pairs_bound),
        0.0,
        0.0,
    ]


def _level_bounds_of(stage: Stage, bound: float) -> dict[Level, float]:
    """Bound of each level a weighted stage bound implies, when it implies one (integral stages:
    the first level's weight exceeds everything the later levels can contribute)."""
    if not np.isfinite(bound):
        return {}
    if len(stage.levels) == 1:
        return {stage.first: bound}
    w = stage.weights[0]
    if stage.first is Level.MANDATORY_FULL:  # −w·L1 − L2 ≥ bound, 0 ≤ L2 ⇒ L1 ≤ ⌊−bound / w⌋
        return {stage.first: -float(np.floor(-bound / w + 1e-9))}
    if stage.first is Level.PAIRS_COVERED:  # −w·L3 + L4 ≥ bound, L4 ≤ w − 1 ⇒ L3 ≤ ⌊(w−1−bound)/w⌋
        return {stage.first: -float(np.floor((w - 1 - bound) / w + 1e-9))}
    return {}


@dataclass(frozen=True)
class _ComponentTask:
    """Everything a (possibly separate) process needs to solve one component."""

    component: int
    problem: Problem
    cand: Candidates
    pairs: np.ndarray  # positions into ``cand``
    max_partners: int
    deadline: float | None
    fallback: np.ndarray  # positions into ``cand`` kept if nothing is proven
    start_pairs: np.ndarray  # positions into ``cand`` of start bundles
    start_masks: np.ndarray
    start_source: np.ndarray  # 0: the greedy proposal, 1: the previous one
    specs: tuple[StageSpec, ...]
    formulation: str = "pattern"
    fixing: bool = False  # reduced-cost fixing between stages (pattern formulation)
    duals: bool = True  # capacity duals in the stage results (only ``on_level`` reads them)


def _solve_component(task: _ComponentTask) -> ComponentOutcome:
    """Solve the stages of one component, or stop at the deadline with what is proven."""
    model_class = PatternModel if task.formulation == "pattern" else BundleModel
    model = model_class(task.problem, task.cand, task.pairs, task.max_partners)
    trivial = _trivial_bounds(model)
    outcome = ComponentOutcome(task.fallback, [trivial[0]] + [None] * 4)
    if len(model.pairs) == 0:  # only capacity-0 institutions in range: nothing can be chosen
        outcome.bounds = [0.0] * 5
        outcome.chosen = np.zeros(0, np.int64)
        zero_insts = np.unique(task.cand.inst[model.zero_pairs])
        for stage in stages_of(task.specs, model, task.max_partners):
            outcome.results.append(
                StageResult(
                    task.component,
                    stage,
                    0.0,
                    {level: 0.0 for level in stage.levels},
                    True,
                    outcome.chosen,
                    zero_insts,
                    np.full(len(zero_insts), -np.inf),  # capacity there may change anything
                )
            )
        return outcome
    local = np.searchsorted(model.pairs, task.start_pairs)
    ok = (local < len(model.pairs)) & (
        model.pairs[np.minimum(local, len(model.pairs) - 1)] == task.start_pairs
    )
    stages = stages_of(task.specs, model, task.max_partners)

    def solver(fixing: bool) -> BundleSolver | PatternSolver:
        out: BundleSolver | PatternSolver
        if isinstance(model, PatternModel):
            out = PatternSolver(
                model, task.cand, task.deadline, local[ok], task.start_source[ok], fixing
            )
        else:
            out = BundleSolver(model, task.cand, task.deadline, local[ok], task.start_masks[ok])
        out.want_duals = task.duals
        return out

    try:
        try:
            solver(task.fixing).solve(task.component, stages, outcome, trivial)
        except StageFixingFailed as why:
            _log.warning("component %d: %s; solved again with level rows", task.component, why)
            outcome = ComponentOutcome(task.fallback, [trivial[0]] + [None] * 4)
            solver(False).solve(task.component, stages, outcome, trivial)
    except SolverTimeLimit:
        outcome.stopped = outcome.stopped or Stage((Level.MANDATORY_FULL,), (1.0,))
    if outcome.stopped is not None:
        for level, b in _level_bounds_of(outcome.stopped, outcome.stage_bound).items():
            old = outcome.bounds[level - 1]
            if old is None or b > old:
                outcome.bounds[level - 1] = b
    return outcome


def _solve_remote(jobs: list[_Remapped]) -> list[ComponentOutcome]:
    """``_solve_component`` of each job in a worker process, positions mapped back to the full
    graph. One list per worker: the problem they share is pickled once (national: 1.5 MB, not
    30 MB for 20 components)."""
    tune_allocator()  # a spawned process: the parent's allocator settings do not carry over
    out = []
    for job in jobs:
        outcome = _solve_component(job.task)
        outcome.chosen = job.pairs[outcome.chosen]
        outcome.results = [replace(r, chosen=job.pairs[r.chosen]) for r in outcome.results]
        out.append(outcome)
    return out


def start_bundles(cand: Candidates, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A proposal's pairs with the capabilities each adds, nearest first (bundles partition)."""
    # Candidate positions are in (facility, km, institution) order: sorting them is that order.
    p = np.unique(np.asarray(chosen, np.int64))
    f = cand.fac[p]
    covers = cand.covers[p].astype(np.int64)
    rank = np.arange(len(p)) - np.searchsorted(f, f, side="left")
    got = covers.copy()  # what the facility's pairs up to this one cover
    for r in range(1, int(rank.max(initial=0)) + 1):
        at = np.flatnonzero(rank == r)
        got[at] |= got[at - 1]
    before = np.where(rank > 0, got[np.maximum(np.arange(len(p)) - 1, 0)], 0)
    add = covers & ~before
    keep = add != 0
    return p[keep], add[keep]


def solve_levels(
    problem: Problem,
    cand: Candidates,
    max_partners: int,
    levels: Sequence[StageSpec] = DEFAULT_STAGES,
    on_level: Callable[[StageResult], None] | None = None,
    *,
    time_limit: float | None = None,
    previous: np.ndarray | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    formulation: str = "pattern",
    fixing: bool = False,
) -> tuple[np.ndarray, OptimalReport]:
    """Solve the given stages of levels component by component; the one loop every caller uses.

    ``levels`` lists the stages in order, each a tuple of consecutive levels solved as one
    weighted objective (``DEFAULT_STAGES``: L1+L2, L3+L4, L5; the what-if analysis uses (L1,),
    (L2,)). ``on_level`` receives every proven stage of every component, in component order.
    ``previous`` (positions into ``cand`` of an earlier proposal, e.g. before a few decisions)
    seeds the masters next to the greedy proposal: a warm start that changes the time, never the
    objective values. ``workers`` > 1 solves the smaller components in a second process while this
    one solves the largest (identical results; default 1). ``formulation``: ``"pattern"``
    (default, ``pattern``) or ``"bundle"`` (``bundle_cg``): the same optimum, kept both as
    independent formulations the tests compare. ``fixing`` (pattern formulation): restrict each
    later stage by reduced-cost fixing instead of level rows (module docstring); off here, since
    it changes what ``on_level``'s capacity duals of a later stage mean (the what-if analysis
    reads them), on in ``solve_optimal``.
    """
    if formulation not in ("pattern", "bundle"):
        raise ValueError(f"unknown formulation {formulation!r}")
    t0 = time.monotonic()
    deadline = None if time_limit is None else t0 + time_limit
    report = OptimalReport()
    greedy = solve_greedy(problem, cand, max_partners)
    if len(cand) == 0:
        report.seconds = time.monotonic() - t0
        return greedy, report
    count, fac_label, _ = cand.components()
    pair_label = fac_label[cand.fac]
    order = np.argsort(pair_label, kind="stable")
    offsets = np.searchsorted(pair_label[order], np.arange(count + 1))
    sp, sm = start_bundles(cand, greedy)
    ss = np.zeros(len(sp), np.int64)
    if previous is not None and len(previous):
        valid = np.asarray(previous, np.int64)
        valid = valid[(valid >= 0) & (valid < len(cand))]
        pp, pm = start_bundles(cand, valid)
        sp, sm = np.concatenate((sp, pp)), np.concatenate((sm, pm))
        ss = np.concatenate((ss, np.ones(len(pp), np.int64)))
    start_label = pair_label[sp]
    greedy_label = pair_label[greedy]
    tasks = []
    sizes = np.diff(offsets)
    # Smallest components first: under a time limit, only the largest is left unproven.
    for comp in np.lexsort((np.arange(count), sizes)):
        if sizes[comp] == 0:
            continue
        on = start_label == comp
        tasks.append(
            _ComponentTask(
                int(comp),
                problem,
                cand,
                order[offsets[comp] : offsets[comp + 1]],
                max_partners,
                deadline,
                greedy[greedy_label == comp],
                sp[on],
                sm[on],
                ss[on],
                tuple(tuple(Level(v) for v in spec) for spec in levels),
                formulation,
                fixing and formulation == "pattern",
                on_level is not None,
            )
        )
    report.components = len(tasks)
    outcomes = _run_tasks(tasks, _workers(workers, len(cand)), progress, problem, cand)
    for outcome in outcomes:
        for result in outcome.results:
            if on_level is not None:
                on_level(result)
            report.lp_integral_levels += result.how == "lp"
            report.milp_levels += result.how == "milp"
            report.slowest.append(
                {
                    "facilities": int(len(np.unique(cand.fac[result.chosen]))),
                    "level": result.stage.name,
                    "how": result.how,
                    "total_s": round(result.seconds, 3),
                    "rounds": result.rounds,
                    "columns": result.columns,
                }
            )
        report.columns += outcome.columns
        report.pricing_rounds += outcome.rounds
    report.slowest = sorted(report.slowest, key=lambda r: -float(r["total_s"]))[:8]  # type: ignore[arg-type]
    chosen = np.unique(np.concatenate([o.chosen for o in outcomes])).astype(np.int64)
    n_levels = max(level for spec in levels for level in spec)
    report.levels = _level_table(problem, cand, chosen, outcomes, n_levels)
    if any(o.stopped is not None for o in outcomes):
        report.proven = False
        report.stopped_level, report.bounds = _gap(report.levels)
        if report.stopped_level is None:  # every bound met although the clock ran out
            report.proven = True
    report.seconds = time.monotonic() - t0
    return chosen, report


def _workers(workers: int | None, n_pairs: int) -> int:
    # Sequential unless asked: on the national instance one component holds 97 % of the demand
    # and the 20 others take 0.2 s of CPU (issue 26), less than spawning a process costs (two
    # processes / one: 0.77–1.31 in three benchmark runs), and a spawned pool needs the caller's
    # ``if __name__ == "__main__"`` guard (fork is unsafe in the threaded web service).
    if workers is not None:
        return max(1, min(workers, os.cpu_count() or 1))
    return 1


def _run_tasks(
    tasks: list[_ComponentTask],
    workers: int,
    progress: Progress | None,
    problem: Problem,
    cand: Candidates,
) -> list[ComponentOutcome]:
    """Outcomes in task order. With workers > 1 this process solves the largest component
    while a pool solves the others (measured: pickling the largest costs more than it saves)."""
    total = int(np.count_nonzero(problem.missing))
    done = 0
    outcomes: list[ComponentOutcome | None] = [None] * len(tasks)

    def finished(k: int, outcome: ComponentOutcome) -> None:
        nonlocal done
        outcomes[k] = outcome
        if progress:
            done += len(np.unique(cand.fac[tasks[k].pairs]))
            progress(done, total)

    if workers <= 1 or len(tasks) < 2:
        for k, task in enumerate(tasks):
            finished(k, _solve_component(task))
        return [o for o in outcomes if o is not None]
    big = len(tasks) - 1  # sizes ascending
    share = [list(range(w, big, workers - 1)) for w in range(min(workers - 1, big))]
    with ProcessPoolExecutor(len(share), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_solve_remote, [_slim(tasks[k]) for k in ks]) for ks in share]
        finished(big, _solve_component(tasks[big]))
        for ks, fut in zip(share, futures, strict=True):
            for k, outcome in zip(ks, fut.result(), strict=True):
                finished(k, outcome)
    return [o for o in outcomes if o is not None]


def _slim(task: _ComponentTask) -> _Remapped:
    """The task with only its component's pairs (what a worker process needs to receive)."""
    c = task.cand
    p = task.pairs
    sub = Candidates(c.fac[p], c.inst[p], c.km[p], c.covers[p], c.n_fac, c.n_inst)
    back = np.arange(len(p))
    remap = {int(g): k for k, g in enumerate(p)}
    fallback = np.array([remap[int(g)] for g in task.fallback], np.int64)
    start = np.array([remap[int(g)] for g in task.start_pairs], np.int64)
    slim = _ComponentTask(
        task.component,
        task.problem,
        sub,
        back,
        task.max_partners,
        task.deadline,
        fallback,
        start,
        task.start_masks,
        task.start_source,
        task.specs,
        task.formulation,
        task.fixing,
        task.duals,
    )
    return _Remapped(slim, p)


@dataclass(frozen=True)
class _Remapped:
    """A slim task and the global positions of its pairs (results are mapped back)."""

    task: _ComponentTask
    pairs: np.ndarray


def _level_table(
    problem: Problem,
    cand: Candidates,
    chosen: np.ndarray,
    outcomes: list[ComponentOutcome],
    n_levels: int,
) -> list[dict[str, object]]:
    """Per level (users' form): the proposal's value, the proven bound and the gap."""
    from ..objective import evaluate

    got = evaluate(problem, cand, chosen)
    achieved = [
        got.mandatory_full,
        got.effort_full,
        got.pairs_covered,
        -got.partnerships,
        -got.distance_km,
    ]
    rows = []
    for k in range(n_levels):
        level = Level(k + 1)
        parts = [o.bounds[k] for o in outcomes]
        row: dict[str, object] = {"level": level.key, "value": _shown(k, achieved[k])}
        if all(b is not None for b in parts):
            bound = -sum(parts)  # type: ignore[arg-type]
            row["bound"] = _shown(k, bound)
            gap = bound - achieved[k]
            tol = 1e-6 * max(1.0, abs(bound)) if level is Level.DISTANCE else 0.5
            row["gap"] = max(0.0, gap) if gap > tol else 0.0
            row["gap_pct"] = 100.0 * float(row["gap"]) / max(1.0, abs(bound))  # type: ignore[arg-type]
        rows.append(row)
    return rows


def _gap(levels: list[dict[str, object]]) -> tuple[str | None, dict[str, float]]:
    """The first level whose proven bound the proposal does not reach (or that has none)."""
    for k, row in enumerate(levels):
        if "bound" not in row:
            return str(row["level"]), {"level": k + 1, "achieved": float(row["value"])}  # type: ignore[arg-type]
        if float(row["gap"]) > 0:  # type: ignore[arg-type]
            return str(row["level"]), {
                "level": k + 1,
                "achieved": float(row["value"]),  # type: ignore[arg-type]
                "bound": float(row["bound"]),  # type: ignore[arg-type]
            }
    return None, {}


def _shown(level: int, value: float) -> float:
    """A level's value as users read it (partnerships and km are minimised)."""
    return -value if level >= 3 else value


def solve_optimal(
    problem: Problem,
    cand: Candidates,
    max_partners: int,
    time_limit: float | None = None,
    progress: Progress | None = None,
    previous: np.ndarray | None = None,
    workers: int | None = None,
    formulation: str = "pattern",
    fixing: bool = True,
) -> tuple[np.ndarray, OptimalReport]:
    """Positions into ``cand`` of the lexicographically optimal proposal, and how it was proven.

    With a time limit, components not finished keep the last proven stage's proposal (or the
    greedy one); the report then names the first level whose proven bound the proposal does not
    reach, with both values — never calling the result optimal — and ``report.levels`` lists
    value, bound and gap per level. ``previous``, ``workers``, ``formulation``, ``fixing``: see
    ``solve_levels``.
    """
    return solve_levels(
        problem,
        cand,
        max_partners,
        DEFAULT_STAGES,
        time_limit=time_limit,
        previous=previous,
        workers=workers,
        progress=progress,
        formulation=formulation,
        fixing=fixing,
    )
