"""Frozen copy of ``matcher/solve/pattern.py`` as issue 17 left it (benchmarks only).

The per-facility pattern formulation (Dantzig–Wolfe form of the bundle model).

A pattern column λ[f, p] is a whole partner set p of facility f: at most P pairs (f, i) with
pairwise different ``covers`` values. Everything that concerns one facility alone — a capability
counted once, at most P partners, "fully covered" — is inside the column, so the master keeps
only one convexity row per facility and the binding capacity rows (plus the rows fixing earlier
levels)::

    conv      Σ_p λ[f, p]                ≤ 1     for every facility f
    capacity  Σ_{f, p ∋ i} λ[f, p]        ≤ K_i   for every institution with a binding K_i

with the costs of MODEL.md's levels per pattern: L1/L2 −1 if the union of its covers is all f
misses (義務 / 努力義務), L3 −|union|, L4 |p|, L5 Σ km.

Why: the bundle master needs 3–7 rows per facility and its LP relaxation lets a facility mix
fractions of incompatible bundles, so column generation needed dozens of slow re-solves on the
national instance. Here the LP bound equals the Lagrangian bound with only capacity relaxed
(the strongest the bundle pricing could prove) and the master has one row per facility.

Pricing at duals y (y ≤ 0 for ≤ rows, minimisation): a pair costs a = μ4 + μ5·km − y_cap(i) ≥ 0
and the facility's part depends only on the union U: h(U) = −μ3·|U| − [U = missing]·(μ1 or
μ2). Since a ≥ 0, the cheapest pattern takes for each covers value v at most the cheapest pair
of f with covers v, so it is the best of ≤ 63 combinations of covers values per facility: exact
and O(pairs). Several pairs with the same covers value are never cheaper (a ≥ 0), more than
three never needed (three values can always cover what more cover).
"""

from __future__ import annotations

from functools import cached_property, reduce
from itertools import combinations
from operator import or_

import numpy as np
import pandas as pd

from matcher.candidates import Candidates, Problem
from matcher.vocab import Level

from .bundle import ColumnEntries, ComponentGraph, Stage
from .master import HighsMaster
from .staged import INT_TOL, RC_TOL, StagedSolver, best_per_facility

POPCOUNT = np.array([bin(u).count("1") for u in range(8)], np.int64)
_WIDTH = 3  # at most three pairs per pattern (three capabilities)
# Combinations of distinct covers values, fewest first (ties prefer fewer partners).
_COMBOS: tuple[tuple[int, ...], ...] = tuple(
    c for k in range(1, _WIDTH + 1) for c in combinations(range(1, 8), k)
)
_PER_FAC_ADD = 7  # new patterns per facility per round: the best of each union


class PatternModel(ComponentGraph):
    """Rows of the pattern master and the per-(facility, covers value) groups of pairs."""

    def __init__(
        self, problem: Problem, cand: Candidates, pairs: np.ndarray, max_partners: int
    ) -> None:
        super().__init__(problem, cand, pairs, max_partners)
        self.r_conv = self._rows(len(self.facs), 1.0)
        self.r_cap = self.add_capacity_rows(problem.capacity[self.insts])
        self._finish_rows()
        width = min(max_partners, _WIDTH)
        self.combos = [c for c in _COMBOS if len(c) <= width]
        self.combo_union = np.array([reduce(or_, c) for c in self.combos], np.int64)
        # Pairs grouped by (facility, covers value), each group in (km, institution) order.
        key = self.pair_f * 8 + self.pair_covers
        self.grp_order = np.argsort(key, kind="stable")
        skey = key[self.grp_order]
        self.grp_start = np.flatnonzero(np.r_[True, skey[1:] != skey[:-1]][: len(skey)])
        self.grp_f = skey[self.grp_start] // 8
        self.grp_v = skey[self.grp_start] % 8
        self.grp_of = np.repeat(
            np.arange(len(self.grp_start), dtype=np.int32),
            np.diff(np.r_[self.grp_start, len(skey)]),
        )
        # Representatives for the reduced-cost enumeration: every pair at an institution with a
        # capacity row, and of the others only the nearest of each group (see ``_add_within``).
        capped = self.r_cap[self.pair_i] >= 0
        free = np.flatnonzero(~capped[self.grp_order])
        g = self.grp_of[free]
        self.representative = capped.copy()
        self.representative[self.grp_order[free[np.r_[True, g[1:] != g[:-1]][: len(g)]]]] = True
        # Per-pair arrays in group order: pricing reads them every round without a gather.
        self.grp_km = self.pair_km[self.grp_order]
        self.grp_caprow = self.r_cap[self.pair_i[self.grp_order]]

    def level_costs(
        self, level: Level, f: np.ndarray, union: np.ndarray, n: np.ndarray, km: np.ndarray
    ) -> np.ndarray:
        """Coefficient of patterns in ``level``'s minimisation objective."""
        full = union == self.miss[f]
        if level is Level.MANDATORY_FULL:
            return -np.asarray(full & self.mandatory[f], float)
        if level is Level.EFFORT_FULL:
            return -np.asarray(full & ~self.mandatory[f], float)
        if level is Level.PAIRS_COVERED:
            return np.asarray(-POPCOUNT[union], float)
        if level is Level.PARTNERSHIPS:
            return np.asarray(n, float)
        return np.asarray(km, float)


