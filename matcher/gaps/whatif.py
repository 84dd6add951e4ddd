"""What-if: the exact marginal value of more capacity and of a new ①②③ institution, ranked.

The value of a change is how many more facilities the optimal proposal fully covers
(``mandatory_full`` then ``effort_full`` of the lexicographic optimum). It is computed exactly by
re-solving, but only where the answer can differ:

- components of the candidate graph are independent, so only the component(s) the change
  touches are re-solved and compared with their share of the base optimum;
- +1 capacity at an institution is provably worth nothing when its capacity is undeclared
  (unlimited), when it is at least the number of facilities that could use it (the constraint
  cannot bind), or when every demand facility of its component is already fully covered;
- a new institution is worth nothing where no demand facility is in range or every one of the
  touched components is already fully covered.

- +1 capacity is also provably worth nothing when LP sensitivity says so. At the optimum of
  the full (column-generated) LP of level 1, with value ``v1`` and capacity-row dual ``y1_i``,
  the LP value with one more unit is at most ``v1 + |y1_i|``, so if ``⌊v1 + |y1_i|⌋`` equals
  the integer optimum ``M`` no more 義務 facility can be covered; likewise for level 2 (its LP
  carries the row "level 1 ≥ M"). Only the institutions that pass neither test are re-solved.

Capacity left unused by the optimum is not by itself skipped: the bundle model is not totally
unimodular, so an unused unit does not prove that one more unit is worthless (the LP test
covers those cases that are provable). One more unit of capacity gains at most one fully
covered facility: removing the extra partnership from the better proposal uncovers at most
one facility. Re-solves stop after the two levels that count (fully covered 義務, 努力義務).

``measure="objective"`` re-solves all five levels instead, so that candidates with the same
coverage gain are ranked by what else the optimal proposal gains — more (facility,
requirement) pairs covered, fewer new partnerships, fewer km — as the matching itself ranks
proposals. Where every facility with a candidate is already fully covered (the bundled sample)
this is the only difference a change can make. Only the provable no-ops are skipped then
(``unlimited``, ``no_candidates``, ``not_binding``, ``no_demand_in_range``): the LP test and
the "component fully covered" shortcut say nothing about levels 3–5.

The ranking is lexicographic in the gains, never in their sum: with more capacity the optimum
may cover 4 more 義務 facilities and 4 fewer 努力義務 ones, a net of 0 that is still the better
proposal (``gain_full``, the net, is kept for callers that want it; it does not rank).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field, replace
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ..candidates import Candidates, Problem, build_candidates
from ..geo import km_to_chord, unit_vectors
from ..model import ALL_MASK
from ..objective import coverage_after, evaluate
from ..parallel import Executor, open_executor
from ..params import MatchParams
from ..reference import Municipality, municipalities
from ..solve.optimal import StageResult, solve_levels, solve_optimal
from ..vocab import Level
from .region import Region, subproblem

WhatIfMeasure = Literal["coverage", "objective"]
MEASURES: tuple[WhatIfMeasure, ...] = ("coverage", "objective")
# Km differences below this are the solver's tolerance on the distance level, not a change.
KM_RESOLUTION = 0.01


def full_counts(
    problem: Problem, cand: Candidates, chosen: np.ndarray
) -> tuple[np.ndarray, int, int]:
    """(fully covered mask, 義務 count, 努力義務 count) of a proposal."""
    got = coverage_after(problem, cand, chosen)
    full = (problem.missing > 0) & (got == problem.missing)
    return full, int((full & problem.mandatory).sum()), int((full & ~problem.mandatory).sum())


def component_objectives(
    problem: Problem, cand: Candidates, chosen: np.ndarray, fac_label: np.ndarray, count: int
) -> np.ndarray:
    """The five objective values of a proposal per component (rows), in ``Level`` order."""
    got = coverage_after(problem, cand, chosen)
    full = (problem.missing > 0) & (got == problem.missing)
    pairs = sum(((got & bit) > 0).astype(np.int64) for bit in (1, 2, 4))
    at = fac_label[cand.fac[chosen]]
    return np.column_stack(
        [
            np.bincount(fac_label[full & problem.mandatory], minlength=count),
            np.bincount(fac_label[full & ~problem.mandatory], minlength=count),
            np.bincount(fac_label, weights=pairs, minlength=count),
            np.bincount(at, minlength=count),
            np.bincount(at, weights=cand.km[chosen], minlength=count),
        ]
    ).astype(float)


def _objective(problem: Problem, cand: Candidates, max_partners: int) -> np.ndarray:
    """The five objective values of the lexicographic optimum (``Level`` order)."""
    chosen, _ = solve_optimal(problem, cand, max_partners, workers=1)
    return np.array(astuple(evaluate(problem, cand, chosen)), float)


@dataclass(frozen=True)
class FullOptimum:
    """Optimal fully covered counts per component and whether more capacity could change them."""

    fac_label: np.ndarray  # component of each facility (``Candidates.components``)
    inst_label: np.ndarray
    comp_mandatory: np.ndarray  # fully covered 義務 facilities per component at the optimum
    comp_effort: np.ndarray
    comp_open: np.ndarray  # demand facilities per component the optimum leaves not fully covered
    may_gain: np.ndarray  # bool (2 × institutions): the LP test of level 1 / 2 allows a gain
    chosen: np.ndarray  # candidate positions of an integer optimum of levels 1–2

    @property
    def mandatory_full(self) -> int:
        return int(self.comp_mandatory.sum())

    @property
    def effort_full(self) -> int:
        return int(self.comp_effort.sum())


def full_optimum(
    problem: Problem, cand: Candidates, max_partners: int, extra: int = 1
) -> FullOptimum:
    """Levels 1–2 of the lexicographic optimum per component, with the LP test for ``extra`` units.

    The solver's own level-by-level loop (``solve_levels``) with the stages (L1,), (L2,), stopped
    after level 2 (the later levels do not change how many facilities are fully covered); each
    stage reports its bound and the capacity duals valid at that bound.
    """
    count, fac_label, inst_label = cand.components()
    comp_val = np.zeros((2, count), np.int64)
    may_gain = np.zeros((2, problem.n_inst), bool)
    demand = np.bincount(fac_label[problem.missing > 0], minlength=count)
    stages = ((Level.MANDATORY_FULL,), (Level.EFFORT_FULL,))

    def on_level(result: StageResult) -> None:
        level = result.stage.first - 1
        best = round(-result.values[result.stage.first])
        comp_val[level, result.component] = best
        # Minimisation form, convex value: `extra` units lower the bound by ≤ extra·|dual|.
        gain = np.floor(-result.bound - extra * result.capacity_dual + 1e-6) > best
        may_gain[level, result.institutions] |= gain

    chosen, _ = solve_levels(problem, cand, max_partners, stages, on_level, workers=1)
    return FullOptimum(
        fac_label,
        inst_label,
        comp_val[0],
        comp_val[1],
        demand - comp_val[0] - comp_val[1],
        may_gain,
        np.sort(chosen),
    )


def completes(
    problem: Problem,
    cand: Candidates,
    chosen: np.ndarray,
    max_partners: int,
    inst: int,
    got: np.ndarray | None = None,
    partners: dict[int, list[tuple[int, int]]] | None = None,
) -> np.ndarray:
    """Facilities (positions) that one more partnership with ``inst`` would fully cover.

    A facility qualifies when ``inst`` is not yet its partner and ``inst`` together with at most
    ``max_partners − 1`` of its partners in ``chosen`` covers all it misses; every other facility
    keeps its partners, so the result is a feasible proposal with one more unit at ``inst``.
    ``got`` / ``partners`` (of ``partners_of``) may be passed to avoid recomputing them.
    """
    got = coverage_after(problem, cand, chosen) if got is None else got
    partners = partners_of(cand, chosen) if partners is None else partners
    out = []
    for p in np.flatnonzero(cand.inst == inst):
        f = int(cand.fac[p])
        need = int(problem.missing[f])
        mine = partners.get(f, [])
        if got[f] == need or any(i == inst for i, _ in mine):
            continue
        covers = [m for _, m in mine]
        keep = min(len(covers), max_partners - 1)
        if any(
            (int(cand.covers[p]) | _union(sub)) & need == need for sub in combinations(covers, keep)
        ):
            out.append(f)
    return np.array(out, np.int64)


def partners_of(cand: Candidates, chosen: np.ndarray) -> dict[int, list[tuple[int, int]]]:
    """(institution, covers) of each facility's partners in a proposal."""
    out: dict[int, list[tuple[int, int]]] = {}
    for p in chosen:
        out.setdefault(int(cand.fac[p]), []).append((int(cand.inst[p]), int(cand.covers[p])))
    return out


