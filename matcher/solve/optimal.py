"""Exact lexicographic optimum of MODEL.md: staged bundle LP, column generation, MILP if needed.

Model (per connected component of the candidate graph; ``bundle.BundleModel``). A bundle column
x[f,i,s] for a pair (f, i) and a non-empty subset s of what i covers for f means "i becomes a
partner of f and is counted for the capabilities in s"; z[f] ∈ [0,1] says f becomes fully
covered::

    cover     Σ_{i, s ∋ c} x[f,i,s]        ≤ 1          for every facility f, c ∈ missing(f)
    full      z[f] − Σ_{i, s ∋ c} x[f,i,s] ≤ 0          for every completable f, c ∈ missing(f)
    partners  Σ_{i, s} x[f,i,s]            ≤ P          for every facility f
    capacity  Σ_{f, s} x[f,i,s]            ≤ K_i        for every institution with a binding K_i

and the five levels (``vocab.Level``)::

    L1 max Σ_{f 義務} z[f]   L2 max Σ_{f 努力義務} z[f]   L3 max Σ |s| x
    L4 min Σ x               L5 min Σ km(f,i) x

solved by default in three stages, each stage's optimum becoming constraints for the next:
L1+L2 as max (n₂+1)·L1 + L2 (n₂ = completable 努力義務 facilities, so one 義務 facility outweighs
them all), L3+L4 as max (P·n+1)·L3 − L4 (P·n bounds the partnerships), then L5. Both weightings
are exact for integer solutions. Counting each capability on one bundle only (the cover rows)
loses nothing: a partnership still covers all it can, and at the optimum the subsets partition
what the partners cover.

Solving (the strategy, this module; the HiGHS bookkeeping is ``master.HighsMaster``). Each
stage's LP is solved by column generation: a restricted master (the nearest bundles of each
facility, the greedy and the previous proposal's bundles, and every earlier stage's columns) is
priced against *all* in-range bundles. Costs are separable by capability, so the cheapest subset
of each pair is found in O(pairs). With row duals y ≤ 0, every feasible x satisfies::

    cost·x ≥ LB(y) = Σ_rows b·y + Σ_z min(0, rc_z) + Σ_f LB_f,
    LB_f = min(0, min over ≤ P bundles of f with disjoint subsets of Σ rc[f,i,s])

(each facility keeps its partner and cover rows in the subproblem). LB is a bound over the full
model at every round, so pricing stops as soon as the master's value reaches ⌈LB⌉ (integral
stages) instead of waiting for the last negative reduced cost. If the master's optimum is
integral it is the stage's optimum. Otherwise a MILP over the facilities the LP left fractional
and every bundle of theirs that fits under the bound (everything else fixed) is tried first — if
it reaches the bound it is optimal — and then a MILP over the master plus every bundle that could
be part of a solution at the bound, then of one better than the incumbent (reduced-cost
fixing: LB − LB_f + rc + the best of f's other bundles ≤ target), which is exact. A proposal
is called optimal only when every level of every component was proven so. Components are
independent; with ``workers > 1`` the smaller ones are solved in a second process while this
one solves the largest (same results as sequentially).
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

from .._errors import SolverInfeasible, SolverTimeLimit
from ..candidates import Candidates, Problem
from ..vocab import Level
from .bundle import BITS, BundleModel, Stage
from .greedy import solve_greedy
from .master import HighsMaster

_log = logging.getLogger(__name__)
_RC_TOL = 1e-7
_INT_TOL = 1e-6
# Initial bundles: nearest pairs per missing capability. National master, same run: 2 → first
# LP 4.7 s and column generation 32 s; 8 → 8.0 s and 59 s (bigger master, slower re-solves).
_INITIAL_NEAREST = 2
_PER_FAC_ADD = 20  # at most this many new columns per facility per pricing round
_MAX_ADD = 100000  # columns added per pricing round

Progress = Callable[[int, int], None]
StageSpec = tuple[Level, ...]
DEFAULT_STAGES: tuple[StageSpec, ...] = (
    (Level.MANDATORY_FULL, Level.EFFORT_FULL),
    (Level.PAIRS_COVERED, Level.PARTNERSHIPS),
    (Level.DISTANCE,),
)


@dataclass(frozen=True)
class StageResult:
    """What one stage of one component achieved (minimisation form: maxima are negated).

    ``bound`` is a lower bound of the stage's weighted objective over the full model (the
    optimum when the stage is proven); ``capacity_dual`` gives for each institution of the
    component (global positions) a y_i ≤ 0 with "one more unit of capacity at i lowers the
    stage's optimum by at most |y_i|" (concavity of the LP value, valid at ``bound``).
    """

    component: int
    stage: Stage
    bound: float
    values: dict[Level, float]
    proven: bool
    chosen: np.ndarray
    institutions: np.ndarray
    capacity_dual: np.ndarray
    how: str = "lp"
    seconds: float = 0.0
    rounds: int = 0
    columns: int = 0


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


def stages_of(specs: Sequence[StageSpec], model: BundleModel, max_partners: int) -> list[Stage]:
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


class _Pricing:
    """Reduced costs of every bundle at one dual vector, from per-pair and per-(f, c) parts.

    rc[f,i,s] = a[f,i] + Σ_{c ∈ s} g[f,c]: the cheapest subset of a pair takes the capabilities
    with g < 0 (or the single cheapest one), so pricing is O(pairs).
    """

    def __init__(
        self, model: BundleModel, stage: Stage, obj_rows: dict[Level, int], y: np.ndarray
    ) -> None:
        ye = np.append(y, 0.0)  # row index -1 → dual 0
        mu = {level: 0.0 for level in Level}
        for level, weight in zip(stage.levels, stage.weights, strict=True):
            mu[level] += weight
        for level, row in obj_rows.items():
            mu[level] -= ye[row]
        self.g = -mu[Level.PAIRS_COVERED] - ye[model.r_cov] + ye[model.r_full]
        self.g[model.r_cov < 0] = np.inf
        f, i = model.pair_f, model.pair_i
        self.a = (
            mu[Level.PARTNERSHIPS] + mu[Level.DISTANCE] * model.pair_km - ye[model.r_part[f]]
        ) - ye[model.r_cap[i]]
        self.mu4, self.mu5, self.ye = mu[Level.PARTNERSHIPS], mu[Level.DISTANCE], ye
        # Cheapest subset of each mask, per facility.
        nf = len(model.facs)
        self.best_val = np.full((nf, 8), np.inf)
        self.best_mask = np.zeros((nf, 8), np.int64)
        for m in range(1, 8):
            bits = [b for b in range(3) if m >> b & 1]
            gb = self.g[:, bits]
            neg = gb < 0
            neg_sum = np.where(neg, gb, 0.0).sum(axis=1)
            neg_mask = (neg * np.array([BITS[b] for b in bits])).sum(axis=1)
            k = np.argmin(gb, axis=1)
            one_val = gb[np.arange(nf), k]
            one_mask = np.array([BITS[b] for b in bits])[k]
            has = neg.any(axis=1)
            self.best_val[:, m] = np.where(has, neg_sum, one_val)
            self.best_mask[:, m] = np.where(has, neg_mask, one_mask)
        cov = model.pair_covers
        self.rc = self.a + self.best_val[f, cov]
        self.mask = self.best_mask[f, cov]
        self.rc_z = -ye[model.r_full[model.z_fac]].sum(axis=1)
        for level, row in obj_rows.items():
            self.rc_z -= ye[row] * model.z_cost(level)
        self.model = model
        self.y = y
        self._facility_tables()

    def bundle_rc(self, pair: np.ndarray, mask: np.ndarray) -> np.ndarray:
        f = self.model.pair_f[pair]
        out = self.a[pair].copy()
        for b, bit in enumerate(BITS):
            on = (mask & bit) > 0
            out[on] += self.g[f[on], b]
        return np.asarray(out, float)

    def _facility_tables(self) -> None:
        """B[f, s]: cheapest bundle of f with exactly subset s; LB_f over disjoint collections."""
        m = self.model
        nf = len(m.facs)
        flat = np.full(nf * 8, np.inf)
        np.minimum.at(flat, m.pair_f * 8 + m.pair_covers, self.a)
        exact = flat.reshape(nf, 8)
        self.b_min = np.full((nf, 8), np.inf)
        for sub in range(1, 8):
            sup = [c for c in range(1, 8) if c & sub == sub]
            cheapest = exact[:, sup].min(axis=1)
            extra = sum(self.g[:, b] for b in range(3) if sub >> b & 1)
            self.b_min[:, sub] = cheapest + extra
        sums = np.stack([self.b_min[:, list(c)].sum(axis=1) for c in _COLLECTIONS], axis=1)
        size = np.array([len(c) for c in _COLLECTIONS])
        used = np.array([sum(c) for c in _COLLECTIONS])
        p = m.max_partners
        self.fac_lb = np.minimum(sums[:, size <= p].min(axis=1), 0.0)
        # rest[f, s]: the best the other ≤ P − 1 partners can add next to a bundle with subset s.
        self.rest = np.zeros((nf, 8))
        for sub in range(1, 8):
            ok = (size <= p - 1) & ((used & sub) == 0)
            if ok.any():
                self.rest[:, sub] = np.minimum(sums[:, ok].min(axis=1), 0.0)

    def bound(self, row_upper: np.ndarray, z_cost: np.ndarray) -> float:
        """LB(y): a lower bound of the stage objective over every feasible solution.

        Each facility keeps its partner and cover rows in the subproblem: its bundles form at
        most P disjoint subsets, so its part is the cheapest such collection (or nothing).
        """
        rc_z = z_cost + self.rc_z
        return float(row_upper @ self.y + np.minimum(rc_z, 0.0).sum() + self.fac_lb.sum())


# Sets of pairwise disjoint capability subsets (the bundles one facility can hold at once).
_COLLECTIONS: tuple[tuple[int, ...], ...] = tuple(
    [(s,) for s in range(1, 8)] + [(1, 2), (1, 4), (2, 4), (1, 6), (2, 5), (4, 3), (1, 2, 4)]
)


class ComponentSolver:
    """The staged column generation of one component (the strategy over model and master)."""

    def __init__(
        self,
        model: BundleModel,
        cand: Candidates,
        deadline: float | None,
        start_pairs: np.ndarray,
        start_masks: np.ndarray,
    ) -> None:
        self.cand = cand
        self.model = m = model
        self.master = HighsMaster(m.row_upper, m.z_entries(), deadline)
        self.row_upper = list(m.row_upper)
        self.n_z = len(m.z_fac)
        self.in_lp = np.zeros(len(m.pairs), np.uint8)  # bit (1 << mask) per pair
        self.lp_pair = np.zeros(0, np.int64)
        self.lp_mask = np.zeros(0, np.int64)
        self.obj_rows: dict[Level, int] = {}
        self.rounds = 0
        self._initial_columns(start_pairs, start_masks)

    # --- columns -------------------------------------------------------------------------------
    def _initial_columns(self, start_pairs: np.ndarray, start_masks: np.ndarray) -> None:
        """The nearest pairs per missing capability (alone and whole), and the start proposals."""
        m = self.model
        picks_p, picks_m = [start_pairs], [start_masks]
        for bit in BITS:
            sel = np.flatnonzero(m.pair_covers & bit)  # sorted by (f, km, inst)
            f = m.pair_f[sel]
            rank = np.arange(len(sel)) - np.searchsorted(f, f, side="left")
            near = sel[rank < _INITIAL_NEAREST]
            picks_p += [near, near]
            picks_m += [np.full(len(near), bit), m.pair_covers[near]]
        self.add_columns(np.concatenate(picks_p), np.concatenate(picks_m), None)

    def add_columns(self, pair: np.ndarray, mask: np.ndarray, stage: Stage | None) -> int:
        key = np.unique(pair.astype(np.int64) * 8 + mask)
        pair, mask = key // 8, key % 8
        new = (self.in_lp[pair] >> mask) & 1 == 0
        pair, mask = pair[new], mask[new]
        if len(pair) == 0:
            return 0
        cost = np.zeros(len(pair)) if stage is None else self.model.stage_cost(stage, pair, mask)
        self.master.add_columns(cost, self.model.bundle_entries(pair, mask, self.obj_rows))
        self.in_lp[pair] |= (1 << mask).astype(np.uint8)
        self.lp_pair = np.concatenate((self.lp_pair, pair))
        self.lp_mask = np.concatenate((self.lp_mask, mask))
        return len(pair)

    def costs(self, stage: Stage) -> np.ndarray:
        m = self.model
        return np.concatenate(
            (m.stage_z_cost(stage), m.stage_cost(stage, self.lp_pair, self.lp_mask))
        )

    def level_value(self, level: Level, x: np.ndarray) -> float:
        single = Stage((level,), (1.0,))
        return float(self.costs(single) @ x)

    def fix_level(self, level: Level, value: float) -> None:
        """Add the row "level objective ≤ value" (minimisation form)."""
        coef = self.costs(Stage((level,), (1.0,)))
        idx = np.flatnonzero(coef != 0)
        upper = value + (1e-7 * max(1.0, abs(value)) if level is Level.DISTANCE else 1e-9)
        self.obj_rows[level] = self.master.add_row(upper, idx, coef[idx])
        self.row_upper.append(upper)

    # --- one stage -----------------------------------------------------------------------------
    def column_generation(self, stage: Stage) -> tuple[float, _Pricing]:
        """Price until the master's value meets the bound; returns (best bound, last pricing)."""
        self.master.set_costs(self.costs(stage))
        z_cost = self.model.stage_z_cost(stage)
        # Dual smoothing (Wentges, α = 0.5) was measured on the national L3+L4 stage and dropped:
        # the smoothed duals priced in 100,000 columns a round and the master grew to 1.3 M
        # columns without closing the gap sooner.
        best, center = -np.inf, None
        row_upper = np.asarray(self.row_upper)
        while True:
            t0 = time.monotonic()
            value = self.master.solve_lp()
            t1 = time.monotonic()
            self.rounds += 1
            pricing = _Pricing(self.model, stage, self.obj_rows, self.master.duals())
            bound = pricing.bound(row_upper, z_cost)
            if bound > best:
                best, center = bound, pricing
            added = 0
            self.best_bound = best
            closed = self._closed(stage, value, best)
            if not closed and added == 0:
                added = self._add_priced(pricing, stage)
            _log.debug(
                "%s facilities %d round %d: lp %.2f s, pricing %.2f s, value %.6f, bound %.6f, "
                "+%d columns (%d)",
                stage.name,
                len(self.model.facs),
                self.rounds,
                t1 - t0,
                time.monotonic() - t1,
                value,
                best,
                added,
                len(self.lp_pair),
            )
            if closed:
                self.converged = False
                return best, center or pricing
            if added == 0:
                self.converged = True  # the master's LP optimum is the full LP's
                self.lp_value = value
                return max(best, value), pricing

    @staticmethod
    def _closed(stage: Stage, value: float, bound: float) -> bool:
        if stage.continuous:
            return bool(value - bound <= 1e-9 * max(1.0, abs(value)))
        return bool(value <= np.ceil(bound - 1e-6) + 1e-6)

    def _add_priced(self, pricing: _Pricing, stage: Stage) -> int:
        bad = np.flatnonzero(pricing.rc < -_RC_TOL)
        mask = pricing.mask[bad]
        inside = (self.in_lp[bad] >> mask) & 1 == 1
        if inside.any():  # the pair's cheapest subset is in the master: try its other subsets
            extra_p, extra_m = [], []
            for s in range(1, 8):
                p = bad[inside & ((self.model.pair_covers[bad] & s) == s)]
                p = p[pricing.bundle_rc(p, np.full(len(p), s)) < -_RC_TOL]
                extra_p.append(p)
                extra_m.append(np.full(len(p), s))
            ep, em = np.concatenate(extra_p), np.concatenate(extra_m)
            out = (self.in_lp[ep] >> em) & 1 == 0
            bad = np.concatenate((bad[~inside], ep[out]))
            mask = np.concatenate((mask[~inside], em[out]))
        if len(bad) == 0:
            return 0
        rc = pricing.bundle_rc(bad, mask)
        f = self.model.pair_f[bad]
        order = np.lexsort((bad, rc, f))
        f = f[order]
        rank = np.arange(len(f)) - np.searchsorted(f, f, side="left")
        pick = order[rank < _PER_FAC_ADD]
        if len(pick) > _MAX_ADD:
            pick = pick[np.argsort(rc[pick], kind="stable")[:_MAX_ADD]]
        return self.add_columns(bad[pick], mask[pick], stage)

    def solve_stage(self, stage: Stage) -> tuple[np.ndarray, str, _Pricing, float]:
        """Integer optimum of one stage: (x, how, pricing at the last duals, LB at those duals)."""
        bound, pricing = self.column_generation(stage)
        x = self.master.values()
        how = "lp"
        if not self._integral(x):
            x = self._milp(stage, x, bound, pricing)
            how = "milp"
        lb = pricing.bound(np.asarray(self.row_upper), self.model.stage_z_cost(stage))
        if self.converged:
            lb = max(lb, self.lp_value)
        return x, how, pricing, lb

    def _integral(self, x: np.ndarray) -> bool:
        return bool(np.all(np.minimum(np.abs(x), np.abs(1 - x)) <= _INT_TOL))

    def _reaches(self, stage: Stage, value: float, bound: float) -> bool:
        if stage.continuous:
            return bool(value <= bound + 1e-6 * max(1.0, abs(bound)))
        return bool(value <= np.ceil(bound - 1e-6) + 1e-6)

    def _milp(self, stage: Stage, x_lp: np.ndarray, bound: float, pricing: _Pricing) -> np.ndarray:
        """Exact integer optimum: neighbourhood MILPs first, then reduced-cost fixing."""
        abs_gap = 1e-7 if stage.continuous else 0.5
        lb = pricing.bound(np.asarray(self.row_upper), self.model.stage_z_cost(stage))
        if stage.continuous:
            limit = bound + 1e-6 * max(1.0, abs(bound))
        else:
            limit = float(np.ceil(bound - 1e-6))
        # The facilities the LP left fractional (and their neighbours), with every bundle of
        # theirs that fits under the bound, everything else fixed: if that reaches the bound it
        # is optimal. Measured on the national L1+L2 stage: the master's own columns alone did
        # not reach it, the within-bound bundles made the neighbourhood MILP succeed.
        for hops in (0, 1, 2):
            free_fac = self._fractional_facilities(x_lp, hops)
            added = self._add_within(pricing, lb, limit + 1e-6, stage, free_fac)
            x_lp = np.concatenate((x_lp, np.zeros(added)))
            free = free_fac[self.model.pair_f[self.lp_pair]]
            fixed = self.n_z + np.flatnonzero(~free)
            t0 = time.monotonic()
            try:
                x, value = self.master.milp(abs_gap, fixed, np.round(x_lp[fixed]))
            except SolverInfeasible:
                continue
            _log.debug(
                "%s: MILP over %d free columns (hops %d, +%d) %.2f s, value %.6f, bound %.6f",
                stage.name,
                int(free.sum()),
                hops,
                added,
                time.monotonic() - t0,
                value,
                bound,
            )
            if self._reaches(stage, value, bound):
                return x
        # A bundle k (subset s) of facility f in a solution worth ≤ t forces
        # LB − LB_f + rc_k + rest_f(s) ≤ t. First only the bundles that fit under the bound
        # itself: if the MILP reaches it, it is optimal. Otherwise its value U is proven for
        # "≤ bound" and one more MILP with the bundles that could beat U is exact (measured on
        # the national L1+L2 stage: widening straight to U added most bundles and ran > 5 min).
        for attempt in range(2):
            added = self._add_within(pricing, lb, limit + 1e-6, stage)
            t0 = time.monotonic()
            x, value = self.master.milp(abs_gap)
            _log.debug(
                "%s: MILP %d, +%d columns, %.2f s, value %.6f, limit %.6f",
                stage.name,
                attempt,
                added,
                time.monotonic() - t0,
                value,
                limit,
            )
            if value <= limit + 1e-6:
                break
            limit = value if stage.continuous else value - 1.0
        return x

    def _add_within(
        self,
        pricing: _Pricing,
        lb: float,
        limit: float,
        stage: Stage,
        facilities: np.ndarray | None = None,
    ) -> int:
        """Add every bundle (of ``facilities``) that could be in a solution worth ≤ ``limit``."""
        cand_p, cand_m = [], []
        for s in range(1, 8):
            p = np.flatnonzero((self.model.pair_covers & s) == s)
            if facilities is not None:
                p = p[facilities[self.model.pair_f[p]]]
            p = p[(self.in_lp[p] >> s) & 1 == 0]
            f = self.model.pair_f[p]
            rc = pricing.bundle_rc(p, np.full(len(p), s)) + pricing.rest[f, s] - pricing.fac_lb[f]
            keep = p[lb + rc <= limit]
            cand_p.append(keep)
            cand_m.append(np.full(len(keep), s))
        return self.add_columns(np.concatenate(cand_p), np.concatenate(cand_m), stage)

    def _fractional_facilities(self, x: np.ndarray, hops: int) -> np.ndarray:
        """Bool per facility: fractional in ``x``, or ``hops`` shared institutions away."""
        m = self.model
        xs = x[self.n_z :]
        fac = m.pair_f[self.lp_pair]
        inst = m.pair_i[self.lp_pair]
        frac = np.minimum(xs, 1 - xs) > _INT_TOL
        free_fac = np.zeros(len(m.facs), bool)
        free_fac[fac[frac]] = True
        zf = x[: self.n_z]
        free_fac[m.z_fac[np.minimum(zf, 1 - zf) > _INT_TOL]] = True
        used = xs > _INT_TOL
        for _ in range(hops):
            touched = np.zeros(len(m.insts), bool)
            touched[inst[free_fac[fac] & used]] = True
            free_fac[fac[touched[inst] & used]] = True
        return free_fac

    def chosen(self, x: np.ndarray) -> np.ndarray:
        """Global candidate positions of the bundles at 1 in ``x``."""
        on = x[self.n_z :] > 0.5
        return np.sort(self.model.pairs[self.lp_pair[on]])

    def capacity_duals(self, pricing: _Pricing, converged: bool) -> tuple[np.ndarray, np.ndarray]:
        """(institutions, y_i ≤ 0): "one more unit at i lowers the stage bound by ≤ |y_i|".

        Institutions with a capacity row give its dual; non-binding ones 0. A capacity-0
        institution (left out of the model) gets the dual its row would take: the cheapest of its
        bundles (converged LP), or their margin over the facility's cheapest bundle of the same
        subset (Lagrangian bound) — or −inf when one of them could make a facility completable
        that is not (a new z column would move the bound by more).
        """
        m = self.model
        insts, duals = [m.insts], [np.minimum(pricing.ye[m.r_cap], 0.0)]
        zp = m.zero_pairs
        if len(zp) == 0:
            return insts[0], duals[0]
        zf_g = self.cand.fac[zp]
        fpos = np.minimum(np.searchsorted(m.facs, zf_g), len(m.facs) - 1)
        inside = m.facs[fpos] == zf_g
        cov = self.cand.covers[zp].astype(np.int64)
        low = np.where(inside, 0.0, -np.inf)
        f = fpos
        a = pricing.mu4 + pricing.mu5 * self.cand.km[zp] - pricing.ye[m.r_part[f]]
        for sub in range(1, 8):
            on = inside & ((cov & sub) == sub)
            extra = sum(pricing.g[f[on], b] for b in range(3) if sub >> b & 1)
            rc = a[on] + extra
            if not converged:
                rc = rc - np.minimum(pricing.b_min[f[on], sub], 0.0)
            low[on] = np.minimum(low[on], rc)
        newly = inside & ~m.completable[f] & ((m.union[f] | cov) == m.miss[f])
        low[newly] = -np.inf
        u, inv = np.unique(self.cand.inst[zp], return_inverse=True)
        out = np.zeros(len(u))
        np.minimum.at(out, inv, low)
        return np.concatenate((m.insts, u)), np.concatenate((duals[0], out))

    # --- all stages ---------------------------------------------------------------------------
    def solve(
        self,
        component: int,
        stages: list[Stage],
        outcome: _ComponentOutcome,
        trivial: list[float | None],
    ) -> None:
        """Solve ``stages`` in order into ``outcome``; at the deadline keep what is proven."""
        for k, stage in enumerate(stages):
            if outcome.bounds[stage.first - 1] is None:
                outcome.bounds[stage.first - 1] = trivial[stage.first - 1]
            t0, rounds0 = time.monotonic(), self.rounds
            self.best_bound = -np.inf
            try:
                x, how, pricing, lb = self.solve_stage(stage)
            except SolverTimeLimit:
                outcome.stopped = stage
                outcome.stage_bound = float(self.best_bound)
                return
            values = {level: self.level_value(level, x) for level in stage.levels}
            for level in stage.levels:
                if level is not Level.DISTANCE:
                    values[level] = float(round(values[level]))
            if k + 1 < len(stages):
                for level in stage.levels:
                    self.fix_level(level, values[level])
            outcome.chosen = self.chosen(x)
            for level, v in values.items():
                outcome.bounds[level - 1] = v
            insts, duals = self.capacity_duals(pricing, self.converged)
            outcome.results.append(
                StageResult(
                    component,
                    stage,
                    lb,
                    values,
                    True,
                    outcome.chosen,
                    insts,
                    duals,
                    how,
                    time.monotonic() - t0,
                    self.rounds - rounds0,
                    len(self.lp_pair),
                )
            )
        outcome.columns = len(self.lp_pair)
        outcome.rounds = self.rounds


