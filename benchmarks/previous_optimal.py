"""The solver as it was before issue 17 (frozen copy, for benchmarks only: the "previous approach").

Model (per connected component of the candidate graph). A *bundle* column x[f,i,s] for a pair
(f, i) and a non-empty subset s of what i covers for f means "i becomes a partner of f and is
counted for the capabilities in s"; z[f] ∈ [0,1] says f becomes fully covered::

    cover     Σ_{i, s ∋ c} x[f,i,s]        ≤ 1          for every facility f, c ∈ missing(f)
    full      z[f] − Σ_{i, s ∋ c} x[f,i,s] ≤ 0          for every completable f, c ∈ missing(f)
    partners  Σ_{i, s} x[f,i,s]            ≤ P          for every facility f
    capacity  Σ_{f, s} x[f,i,s]            ≤ K_i        for every institution with a binding K_i

and the five levels::

    L1 max Σ_{f 義務} z[f]   L2 max Σ_{f 努力義務} z[f]   L3 max Σ |s| x
    L4 min Σ x               L5 min Σ km(f,i) x

solved in three stages, each stage's optimum becoming constraints for the next: L1+L2 as
max (n₂+1)·L1 + L2 (n₂ = completable 努力義務 facilities, so one 義務 facility outweighs them
all), L3+L4 as max (P·n+1)·L3 − L4 (P·n bounds the partnerships), then L5. Both weightings
are exact for integer solutions.

Counting each capability on one bundle only (the cover rows) loses nothing: a partnership still
covers all it can, and at the optimum the subsets partition what the partners cover.

Solving. Each level's LP is solved by column generation: a restricted master (the nearest
bundles of each facility) is priced against *all* in-range bundles with the row duals until no
column has a negative reduced cost, so the LP value is a bound over the full model. When the LP
optimum is integral it is the level's optimum. Otherwise the level is solved as a MILP over the
master's columns plus every column whose reduced cost does not exceed the gap between the LP
bound and the MILP incumbent (reduced-cost fixing) — which is exact. A proposal is called
optimal only when every level of every component was proven so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import highspy
import numpy as np

from matcher._errors import SolverError
from matcher.candidates import Candidates, Problem
from matcher.solve._highs import new_highs
from matcher.solve.greedy import solve_greedy

LEVELS = ("mandatory_full", "effort_full", "pairs_covered", "partnerships", "distance_km")
_BITS = (1, 2, 4)
_RC_TOL = 1e-7
_INT_TOL = 1e-6
_MAX_ADD = 100000  # columns added per pricing round
_PER_FAC_ADD = 20  # at most this many new columns per facility per round
_INITIAL_NEAREST = 8  # initial bundles: nearest pairs per missing capability

Progress = Callable[[int, int], None]
Stage = int | tuple[tuple[int, float], ...]  # one level, or levels with weights (lexicographic)


def _levels(stage: Stage) -> tuple[tuple[int, float], ...]:
    return ((stage, 1.0),) if isinstance(stage, int) else stage


def _is_continuous(stage: Stage) -> bool:
    """Whether the stage's objective can take non-integral values (it includes km)."""
    return any(level == 4 for level, _ in _levels(stage))


class _Timeout(Exception):
    pass


class _Infeasible(Exception):
    pass


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
    bounds: dict[str, float] = field(default_factory=dict)  # stopped level: LP bound, incumbent
    seconds: float = 0.0
    slowest: list[dict[str, object]] = field(
        default_factory=list
    )  # slowest (component, level) solves

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


def _subset_columns(covers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pair position, subset mask) of every non-empty subset of each pair's ``covers``."""
    pos, masks = [], []
    for s in range(1, 8):
        sel = np.flatnonzero((covers & s) == s)
        pos.append(sel)
        masks.append(np.full(len(sel), s, np.uint8))
    p, m = np.concatenate(pos), np.concatenate(masks)
    order = np.lexsort((m, p))
    return p[order], m[order]