def _union(masks: Iterable[int]) -> int:
    u = 0
    for m in masks:
        u |= m
    return u


@dataclass
class WhatIfStats:
    """How much work a ranking took."""

    candidates: int = 0
    resolved: int = 0
    witnessed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _resolve(problem: Problem, cand: Candidates, max_partners: int, objective: bool) -> np.ndarray:
    """Levels 1–2 (fully covered 義務, 努力義務) or, with ``objective``, all five levels."""
    if objective:
        return _objective(problem, cand, max_partners)
    opt = full_optimum(problem, cand, max_partners)
    return np.array([opt.mandatory_full, opt.effort_full], float)


def _gains(row: dict[str, object], new: np.ndarray, old: np.ndarray) -> None:
    """Write the gains of ``new`` over ``old`` (levels in ``Level`` order) into a table row."""
    m, e = int(round(new[0] - old[0])), int(round(new[1] - old[1]))
    row.update(gain_mandatory_full=m, gain_effort_full=e, gain_full=m + e)
    if len(new) > 2:
        km = round(float(new[4] - old[4]), 2)
        row.update(
            gain_pairs_covered=int(round(new[2] - old[2])),
            change_partnerships=int(round(new[3] - old[3])),
            change_distance_km=km if abs(km) >= KM_RESOLUTION else 0.0,
        )