@dataclass
class _ComponentOutcome:
    """What one component's solve achieved: its proposal and, per level, a proven bound."""

    chosen: np.ndarray
    bounds: list[float | None]  # minimisation form, index level − 1; None = nothing proven
    stopped: Stage | None = None  # the stage the deadline interrupted
    stage_bound: float = -np.inf  # that stage's best bound (weighted, minimisation form)
    results: list[StageResult] = field(default_factory=list)
    columns: int = 0
    rounds: int = 0


def _trivial_bounds(model: BundleModel) -> list[float | None]:
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
    specs: tuple[StageSpec, ...]


def _solve_component(task: _ComponentTask) -> _ComponentOutcome:
    """Solve the stages of one component, or stop at the deadline with what is proven."""
    model = BundleModel(task.problem, task.cand, task.pairs, task.max_partners)
    trivial = _trivial_bounds(model)
    outcome = _ComponentOutcome(task.fallback, [trivial[0]] + [None] * 4)
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
    try:
        solver = ComponentSolver(model, task.cand, task.deadline, local[ok], task.start_masks[ok])
        solver.solve(
            task.component, stages_of(task.specs, model, task.max_partners), outcome, trivial
        )
    except SolverTimeLimit:
        outcome.stopped = outcome.stopped or Stage((Level.MANDATORY_FULL,), (1.0,))
    if outcome.stopped is not None:
        for level, b in _level_bounds_of(outcome.stopped, outcome.stage_bound).items():
            old = outcome.bounds[level - 1]
            if old is None or b > old:
                outcome.bounds[level - 1] = b
    return outcome