class PatternPricing:
    """Reduced costs of every pattern at one dual vector, and the Lagrangian bound."""

    def __init__(
        self, model: PatternModel, stage: Stage, obj_rows: dict[Level, int], y: np.ndarray
    ) -> None:
        m = self.model = model
        self.y = y
        ye = self.ye = np.append(y, 0.0)  # row index -1 → dual 0
        mu = {level: 0.0 for level in Level}
        for level, weight in zip(stage.levels, stage.weights, strict=True):
            mu[level] += weight
        for level, row in obj_rows.items():
            mu[level] -= ye[row]
        self.mu = mu
        nf = len(m.facs)
        # a per pair, computed in group order (the L1–L4 stages have no km term).
        va = mu[Level.PARTNERSHIPS] - ye[m.grp_caprow]
        if mu[Level.DISTANCE] != 0:
            va += mu[Level.DISTANCE] * m.grp_km
        self._va = va
        # Cheapest pair of each (facility, covers value); first in (km, institution) on ties.
        gmin = np.minimum.reduceat(va, m.grp_start) if len(va) else np.zeros(0)
        at_min = np.flatnonzero(va <= gmin[m.grp_of])
        g = m.grp_of[at_min]
        first = at_min[np.r_[True, g[1:] != g[:-1]][: len(g)]]  # groups are contiguous
        self.best = np.full((nf, 8), np.inf)
        self.best_pair = np.full((nf, 8), -1, np.int64)
        self.best[m.grp_f, m.grp_v] = gmin
        self.best_pair[m.grp_f, m.grp_v] = m.grp_order[first]
        bonus = -np.where(m.mandatory, mu[Level.MANDATORY_FULL], mu[Level.EFFORT_FULL])
        u = np.arange(8)
        self.h = -mu[Level.PAIRS_COVERED] * POPCOUNT[u][None, :] + np.where(
            u[None, :] == m.miss[:, None], bonus[:, None], 0.0
        )
        self.conv = -ye[m.r_conv]  # ≥ 0
        cost = np.empty((nf, len(m.combos)))
        for k, combo in enumerate(m.combos):
            cost[:, k] = self.best[:, list(combo)].sum(axis=1) + self.h[:, m.combo_union[k]]
        self.rc = cost + self.conv[:, None]  # inf where a covers value is missing
        self.rc_min = np.minimum(self.rc.min(axis=1), 0.0)

    @cached_property
    def a(self) -> np.ndarray:
        """a per pair in the model's pair order (≥ 0: partnership, km and capacity prices)."""
        out = np.empty(len(self._va))
        out[self.model.grp_order] = self._va
        return out

    def bound(self, row_upper: np.ndarray, z_cost: np.ndarray) -> float:
        """LB(y) = b·y + Σ_f min(0, cheapest pattern of f): valid for every feasible solution."""
        return float(row_upper @ self.y + self.rc_min.sum())

    def pattern_rc(self, f: np.ndarray, pairs: np.ndarray, union: np.ndarray) -> np.ndarray:
        """Reduced costs of given patterns (``pairs`` padded with −1)."""
        a = np.where(pairs >= 0, self.a[np.maximum(pairs, 0)], 0.0).sum(axis=1)
        return np.asarray(a + self.h[f, union] + self.conv[f], float)