def _check_measure(measure: str) -> None:
    if measure not in MEASURES:
        raise ValueError(f"不明な what-if の尺度「{measure}」(使えるのは {', '.join(MEASURES)})")


def changed(table: pd.DataFrame) -> pd.Series:
    """Rows of a what-if table whose change improves the optimal proposal at all (a gain in
    some level); the others gain nothing and are never charted."""
    columns = [c for c in (*GAIN_COLUMNS, *OBJECTIVE_COLUMNS) if c in table.columns]
    return (table[columns].fillna(0) != 0).any(axis=1)


def capacity_whatif(
    region: Region,
    extra: int = 1,
    chosen: np.ndarray | None = None,
    stats: WhatIfStats | None = None,
    workers: int = 1,
    executor: Executor | None = None,
    measure: WhatIfMeasure = "coverage",
) -> pd.DataFrame:
    """Gain in fully covered facilities from ``extra`` more capacity at each institution, ranked.

    One row per institution offering something; ``reason`` says why a row was not re-solved
    (``unlimited``, ``not_binding``, ``no_candidates``, ``component_full``, ``lp_bound``), or
    how its gain was proven: ``witness`` (no 義務 facility can be gained, and one more
    partnership at the institution completes a 努力義務 facility of the base optimum: the gain is
    exactly one, the most one unit can give) or ``resolved``. With ``chosen`` (the run's
    proposal), ``used`` shows the capacity it takes. ``workers`` > 1 runs the independent
    component re-solves in a process pool, ``executor`` (``matcher.parallel``, e.g. Dask) where
    it says; the table is the same (a process pool needs a main guard in the caller).
    ``measure="objective"``: all five levels (module docstring), adding ``gain_pairs_covered``,
    ``change_partnerships`` and ``change_distance_km``, which rank equal coverage gains.
    """
    _check_measure(measure)
    t0 = time.perf_counter()
    stats = stats if stats is not None else WhatIfStats()
    p, c = region.problem, region.cand
    params = region.params
    objective = measure == "objective"
    base = full_optimum(p, c, params.max_new_partners, extra)
    base_levels = _base_levels(region, base, objective)
    demand = p.missing > 0
    got = coverage_after(p, c, base.chosen)
    partners = partners_of(c, base.chosen)
    full = demand & (got == p.missing)
    open_m = (
        np.bincount(base.fac_label[demand & ~full & p.mandatory], minlength=len(base.comp_open)) > 0
    )
    reach = np.bincount(c.inst, minlength=p.n_inst)
    used = np.bincount(c.inst[chosen], minlength=p.n_inst) if chosen is not None else None
    rows: list[dict[str, object]] = []
    jobs: list[tuple[int, int, int]] = []  # (row, institution, component) to re-solve
    for i in np.flatnonzero(p.offers):
        stats.candidates += 1
        comp = base.inst_label[i]
        gain_m = gain_e = 0
        may_m = bool(base.may_gain[0, i] and open_m[comp])  # could a 義務 facility be gained?
        if p.capacity[i] < 0:
            reason = "unlimited"
        elif reach[i] == 0:
            reason = "no_candidates"
        elif p.capacity[i] >= reach[i]:
            reason = "not_binding"
        elif objective:
            reason = "resolved"  # levels 3–5 may change anywhere the constraint can bind
            jobs.append((len(rows), int(i), int(comp)))
            stats.resolved += 1
        elif base.comp_open[comp] == 0:
            reason = "component_full"
        elif not may_m and not base.may_gain[1, i]:
            reason = "lp_bound"
        elif (
            extra == 1
            and not may_m
            and len(
                done := completes(p, c, base.chosen, params.max_new_partners, int(i), got, partners)
            )
            and (~p.mandatory[done]).any()
        ):
            # One unit gains at most one facility, no 義務 one can be gained: this is the optimum.
            reason, gain_e = "witness", 1
            stats.witnessed += 1
        else:
            reason = "resolved"
            jobs.append((len(rows), int(i), int(comp)))
            stats.resolved += 1
        if reason not in ("resolved", "witness"):
            stats.skipped[reason] = stats.skipped.get(reason, 0) + 1
        inst = region.instance.institutions[i]
        row: dict[str, object] = {
            "institution_id": inst.institution_id,
            "name": inst.name,
            "kind": inst.kind,
            "municipality_code": region.inst_municipality[i],
            "capacity": inst.capacity,
            "facilities_in_range": int(reach[i]),
            "used": None if used is None else int(used[i]),
            "reason": reason,
        }
        proven = np.zeros(base_levels.shape[1])
        proven[:2] = gain_m, gain_e  # 0, or the witness's 1 (levels 3–5 are never proven here)
        _gains(row, proven, np.zeros_like(proven))
        rows.append(row)
    context = _CapacityContext(
        p, c, base.fac_label, base.inst_label, params.max_new_partners, extra, objective
    )
    resolved = (executor or open_executor(workers)).map(
        _capacity_resolve, context, [(i, comp) for _, i, comp in jobs]
    )
    for (row_at, _, comp), levels in zip(jobs, resolved, strict=True):
        _gains(rows[row_at], levels, base_levels[comp])
    stats.seconds += time.perf_counter() - t0
    columns = _with_levels(CAPACITY_COLUMNS, objective)
    table = pd.DataFrame(rows, columns=columns).astype({"capacity": "Int64", "used": "Int64"})
    return rank_changes(table, "institution_id")