class BundleMaster:
    """The bundle model of one component, in a HiGHS instance that keeps its basis across rounds.

    Public for analyses that solve only some levels (``matcher.gaps.whatif`` reads the capacity
    duals): ``initial_columns``, ``solve_lp`` (column generation), ``values``, ``is_integral``,
    ``solve_milp``, ``objective_of``, ``fix_level``, ``chosen``; levels are numbered 0–4 in the
    order of ``LEVELS``, in minimisation form.
    """

    def __init__(
        self,
        problem: Problem,
        cand: Candidates,
        pairs: np.ndarray,
        max_partners: int,
        deadline: float | None,
    ) -> None:
        self.deadline = deadline
        self.pairs = pairs
        fac_g, inst_g = cand.fac[pairs], cand.inst[pairs]
        self.facs, pf = np.unique(fac_g, return_inverse=True)
        self.insts, pi = np.unique(inst_g, return_inverse=True)
        nf, ni = len(self.facs), len(self.insts)
        self.miss = problem.missing[self.facs].astype(np.int64)
        covers = cand.covers[pairs].astype(np.int64)
        union = np.zeros(nf, np.int64)
        np.bitwise_or.at(union, pf, covers)
        self.completable = union == self.miss
        self.mandatory = problem.mandatory[self.facs]
        # All bundle columns of the component.
        cp, cm = _subset_columns(covers)
        self.col_pair, self.col_mask = cp, cm.astype(np.int64)
        self.col_f, self.col_i = pf[cp], pi[cp]
        self.col_km = cand.km[pairs][cp]
        self.col_size = np.array([bin(s).count("1") for s in range(8)])[self.col_mask].astype(float)
        # Rows: cover and full per (f, bit), partners per f, capacity per binding institution.
        nrow = 0
        self.r_cov = np.full((nf, 3), -1, np.int64)
        self.r_full = np.full((nf, 3), -1, np.int64)
        upper: list[float] = []
        for b in range(3):
            has = (self.miss >> b) & 1 == 1
            idx = np.flatnonzero(has)
            self.r_cov[idx, b] = nrow + np.arange(len(idx))
            nrow += len(idx)
            upper += [1.0] * len(idx)
            idx = np.flatnonzero(has & self.completable)
            self.r_full[idx, b] = nrow + np.arange(len(idx))
            nrow += len(idx)
            upper += [0.0] * len(idx)
        self.r_part = nrow + np.arange(nf)
        nrow += nf
        upper += [float(max_partners)] * nf
        cap = problem.capacity[self.insts]
        reach = np.bincount(pi, minlength=ni)  # facilities that could use it (pairs are unique)
        binding = np.flatnonzero((cap >= 0) & (cap < reach))
        self.r_cap = np.full(ni, -1, np.int64)
        self.r_cap[binding] = nrow + np.arange(len(binding))
        nrow += len(binding)
        upper += [float(c) for c in cap[binding]]
        self.n_base_rows = nrow
        self.obj_rows: dict[int, int] = {}  # level -> row
        # z columns first, one per completable facility.
        self.z_fac = np.flatnonzero(self.completable)
        self.h = new_highs()
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        nz = len(self.z_fac)
        lp.num_col_, lp.num_row_ = nz, nrow
        lp.col_cost_ = np.zeros(nz)
        lp.col_lower_, lp.col_upper_ = np.zeros(nz), np.ones(nz)
        lp.row_lower_ = np.full(nrow, -inf)
        lp.row_upper_ = np.array(upper, float)
        rows = self.r_full[self.z_fac]
        counts = (rows >= 0).sum(axis=1)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
        lp.a_matrix_.index_ = rows[rows >= 0].astype(
            np.int32
        )  # row-major flatten keeps column order
        lp.a_matrix_.value_ = np.ones(int(counts.sum()))
        self.h.passModel(lp)
        self.n_z = nz
        self.in_lp = np.zeros(len(self.col_pair), bool)
        self.lp_cols = np.zeros(0, np.int64)  # bundle index of LP column n_z + k
        self.rounds = 0

    # --- columns ---------------------------------------------------------------------------
    def _coef(self, stage: Stage, cols: np.ndarray) -> np.ndarray:
        """Coefficient of bundle columns in a stage's minimisation objective."""
        out = np.zeros(len(cols))
        for level, weight in _levels(stage):
            out += weight * self._level_coef(level, cols)
        return out

    def _level_coef(self, level: int, cols: np.ndarray) -> np.ndarray:
        """Coefficient of bundle columns in level ``level``'s minimisation objective."""
        if level <= 1:
            return np.zeros(len(cols))
        if level == 2:
            return -self.col_size[cols]
        if level == 3:
            return np.ones(len(cols))
        return self.col_km[cols]

    def add_columns(self, cols: np.ndarray, level: Stage) -> None:
        cols = np.unique(cols[~self.in_lp[cols]])
        if len(cols) == 0:
            return
        f, i, m = self.col_f[cols], self.col_i[cols], self.col_mask[cols]
        ent_col, ent_row, ent_val = [], [], []
        k = np.arange(len(cols))
        for b in range(3):
            on = (m >> b) & 1 == 1
            ent_col += [k[on]]
            ent_row += [self.r_cov[f[on], b]]
            ent_val += [np.ones(on.sum())]
            full = on & (self.r_full[f, b] >= 0)
            ent_col += [k[full]]
            ent_row += [self.r_full[f[full], b]]
            ent_val += [-np.ones(full.sum())]
        ent_col += [k]
        ent_row += [self.r_part[f]]
        ent_val += [np.ones(len(k))]
        capped = self.r_cap[i] >= 0
        ent_col += [k[capped]]
        ent_row += [self.r_cap[i[capped]]]
        ent_val += [np.ones(capped.sum())]
        for lvl, row in self.obj_rows.items():
            coef = self._level_coef(lvl, cols)
            nzc = coef != 0
            ent_col += [k[nzc]]
            ent_row += [np.full(nzc.sum(), row)]
            ent_val += [coef[nzc]]
        c, r, v = np.concatenate(ent_col), np.concatenate(ent_row), np.concatenate(ent_val)
        order = np.lexsort((r, c))
        c, r, v = c[order], r[order], v[order]
        starts = np.searchsorted(c, k).astype(np.int32)
        self.h.addCols(
            len(cols),
            self._coef(level, cols),
            np.zeros(len(cols)),
            np.ones(len(cols)),
            len(r),
            starts,
            r.astype(np.int32),
            v,
        )
        self.in_lp[cols] = True
        self.lp_cols = np.concatenate((self.lp_cols, cols))

    def initial_columns(self, greedy_masks: dict[int, int], level: Stage) -> None:
        """The nearest bundles of each facility per missing capability, and the greedy ones."""
        picks = []
        order = np.lexsort((self.col_i, self.col_km, self.col_f))
        cf, cm = self.col_f[order], self.col_mask[order]
        for b in range(3):
            for want_full in (True, False):
                sel = order[((cm >> b) & 1 == 1) & ((cm == (1 << b)) != want_full)]
                sf = self.col_f[sel]
                first = np.searchsorted(sf, sf, side="left")
                rank = np.arange(len(sf)) - first
                picks.append(sel[rank < _INITIAL_NEAREST])
        del cf
        if greedy_masks:
            key = self.col_pair * 8 + self.col_mask
            want = np.array([p * 8 + m for p, m in greedy_masks.items()], np.int64)
            picks.append(np.flatnonzero(np.isin(key, want)))
        self.add_columns(np.concatenate(picks), level)

    # --- objective rows and costs ------------------------------------------------------------
    def _z_coef(self, stage: Stage) -> np.ndarray:
        out = np.zeros(self.n_z)
        for level, weight in _levels(stage):
            out += weight * self._level_z_coef(level)
        return out

    def _level_z_coef(self, level: int) -> np.ndarray:
        if level == 0:
            return -self.mandatory[self.z_fac].astype(float)
        if level == 1:
            return -(~self.mandatory[self.z_fac]).astype(float)
        return np.zeros(self.n_z)

    def set_level(self, level: Stage) -> None:
        costs = np.concatenate((self._z_coef(level), self._coef(level, self.lp_cols)))
        n = self.n_z + len(self.lp_cols)
        self.h.changeColsCost(n, np.arange(n, dtype=np.int32), costs)

    def fix_level(self, level: int, value: float) -> None:
        """Add the row "level objective ≤ value" (minimisation form)."""
        coef = np.concatenate((self._z_coef(level), self._coef(level, self.lp_cols)))
        idx = np.flatnonzero(coef != 0)
        upper = value + (1e-7 * max(1.0, abs(value)) if level == 4 else 1e-9)
        self.h.addRow(-highspy.kHighsInf, upper, len(idx), idx.astype(np.int32), coef[idx])
        self.obj_rows[level] = self.h.getNumRow() - 1

    # --- solving ---------------------------------------------------------------------------
    def _limit(self, h: highspy.Highs) -> None:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise _Timeout
            # HiGHS compares time_limit with its run time summed over every run of the instance.
            h.setOptionValue("time_limit", h.getRunTime() + left)

    def _run(self, h: highspy.Highs) -> None:
        self._limit(h)
        if self.deadline is not None and not getattr(h, "_kyoryoku_watch", False):
            # HiGHS does not always honour time_limit inside a large MILP: interrupt it ourselves.
            deadline = self.deadline

            def watch(event) -> None:
                if time.monotonic() > deadline:
                    event.interrupt()

            h.cbMipInterrupt.subscribe(watch)
            h.cbSimplexInterrupt.subscribe(watch)
            h._kyoryoku_watch = True
        h.run()
        status = h.getModelStatus()
        if status in (highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kInterrupt):
            raise _Timeout
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS: {h.modelStatusToString(status)}")

    def reduced_costs(self, level: Stage) -> np.ndarray:
        """Reduced cost of every bundle column (in the LP or not) at the current duals."""
        y = np.append(np.asarray(self.h.getSolution().row_dual), 0.0)  # index -1 → 0
        f, i, m = self.col_f, self.col_i, self.col_mask
        rc = self._coef(level, np.arange(len(m))).copy()
        for b in range(3):
            on = ((m >> b) & 1).astype(float)
            rc -= on * (y[self.r_cov[f, b]] - y[self.r_full[f, b]])
        rc -= y[self.r_part[f]] + y[self.r_cap[i]]
        for lvl, row in self.obj_rows.items():
            rc -= y[row] * self._level_coef(lvl, np.arange(len(m)))
        return rc

    def solve_lp(self, level: Stage) -> tuple[float, np.ndarray]:
        """Column generation to the LP optimum over all bundles; returns (value, reduced costs)."""
        self.set_level(level)
        while True:
            self._run(self.h)
            self.rounds += 1
            rc = self.reduced_costs(level)
            bad = np.flatnonzero(~self.in_lp & (rc < -_RC_TOL))
            if len(bad) == 0:
                return self.h.getInfo().objective_function_value, rc
            order = bad[np.lexsort((bad, rc[bad], self.col_f[bad]))]
            f = self.col_f[order]
            rank = np.arange(len(f)) - np.searchsorted(f, f, side="left")
            pick = order[rank < _PER_FAC_ADD]
            if len(pick) > _MAX_ADD:
                pick = pick[np.argsort(rc[pick], kind="stable")[:_MAX_ADD]]
            self.add_columns(pick, level)

    def values(self) -> np.ndarray:
        return np.asarray(self.h.getSolution().col_value)

    def is_integral(self, x: np.ndarray) -> bool:
        xs = x[self.n_z :]
        return bool(np.all(np.minimum(np.abs(xs), np.abs(1 - xs)) <= _INT_TOL))

    def solve_milp(
        self, level: Stage, lp_value: float, rc: np.ndarray, start: np.ndarray | None
    ) -> np.ndarray:
        """Integer optimum of the level (exact).

        First a MILP over the facilities the LP left fractional (and, if needed, their
        neighbours), everything else fixed at its integral LP value: if that reaches the LP bound
        it is optimal. Otherwise a MILP over all master columns, widened by reduced-cost fixing.
        """
        x_lp = self.values()
        continuous = _is_continuous(level)
        tol = 1e-6 * max(1.0, abs(lp_value)) if continuous else 0.5
        bound = lp_value if continuous else float(np.ceil(lp_value - 1e-6))
        best = start
        for hops in (0, 1):
            free = self._fractional_neighbourhood(x_lp, hops)
            try:
                x = self._milp(level, start=x_lp, fix=~free)
            except _Infeasible:
                continue
            best = x
            if self.objective_of(level, x) <= bound + (tol if continuous else 1e-6):
                return x
        x = self._milp(level, best)
        value = self.objective_of(level, x)
        if value - lp_value > tol:
            # Any solution using a column with lp_value + rc > incumbent is worse: keep the rest.
            extra = np.flatnonzero(
                ~self.in_lp & (lp_value + rc <= value + 1e-9 * max(1.0, abs(value)))
            )
            if len(extra):
                self.add_columns(extra, level)
                x = self._milp(
                    level, np.concatenate((x, np.zeros(len(self.lp_cols) + self.n_z - len(x))))
                )
        return x

    def _fractional_neighbourhood(self, x: np.ndarray, hops: int) -> np.ndarray:
        """Bool per LP bundle column: its facility is fractional in ``x`` (or ``hops`` away)."""
        xs = x[self.n_z :]
        fac = self.col_f[self.lp_cols]
        inst = self.col_i[self.lp_cols]
        frac = np.minimum(xs, 1 - xs) > _INT_TOL
        free_fac = np.zeros(len(self.facs), bool)
        free_fac[fac[frac]] = True
        zf = x[: self.n_z]
        free_fac[self.z_fac[np.minimum(zf, 1 - zf) > _INT_TOL]] = True
        used = xs > _INT_TOL
        for _ in range(hops):
            touched = np.zeros(len(self.insts), bool)
            touched[inst[free_fac[fac] & used]] = True
            free_fac[fac[touched[inst] & used]] = True
        return free_fac[fac]

    def _milp(
        self, level: Stage, start: np.ndarray | None, fix: np.ndarray | None = None
    ) -> np.ndarray:
        self.set_level(level)
        h = new_highs()
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 1e-7 if _is_continuous(level) else 0.5)
        h.passModel(self.h.getLp())
        n = self.n_z + len(self.lp_cols)
        # z integral too: with z continuous a MILP may stop (within its 0.5 gap) at a solution
        # whose z undercounts the facilities its bundles make full.
        h.changeColsIntegrality(
            n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger)
        )
        idx = np.arange(self.n_z, n, dtype=np.int32)
        if fix is not None and start is not None:
            fixed = idx[fix]
            val = np.round(start[self.n_z :][fix])
            h.changeColsBounds(len(fixed), fixed, val, val)
        # No setSolution start: with one, highspy 1.16 can report the improved objective while
        # getSolution() still returns the start (seen on a 24-facility instance).
        try:
            self._run(h)
        except RuntimeError:
            if fix is not None:
                raise _Infeasible from None
            raise
        self.milp_runs = getattr(self, "milp_runs", 0) + 1
        x = np.asarray(h.getSolution().col_value)
        reported = h.getInfo().objective_function_value
        if abs(float(np.dot(h.getLp().col_cost_, x)) - reported) > 1e-6 * max(1.0, abs(reported)):
            raise SolverError("HiGHS returned a solution that does not match its objective value")
        return x

    def objective_of(self, level: Stage, x: np.ndarray) -> float:
        coef = np.concatenate((self._z_coef(level), self._coef(level, self.lp_cols)))
        return float(coef @ x)

    def chosen(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(global candidate positions, masks) of the bundles at 1 in ``x``."""
        on = self.lp_cols[x[self.n_z :] > 0.5]
        return self.pairs[self.col_pair[on]], self.col_mask[on]


def greedy_bundles(cand: Candidates, chosen: np.ndarray) -> dict[int, int]:
    """Greedy pairs with the capabilities each adds (a partition, as bundles need)."""
    got: dict[int, int] = {}
    masks: dict[int, int] = {}
    for p in sorted(chosen, key=lambda p: (cand.fac[p], cand.km[p], cand.inst[p])):
        f = int(cand.fac[p])
        add = int(cand.covers[p]) & ~got.get(f, 0)
        got[f] = got.get(f, 0) | add
        if add:
            masks[int(p)] = add
    return masks


@dataclass
class _ComponentOutcome:
    """What one component's solve achieved: its proposal and, per level, a proven bound."""

    chosen: np.ndarray
    bounds: list[float | None]  # minimisation form; None = nothing proven at that level
    stopped: int | None = None  # level at which the time limit hit


def _trivial_bounds(problem: Problem, cand: Candidates, pairs: np.ndarray) -> list[float | None]:
    """Bounds that need no solve (minimisation form): every completable facility made full."""
    facs, pf = np.unique(cand.fac[pairs], return_inverse=True)
    union = np.zeros(len(facs), np.int64)
    np.bitwise_or.at(union, pf, cand.covers[pairs].astype(np.int64))
    complete = union == problem.missing[facs]
    mand = problem.mandatory[facs]
    pairs_bound = sum(int(np.count_nonzero(union & b)) for b in (1, 2, 4))
    return [
        -float(np.count_nonzero(complete & mand)),
        -float(np.count_nonzero(complete & ~mand)),
        -float(pairs_bound),
        0.0,
        0.0,
    ]


def _solve_component(
    problem: Problem,
    cand: Candidates,
    pairs: np.ndarray,
    max_partners: int,
    deadline: float | None,
    fallback: np.ndarray,
    gmasks: dict[int, int],
    report: OptimalReport,
) -> _ComponentOutcome:
    """Solve the five levels of one component, or stop at the deadline with what is proven."""
    trivial = _trivial_bounds(problem, cand, pairs)
    outcome = _ComponentOutcome(fallback, [trivial[0]] + [None] * 4)
    level = 0
    try:
        master = BundleMaster(problem, cand, pairs, max_partners, deadline)
        pos_in_comp = {int(p): k for k, p in enumerate(pairs)}
        master.initial_columns(
            {pos_in_comp[p]: m for p, m in gmasks.items() if p in pos_in_comp}, 0
        )
        x_prev = None
        n_effort = int(np.count_nonzero(master.completable & ~master.mandatory))
        # Integral levels merged two by two with weights that keep the lexicographic order:
        # one more 義務 facility outweighs all 努力義務 ones; one more covered pair outweighs
        # every partnership. Fewer LP stages, same optimum.
        # (Solving L3 and L4 apart was measured slower: L4 alone took > 500 s nationally.)
        stages: list[tuple[tuple[int, float], ...]] = [
            ((0, float(n_effort + 1)), (1, 1.0)),
            ((2, float(max_partners * len(master.facs) + 1)), (3, 1.0)),
            ((4, 1.0),),
        ]
        for stage in stages:
            level = stage[0][0]
            outcome.bounds[level] = trivial[level]
            t_level, rounds0 = time.monotonic(), master.rounds
            value, rc = master.solve_lp(stage)
            t_lp = time.monotonic() - t_level
            if len(stage) == 1:
                outcome.bounds[level] = value  # an LP bound over all columns (pricing converged)
            x = master.values()
            how = "lp"
            if master.is_integral(x):
                report.lp_integral_levels += 1
            else:
                how = "milp"
                start = (
                    None
                    if x_prev is None
                    else np.concatenate((x_prev, np.zeros(len(x) - len(x_prev))))
                )
                x = master.solve_milp(stage, value, rc, start)
                report.milp_levels += 1
            for lvl, _ in stage:
                achieved = master.objective_of(lvl, x)
                if lvl < 4:
                    achieved = float(round(achieved))
                    master.fix_level(lvl, achieved)
                outcome.bounds[lvl] = achieved
            x_prev = x
            outcome.chosen = master.chosen(x)[0]
            report.slowest.append(
                {
                    "facilities": len(master.facs),
                    "level": "+".join(LEVELS[lv] for lv, _ in stage),
                    "how": how,
                    "lp_s": round(t_lp, 3),
                    "total_s": round(time.monotonic() - t_level, 3),
                    "rounds": master.rounds - rounds0,
                    "columns": len(master.lp_cols),
                }
            )
            report.slowest = sorted(report.slowest, key=lambda r: -r["total_s"])[:8]
        report.columns += len(master.lp_cols)
        report.pricing_rounds += master.rounds
    except _Timeout:
        outcome.stopped = level
    return outcome


def _gap(
    problem: Problem, cand: Candidates, chosen: np.ndarray, outcomes: list[_ComponentOutcome]
) -> tuple[str | None, dict[str, float]]:
    """The first level whose proven bound exceeds what the proposal achieves (maximisation form)."""
    from matcher.objective import evaluate

    got = evaluate(problem, cand, chosen)
    achieved = [
        got.mandatory_full,
        got.effort_full,
        got.pairs_covered,
        -got.partnerships,
        -got.distance_km,
    ]
    for level in range(5):
        parts = [o.bounds[level] for o in outcomes]
        if any(b is None for b in parts):
            return LEVELS[level], {"level": level + 1, "achieved": _shown(level, achieved[level])}
        bound = -sum(parts)  # type: ignore[arg-type]
        tol = 1e-6 * max(1.0, abs(bound)) if level == 4 else 0.5
        if bound - achieved[level] > tol:
            return LEVELS[level], {
                "level": level + 1,
                "achieved": _shown(level, achieved[level]),
                "bound": _shown(level, bound),
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
) -> tuple[np.ndarray, OptimalReport]:
    """Positions into ``cand`` of the lexicographically optimal proposal, and how it was proven.

    With a time limit, components not finished keep the last proven level's proposal (or the
    greedy one); the report then names the first level whose proven bound the proposal does not
    reach, with both values — never calling the result optimal.
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
    greedy_label = pair_label[greedy]
    gmasks = greedy_bundles(cand, greedy)
    outcomes: list[_ComponentOutcome] = []
    done = 0
    total = int(np.count_nonzero(problem.missing))
    # Smallest components first: under a time limit, only the largest is left unproven.
    sizes = np.diff(offsets)
    for comp in np.lexsort((np.arange(count), sizes)):
        pairs = order[offsets[comp] : offsets[comp + 1]]
        if len(pairs) == 0:
            continue
        report.components += 1
        outcome = _solve_component(
            problem,
            cand,
            pairs,
            max_partners,
            deadline,
            greedy[greedy_label == comp],
            gmasks,
            report,
        )
        outcomes.append(outcome)
        done += len(np.unique(cand.fac[pairs]))
        if progress:
            progress(done, total)
    chosen = np.unique(np.concatenate([o.chosen for o in outcomes])).astype(np.int64)
    if any(o.stopped is not None for o in outcomes):
        report.proven = False
        report.stopped_level, report.bounds = _gap(problem, cand, chosen, outcomes)
        if report.stopped_level is None:  # every bound met although the clock ran out
            report.proven = True
    report.seconds = time.monotonic() - t0
    return chosen, report