def _solve_remote(job: _Remapped) -> _ComponentOutcome:
    """``_solve_component`` in a worker process, positions mapped back to the full graph."""
    outcome = _solve_component(job.task)
    outcome.chosen = job.pairs[outcome.chosen]
    outcome.results = [replace(r, chosen=job.pairs[r.chosen]) for r in outcome.results]
    return outcome


def start_bundles(cand: Candidates, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A proposal's pairs with the capabilities each adds, nearest first (bundles partition)."""
    got: dict[int, int] = {}
    out_p, out_m = [], []
    key = lambda p: (cand.fac[p], cand.km[p], cand.inst[p])  # noqa: E731
    for p in sorted(np.asarray(chosen).tolist(), key=key):
        f = int(cand.fac[p])
        add = int(cand.covers[p]) & ~got.get(f, 0)
        got[f] = got.get(f, 0) | add
        if add:
            out_p.append(int(p))
            out_m.append(add)
    order = np.argsort(np.array(out_p, np.int64), kind="stable")
    return np.array(out_p, np.int64)[order], np.array(out_m, np.int64)[order]


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
) -> tuple[np.ndarray, OptimalReport]:
    """Solve the given stages of levels component by component; the one loop every caller uses.

    ``levels`` lists the stages in order, each a tuple of consecutive levels solved as one
    weighted objective (``DEFAULT_STAGES``: L1+L2, L3+L4, L5; the what-if analysis uses (L1,),
    (L2,)). ``on_level`` receives every proven stage of every component, in component order.
    ``previous`` (positions into ``cand`` of an earlier proposal, e.g. before a few decisions)
    seeds the masters next to the greedy proposal: a warm start that changes the time, never the
    objective values. ``workers`` > 1 solves the smaller components in a second process while this
    one solves the largest (identical results; default 1).
    """
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
    if previous is not None and len(previous):
        valid = np.asarray(previous, np.int64)
        valid = valid[(valid >= 0) & (valid < len(cand))]
        pp, pm = start_bundles(cand, valid)
        sp, sm = np.concatenate((sp, pp)), np.concatenate((sm, pm))
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
                tuple(tuple(Level(v) for v in spec) for spec in levels),
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
    # Sequential unless asked: on the national instance one component holds 97 % of the demand,
    # so a second process saves < 3 % there, and a spawned pool needs the caller's
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
) -> list[_ComponentOutcome]:
    """Outcomes in task order. With workers > 1 this process solves the largest component
    while a pool solves the others (measured: pickling the largest costs more than it saves)."""
    total = int(np.count_nonzero(problem.missing))
    done = 0
    outcomes: list[_ComponentOutcome | None] = [None] * len(tasks)

    def finished(k: int, outcome: _ComponentOutcome) -> None:
        nonlocal done
        outcomes[k] = outcome
        done += len(np.unique(cand.fac[tasks[k].pairs]))
        if progress:
            progress(done, total)

    if workers <= 1 or len(tasks) < 2:
        for k, task in enumerate(tasks):
            finished(k, _solve_component(task))
        return [o for o in outcomes if o is not None]
    big = len(tasks) - 1  # sizes ascending
    with ProcessPoolExecutor(workers - 1, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_solve_remote, _slim(t)) for t in tasks[:big]]
        finished(big, _solve_component(tasks[big]))
        for k, fut in enumerate(futures):
            finished(k, fut.result())
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
        task.specs,
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
    outcomes: list[_ComponentOutcome],
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
) -> tuple[np.ndarray, OptimalReport]:
    """Positions into ``cand`` of the lexicographically optimal proposal, and how it was proven.

    With a time limit, components not finished keep the last proven stage's proposal (or the
    greedy one); the report then names the first level whose proven bound the proposal does not
    reach, with both values — never calling the result optimal — and ``report.levels`` lists
    value, bound and gap per level. ``previous``: see ``solve_levels`` (warm start).
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
    )