def _base_levels(region: Region, base: FullOptimum, objective: bool) -> np.ndarray:
    """Per component, the base optimum's levels 1–2 or (``objective``) all five levels."""
    if not objective:
        return np.column_stack([base.comp_mandatory, base.comp_effort]).astype(float)
    p, c = region.problem, region.cand
    chosen, _ = solve_optimal(p, c, region.params.max_new_partners, workers=1)
    return component_objectives(p, c, chosen, base.fac_label, len(base.comp_open))


@dataclass(frozen=True)
class _CapacityContext:
    """What every capacity re-solve shares (sent once per worker)."""

    problem: Problem
    cand: Candidates
    fac_label: np.ndarray
    inst_label: np.ndarray
    max_partners: int
    extra: int
    objective: bool = False  # all five levels, not only 1–2


def _capacity_resolve(ctx: _CapacityContext, job: tuple[int, int]) -> np.ndarray:
    """Levels 1–2 (or all five) of one component with ``extra`` more capacity at one
    institution."""
    i, comp = job
    capacity = ctx.problem.capacity.copy()
    capacity[i] += ctx.extra
    sub, sc = subproblem(
        ctx.problem,
        ctx.cand,
        np.flatnonzero(ctx.fac_label == comp),
        np.flatnonzero(ctx.inst_label == comp),
        capacity,
    )
    return _resolve(sub, sc, ctx.max_partners, ctx.objective)