class PatternSolver(StagedSolver[PatternModel, PatternPricing]):
    """Pattern columns, their pricing and reduced-cost enumeration (the strategy is inherited)."""

    # Ties are common here (every institution whose capacity dual is 0 prices alike in the
    # L3+L4 stage): uncapped, a national warm re-plan enumerated 641,000 patterns for the
    # fractional facilities and the neighbourhood MILP took 150 s; with 12, 1,026 and 0.27 s.
    neighbourhood_per_facility = 12

    def __init__(
        self,
        model: PatternModel,
        cand: Candidates,
        deadline: float | None,
        start_pairs: np.ndarray,
        start_source: np.ndarray,
    ) -> None:
        self.cand = cand
        self.model = m = model
        empty = ColumnEntries(np.zeros(1, np.int32), np.zeros(0, np.int32), np.zeros(0))
        self.master = HighsMaster(m.row_upper, empty, deadline)
        self.row_upper = list(m.row_upper)
        self.n_z = 0
        self.obj_rows: dict[Level, int] = {}
        self.rounds = 0
        self.pat_f = np.zeros(0, np.int64)
        self.pat_pairs = np.zeros((0, _WIDTH), np.int64)
        self.pat_union = np.zeros(0, np.int64)
        self.pat_n = np.zeros(0, np.int64)
        self.pat_km = np.zeros(0)
        self._seen: set[tuple[int, ...]] = set()
        self._initial_columns(start_pairs, start_source)

    # --- columns -------------------------------------------------------------------------------
    def _initial_columns(self, start_pairs: np.ndarray, start_source: np.ndarray) -> None:
        """The start proposals' partner sets, the nearest pair of each covers value alone, and
        each facility's cheapest pattern of every union at zero duals (partnerships, then km)."""
        m = self.model
        rows: list[list[int]] = []
        f_of = m.pair_f[start_pairs]
        order = np.lexsort((start_pairs, f_of, start_source))
        by: dict[tuple[int, int], list[int]] = {}
        for k in order.tolist():
            by.setdefault((int(start_source[k]), int(f_of[k])), []).append(int(start_pairs[k]))
        width = min(m.max_partners, _WIDTH)  # a start beyond the partner limit is no pattern
        rows += [ps for ps in by.values() if len(ps) <= width]
        self._add(self._pack(rows), None)
        self._add(self._pack([[int(p)] for p in m.grp_order[m.grp_start]]), None)
        zero = PatternPricing(
            m, Stage((Level.PARTNERSHIPS, Level.DISTANCE), (1000.0, 1.0)), {}, np.zeros(m.n_rows)
        )
        self._add(self._best_patterns(zero, np.inf), None)

    def _pack(self, rows: list[list[int]]) -> np.ndarray:
        out = np.full((len(rows), _WIDTH), -1, np.int64)
        for k, ps in enumerate(rows):
            out[k, : len(ps)] = sorted(ps)
        return out

    def _add(self, pairs: np.ndarray, stage: Stage | None) -> int:
        """Add patterns (rows of pair positions padded with −1) not yet in the master."""
        if len(pairs) == 0:
            return 0
        pairs = np.sort(np.where(pairs < 0, np.iinfo(np.int64).max, pairs), axis=1)
        pairs[pairs == np.iinfo(np.int64).max] = -1
        keep = []
        for k, key in enumerate(map(tuple, pairs.tolist())):
            if key not in self._seen:
                self._seen.add(key)
                keep.append(k)
        if not keep:
            return 0
        pairs = pairs[keep]
        m = self.model
        on = pairs >= 0
        safe = np.maximum(pairs, 0)
        f = m.pair_f[safe[:, 0]]
        union = np.bitwise_or.reduce(np.where(on, m.pair_covers[safe], 0), axis=1)
        n = on.sum(axis=1)
        km = np.where(on, m.pair_km[safe], 0.0).sum(axis=1)
        cost = np.zeros(len(f)) if stage is None else self._stage_costs(stage, f, union, n, km)
        self.master.add_columns(cost, self._entries(f, safe, on, union, n, km))
        self.pat_f = np.concatenate((self.pat_f, f))
        self.pat_pairs = np.concatenate((self.pat_pairs, pairs))
        self.pat_union = np.concatenate((self.pat_union, union))
        self.pat_n = np.concatenate((self.pat_n, n))
        self.pat_km = np.concatenate((self.pat_km, km))
        return len(f)

    def _entries(
        self,
        f: np.ndarray,
        safe: np.ndarray,
        on: np.ndarray,
        union: np.ndarray,
        n: np.ndarray,
        km: np.ndarray,
    ) -> ColumnEntries:
        m = self.model
        k = np.arange(len(f))
        cols, rws, vals = [k], [m.r_conv[f]], [np.ones(len(k))]
        cap = np.where(on, m.r_cap[m.pair_i[safe]], -1)
        for j in range(_WIDTH):
            hit = cap[:, j] >= 0
            cols.append(k[hit])
            rws.append(cap[hit, j])
            vals.append(np.ones(int(hit.sum())))
        for level, row in self.obj_rows.items():
            coef = m.level_costs(level, f, union, n, km)
            nz = coef != 0
            cols.append(k[nz])
            rws.append(np.full(int(nz.sum()), row))
            vals.append(coef[nz])
        c, r, v = np.concatenate(cols), np.concatenate(rws), np.concatenate(vals)
        order = np.lexsort((r, c))
        return ColumnEntries(
            np.searchsorted(c[order], np.arange(len(f) + 1)).astype(np.int32),
            r[order].astype(np.int32),
            v[order],
        )

    def _stage_costs(
        self, stage: Stage, f: np.ndarray, union: np.ndarray, n: np.ndarray, km: np.ndarray
    ) -> np.ndarray:
        out = np.zeros(len(f))
        for level, weight in zip(stage.levels, stage.weights, strict=True):
            out += weight * self.model.level_costs(level, f, union, n, km)
        return out

    @property
    def n_columns(self) -> int:
        return len(self.pat_f)

    def lp_dual(self, stage: Stage) -> bool | None:
        """Dual simplex in the km stage, primal elsewhere. National instance, same machine:
        primal throughout 42 s, dual throughout 134 s (L3+L4 98 s), the bundle model's mix
        (dual after new costs or rows) 60 s; the km stage 24 s primal, 17 s dual."""
        return stage.continuous

    def column_facilities(self) -> np.ndarray:
        return self.pat_f

    def z_cost(self, stage: Stage) -> np.ndarray:
        return np.zeros(0)

    def costs(self, stage: Stage) -> np.ndarray:
        return self._stage_costs(stage, self.pat_f, self.pat_union, self.pat_n, self.pat_km)

    def pricing(self, stage: Stage, y: np.ndarray) -> PatternPricing:
        return PatternPricing(self.model, stage, self.obj_rows, y)

    def _best_patterns(self, pricing: PatternPricing, below: float) -> np.ndarray:
        """Each facility's cheapest pattern of every union with reduced cost < ``below``."""
        m = self.model
        out = []
        for u in np.unique(m.combo_union):
            ks = np.flatnonzero(m.combo_union == u)
            sub = pricing.rc[:, ks]
            j = np.argmin(sub, axis=1)
            rc = sub[np.arange(len(sub)), j]
            fs = np.flatnonzero(rc < below)
            if len(fs) == 0:
                continue
            pats = np.full((len(fs), _WIDTH), -1, np.int64)
            for k_local in np.unique(j[fs]):
                sel = fs[j[fs] == k_local]
                for col, v in enumerate(m.combos[ks[k_local]]):
                    pats[np.flatnonzero(j[fs] == k_local), col] = pricing.best_pair[sel, v]
            out.append(pats)
        return np.concatenate(out) if out else np.zeros((0, _WIDTH), np.int64)

    def _add_priced(self, pricing: PatternPricing, stage: Stage) -> int:
        return self._add(self._best_patterns(pricing, -RC_TOL), stage)

    def _add_within(
        self,
        pricing: PatternPricing,
        lb: float,
        limit: float,
        stage: Stage,
        facilities: np.ndarray | None = None,
        per_facility: int | None = None,
    ) -> int:
        """Add every pattern that could be in a solution worth ≤ ``limit`` (``per_facility``: see
        ``StagedSolver._add_within``).

        A pattern p of f in such a solution forces LB − min(0, rc_min f) + rc_p ≤ limit. For
        each combination of covers values with slack s = that threshold − its cheapest rc ≥ 0,
        every choice of pairs whose extra cost over the cheapest of each value sums to ≤ s.

        Only representative pairs are combined: a pair at an institution without a capacity row
        can be swapped for the nearest such pair of the same facility and covers value without
        touching any row (same union and count) or raising the stage's cost (the km stage
        prefers the nearer one, the others do not see km), so some optimal solution within the
        limit uses only representatives. Without this, ties among the many uncapacitated pairs
        of the L3+L4 stage enumerated 641,000 patterns and a 179 s MILP on the national instance.
        """
        m = self.model
        thr = limit - lb + pricing.rc_min
        slack_all = thr[:, None] - pricing.rc
        if facilities is not None:
            slack_all[~facilities] = -np.inf
        extra = pricing.a - pricing.best[m.pair_f, m.pair_covers]
        found = []
        for k, combo in enumerate(m.combos):
            slack = slack_all[:, k]
            fs = np.flatnonzero(slack >= -1e-9)
            if len(fs) == 0:
                continue
            ok_f = np.zeros(len(m.facs), bool)
            ok_f[fs] = True
            table: pd.DataFrame | None = None
            for col, v in enumerate(combo):
                sel = np.flatnonzero((m.pair_covers == v) & ok_f[m.pair_f] & m.representative)
                sel = sel[extra[sel] <= slack[m.pair_f[sel]] + 1e-9]
                part = pd.DataFrame({"f": m.pair_f[sel], f"p{col}": sel, f"e{col}": extra[sel]})
                if table is None:
                    table = part
                    table["e"] = table.pop("e0")
                else:
                    table = table.merge(part, on="f")
                    table["e"] = table["e"] + table.pop(f"e{col}")
                table = table[table["e"].to_numpy() <= slack[table["f"].to_numpy()] + 1e-9]
            assert table is not None
            pats = np.full((len(table), _WIDTH), -1, np.int64)
            for col in range(len(combo)):
                pats[:, col] = table[f"p{col}"].to_numpy()
            found.append(pats)
        if not found:
            return 0
        pats = np.concatenate(found)
        if per_facility is not None and len(pats):
            on = pats >= 0
            safe = np.maximum(pats, 0)
            f = m.pair_f[safe[:, 0]]
            union = np.bitwise_or.reduce(np.where(on, m.pair_covers[safe], 0), axis=1)
            km = np.where(on, m.pair_km[safe], 0.0).sum(axis=1)
            rc = pricing.pattern_rc(f, pats, union)
            pats = pats[best_per_facility(f, rc, km, per_facility)]
        return self._add(pats, stage)

    def _fractional_facilities(self, x: np.ndarray, hops: int) -> np.ndarray:
        m = self.model
        frac = np.minimum(x, 1 - x) > INT_TOL
        free_fac = np.zeros(len(m.facs), bool)
        free_fac[self.pat_f[frac]] = True
        used = x > INT_TOL
        on = self.pat_pairs >= 0
        inst = np.where(on, m.pair_i[np.maximum(self.pat_pairs, 0)], -1)
        for _ in range(hops):
            touched = np.zeros(len(m.insts) + 1, bool)
            touched[inst[free_fac[self.pat_f] & used].ravel()] = True
            touched[-1] = False
            free_fac[self.pat_f[used & touched[inst].any(axis=1)]] = True
        return free_fac

    def chosen(self, x: np.ndarray) -> np.ndarray:
        """Global candidate positions of the pairs of the patterns at 1 in ``x``."""
        pairs = self.pat_pairs[x > 0.5]
        return np.sort(self.model.pairs[pairs[pairs >= 0]])

    def capacity_duals(
        self, pricing: PatternPricing, converged: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """(institutions, y_i ≤ 0): "one more unit at i lowers the stage bound by ≤ |y_i|".

        Institutions with a capacity row give its dual (LB(y) moves by y_i per unit); non-binding
        ones 0. A capacity-0 institution has no row: with its new row's dual at 0, each facility
        in range may lower its part of LB to its cheapest pattern through i, and the sum of those
        drops is the bound. A facility with no usable pair at all is not in the model: −inf.
        """
        m = self.model
        duals = np.minimum(pricing.ye[m.r_cap], 0.0)
        zp = m.zero_pairs
        if len(zp) == 0:
            return m.insts, duals
        zf = self.cand.fac[zp]
        fpos = np.minimum(np.searchsorted(m.facs, zf), len(m.facs) - 1)
        inside = m.facs[fpos] == zf
        v = self.cand.covers[zp].astype(np.int64)
        a0 = pricing.mu[Level.PARTNERSHIPS] + pricing.mu[Level.DISTANCE] * self.cand.km[zp]
        with_v = np.full((len(m.facs), 8), np.inf)  # cheapest rest of a pattern holding value v
        for k, combo in enumerate(m.combos):
            for w in combo:
                others = [c for c in combo if c != w]
                rest = pricing.best[:, others].sum(axis=1) + pricing.h[:, m.combo_union[k]]
                with_v[:, w] = np.minimum(with_v[:, w], rest)
        through = a0 + with_v[fpos, v] + pricing.conv[fpos]
        drop = np.minimum(through - pricing.rc_min[fpos], 0.0)
        drop[~inside] = -np.inf
        u, inv = np.unique(self.cand.inst[zp], return_inverse=True)
        out = np.zeros(len(u))
        np.add.at(out, inv, drop)
        return np.concatenate((m.insts, u)), np.concatenate((duals, out))
