"""Frozen copy of ``matcher/solve/staged.py`` as issue 17 left it (benchmarks only).

The strategy every formulation shares: staged column generation, then MILPs if needed.

A formulation (``bundle_cg.BundleSolver``, ``pattern.PatternSolver``) supplies its columns, its
pricing (reduced costs of every column of the full model at a dual vector, and the Lagrangian
bound ``LB(y)`` they imply) and its reduced-cost enumeration; this module runs the loop: price
until the restricted master's value meets the bound, take an integral LP optimum as it is, else
neighbourhood MILPs and then reduced-cost fixing, stage after stage, each stage's optimum
becoming a row of the next.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import numpy as np

from matcher._errors import SolverInfeasible, SolverTimeLimit
from matcher.candidates import Candidates
from matcher.vocab import Level

from .bundle import ComponentGraph, Stage
from .master import HighsMaster

_log = logging.getLogger(__name__)
RC_TOL = 1e-7
INT_TOL = 1e-6


def best_per_facility(fac: np.ndarray, rc: np.ndarray, km: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` columns of each facility with the lowest (rc, km), in that order."""
    order = np.lexsort((np.arange(len(fac)), km, rc, fac))
    f = fac[order]
    rank = np.arange(len(f)) - np.searchsorted(f, f, side="left")
    return np.asarray(order[rank < k])


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
class ComponentOutcome:
    """What one component's solve achieved: its proposal and, per level, a proven bound."""

    chosen: np.ndarray
    bounds: list[float | None]  # minimisation form, index level − 1; None = nothing proven
    stopped: Stage | None = None  # the stage the deadline interrupted
    stage_bound: float = -np.inf  # that stage's best bound (weighted, minimisation form)
    results: list[StageResult] = field(default_factory=list)
    columns: int = 0
    rounds: int = 0


class Pricing(Protocol):
    """Reduced costs at one dual vector, and the bound they prove."""

    def bound(self, row_upper: np.ndarray, z_cost: np.ndarray) -> float: ...


PricingT = TypeVar("PricingT", bound=Pricing)
ModelT = TypeVar("ModelT", bound=ComponentGraph)


class StagedSolver(ABC, Generic[ModelT, PricingT]):
    """The staged column generation of one component (the strategy over model and master)."""

    model: ModelT
    # Within-bound columns per facility in a neighbourhood MILP (None: all of them).
    neighbourhood_per_facility: int | None = None
    cand: Candidates
    master: HighsMaster
    row_upper: list[float]
    n_z: int
    obj_rows: dict[Level, int]
    rounds: int
    best_bound: float
    converged: bool
    lp_value: float

    # --- what a formulation supplies ---------------------------------------------------------
    @property
    @abstractmethod
    def n_columns(self) -> int:
        """Columns in the master besides the z columns."""

    @abstractmethod
    def z_cost(self, stage: Stage) -> np.ndarray:
        """Costs of the z columns (none in formulations without them)."""

    @abstractmethod
    def costs(self, stage: Stage) -> np.ndarray:
        """Costs of every master column (z columns first) in ``stage``'s objective."""

    @abstractmethod
    def pricing(self, stage: Stage, y: np.ndarray) -> PricingT:
        """Reduced costs of every column of the full model at the duals ``y``."""

    @abstractmethod
    def _add_priced(self, pricing: PricingT, stage: Stage) -> int:
        """Add columns with negative reduced cost; returns how many."""

    @abstractmethod
    def _add_within(
        self,
        pricing: PricingT,
        lb: float,
        limit: float,
        stage: Stage,
        facilities: np.ndarray | None = None,
        per_facility: int | None = None,
    ) -> int:
        """Add every column (of ``facilities``) that could be in a solution worth ≤ ``limit``
        (with ``per_facility``: only that many per facility, the lowest reduced costs first, then
        the nearest — enough for a neighbourhood MILP, which only needs to reach the bound)."""

    @abstractmethod
    def _fractional_facilities(self, x: np.ndarray, hops: int) -> np.ndarray:
        """Bool per facility: fractional in ``x``, or ``hops`` shared institutions away."""

    @abstractmethod
    def column_facilities(self) -> np.ndarray:
        """The facility (local position) of each non-z column."""

    @abstractmethod
    def chosen(self, x: np.ndarray) -> np.ndarray:
        """Global candidate positions of the pairs chosen in ``x``."""

    @abstractmethod
    def capacity_duals(self, pricing: PricingT, converged: bool) -> tuple[np.ndarray, np.ndarray]:
        """(institutions, y_i ≤ 0): "one more unit at i lowers the stage bound by ≤ |y_i|"."""

    def lp_dual(self, stage: Stage) -> bool | None:
        """Simplex choice for the master's re-solves (None: ``HighsMaster``'s default)."""
        return None

    # --- the strategy ------------------------------------------------------------------------
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

    def column_generation(self, stage: Stage) -> tuple[float, PricingT]:
        """Price until the master's value meets the bound; returns (best bound, last pricing)."""
        self.master.set_costs(self.costs(stage))
        z_cost = self.z_cost(stage)
        # Dual smoothing (Wentges, α = 0.5) was measured on the national L3+L4 stage and dropped:
        # the smoothed duals priced in 100,000 columns a round and the master grew to 1.3 M
        # columns without closing the gap sooner.
        best, center = -np.inf, None
        row_upper = np.asarray(self.row_upper)
        while True:
            t0 = time.monotonic()
            value = self.master.solve_lp(self.lp_dual(stage))
            t1 = time.monotonic()
            self.rounds += 1
            pricing = self.pricing(stage, self.master.duals())
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
                self.n_columns,
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

    def solve_stage(self, stage: Stage) -> tuple[np.ndarray, str, PricingT, float]:
        """Integer optimum of one stage: (x, how, pricing at the last duals, LB at those duals)."""
        bound, pricing = self.column_generation(stage)
        x = self.master.values()
        how = "lp"
        if not self._integral(x):
            x = self._milp(stage, x, bound, pricing)
            how = "milp"
        lb = pricing.bound(np.asarray(self.row_upper), self.z_cost(stage))
        if self.converged:
            lb = max(lb, self.lp_value)
        return x, how, pricing, lb

    def _integral(self, x: np.ndarray) -> bool:
        return bool(np.all(np.minimum(np.abs(x), np.abs(1 - x)) <= INT_TOL))

    def _reaches(self, stage: Stage, value: float, bound: float) -> bool:
        if stage.continuous:
            return bool(value <= bound + 1e-6 * max(1.0, abs(bound)))
        return bool(value <= np.ceil(bound - 1e-6) + 1e-6)

    def _milp(self, stage: Stage, x_lp: np.ndarray, bound: float, pricing: PricingT) -> np.ndarray:
        """Exact integer optimum: neighbourhood MILPs first, then reduced-cost fixing."""
        abs_gap = 1e-7 if stage.continuous else 0.5
        lb = pricing.bound(np.asarray(self.row_upper), self.z_cost(stage))
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
            added = self._add_within(
                pricing, lb, limit + 1e-6, stage, free_fac, self.neighbourhood_per_facility
            )
            x_lp = np.concatenate((x_lp, np.zeros(added)))
            free = free_fac[self.column_facilities()]
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

    def solve(
        self,
        component: int,
        stages: list[Stage],
        outcome: ComponentOutcome,
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
                    self.n_columns,
                )
            )
        outcome.columns = self.n_columns
        outcome.rounds = self.rounds