CAPACITY_COLUMNS = [
    "institution_id",
    "name",
    "kind",
    "municipality_code",
    "capacity",
    "facilities_in_range",
    "used",
    "gain_mandatory_full",
    "gain_effort_full",
    "gain_full",
    "reason",
]
GAIN_COLUMNS = ["gain_mandatory_full", "gain_effort_full"]
# Levels 3–5 (``measure="objective"``): gains in pairs covered, changes in partnerships and km.
OBJECTIVE_COLUMNS = ["gain_pairs_covered", "change_partnerships", "change_distance_km"]
SITE_COLUMNS = [
    "municipality_code",
    "name",
    "lat",
    "lon",
    "demand_in_range",
    "gain_mandatory_full",
    "gain_effort_full",
    "gain_full",
    "reason",
]


def _with_levels(columns: list[str], objective: bool) -> list[str]:
    """The table's columns, with those of levels 3–5 before ``reason`` when computed."""
    if not objective:
        return columns
    at = columns.index("reason")
    return [*columns[:at], *OBJECTIVE_COLUMNS, *columns[at:]]


def rank_changes(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """A what-if table sorted as the matching ranks proposals, with a ``rank`` column first:
    more fully covered 義務 facilities, then 努力義務 ones, then (when computed) more pairs
    covered, fewer new partnerships, fewer km; ``key`` (the id) last, so that equal candidates
    keep a fixed order."""
    order = [("gain_mandatory_full", False), ("gain_effort_full", False)]
    if "change_distance_km" in df.columns:
        order += [
            ("gain_pairs_covered", False),
            ("change_partnerships", True),
            ("change_distance_km", True),
        ]
    order.append((key, True))
    df = df.sort_values(
        [c for c, _ in order], ascending=[a for _, a in order], kind="stable"
    ).reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df


def with_institution(
    problem: Problem, lat: float, lon: float, offers: int = ALL_MASK, capacity: int | None = None
) -> Problem:
    """The problem with one more institution appended (last position)."""
    return replace(
        problem,
        inst_lat=np.append(problem.inst_lat, lat),
        inst_lon=np.append(problem.inst_lon, lon),
        offers=np.append(problem.offers, np.uint8(offers)),
        capacity=np.append(problem.capacity, np.int64(-1 if capacity is None else capacity)),
    )


def site_whatif(
    region: Region,
    sites: list[Municipality] | None = None,
    capacity: int | None = 5,
    offers: int = ALL_MASK,
    stats: WhatIfStats | None = None,
    workers: int = 1,
    executor: Executor | None = None,
    measure: WhatIfMeasure = "coverage",
) -> pd.DataFrame:
    """Gain from a new institution offering ``offers`` with ``capacity`` at each site, ranked.

    ``sites`` default to the reference municipality offices of the prefectures the region's
    facilities are in. Distances of the new institution are great-circle × road factor.
    The re-solves (one per site with demand in range) run as in ``capacity_whatif``:
    ``workers`` > 1 in a process pool, ``executor`` where it says; the table is the same.
    ``measure``: as in ``capacity_whatif``.
    """
    _check_measure(measure)
    t0 = time.perf_counter()
    stats = stats if stats is not None else WhatIfStats()
    p, c, params = region.problem, region.cand, region.params
    objective = measure == "objective"
    base = full_optimum(p, c, params.max_new_partners)
    base_levels = _base_levels(region, base, objective)
    if sites is None:
        prefs = {code[:2] for code in region.fac_municipality}
        sites = [m for m in municipalities() if m.prefecture_code in prefs]
    demand = np.flatnonzero(p.missing)
    tree = cKDTree(unit_vectors(p.fac_lat[demand], p.fac_lon[demand])) if len(demand) else None
    chord = km_to_chord(params.max_range_km / params.road_factor) * (1 + 1e-9)
    rows: list[dict[str, object]] = []
    jobs: list[tuple[float, float, tuple[int, ...]]] = []  # (lat, lon, components) to re-solve
    job_rows: list[int] = []
    for site in sites:
        stats.candidates += 1
        near = (
            demand[tree.query_ball_point(unit_vectors([site.lat], [site.lon])[0], chord)]
            if tree is not None
            else np.zeros(0, np.int64)
        )
        comps = np.unique(base.fac_label[near])
        if len(near) == 0:
            reason = "no_demand_in_range"
        elif base.comp_open[comps].sum() == 0 and not objective:
            reason = "component_full"
        else:
            jobs.append((site.lat, site.lon, tuple(map(int, comps))))
            job_rows.append(len(rows))
            reason = "resolved"
            stats.resolved += 1
        if reason != "resolved":
            stats.skipped[reason] = stats.skipped.get(reason, 0) + 1
        row: dict[str, object] = {
            "municipality_code": site.code5,
            "name": f"{site.prefecture}{site.name}",
            "lat": site.lat,
            "lon": site.lon,
            "demand_in_range": int(len(near)),
            "reason": reason,
        }
        _gains(row, np.zeros(base_levels.shape[1]), np.zeros(base_levels.shape[1]))
        rows.append(row)
    context = _SiteContext(
        p,
        c,
        params,
        base.fac_label,
        base.inst_label,
        offers,
        capacity,
        region.travel is not None,
        objective,
    )
    resolved = (executor or open_executor(workers)).map(_site_resolve, context, jobs)
    for row_at, (_, _, near_comps), (levels, without) in zip(job_rows, jobs, resolved, strict=True):
        # Without the site: the base optimum's share of the components, unless re-solved.
        old = without if without is not None else base_levels[list(near_comps)].sum(axis=0)
        _gains(rows[row_at], levels, old)
    stats.seconds += time.perf_counter() - t0
    columns = _with_levels(SITE_COLUMNS, objective)
    return rank_changes(pd.DataFrame(rows, columns=columns), "municipality_code")


@dataclass(frozen=True)
class _SiteContext:
    """What every new-site re-solve shares (sent once per worker)."""

    problem: Problem
    cand: Candidates
    params: MatchParams
    fac_label: np.ndarray
    inst_label: np.ndarray
    offers: int
    capacity: int | None
    resolve_base: bool  # the base used road distances: re-solve it with great-circle ones
    objective: bool = False  # all five levels, not only 1–2


def _site_resolve(
    ctx: _SiteContext, job: tuple[float, float, tuple[int, ...]]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Levels 1–2 (or all five) of the components near a site with a new institution there,
    and without it when ``resolve_base`` (else None: the base optimum's values hold)."""
    lat, lon, comps = job
    facs = np.flatnonzero(np.isin(ctx.fac_label, comps))
    insts = np.flatnonzero(np.isin(ctx.inst_label, comps))
    sub0, _ = subproblem(ctx.problem, ctx.cand, facs, insts)
    sub = with_institution(sub0, lat, lon, ctx.offers, ctx.capacity)
    max_partners = ctx.params.max_new_partners
    levels = _resolve(sub, build_candidates(sub, ctx.params), max_partners, ctx.objective)
    if not ctx.resolve_base:
        return levels, None
    return levels, _resolve(sub0, build_candidates(sub0, ctx.params), max_partners, ctx.objective)
