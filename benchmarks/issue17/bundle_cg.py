"""Frozen copy of ``matcher/solve/bundle_cg.py`` as issue 17 left it (benchmarks only).

Column generation over the bundle model (``bundle.BundleModel``): pricing and columns.

A bundle column x[f,i,s] is a pair (f, i) counted for a subset s of what i covers for f; its
reduced cost separates by capability, so pricing every bundle is O(pairs). With row duals
y ≤ 0 every feasible x satisfies::

    cost·x ≥ LB(y) = Σ_rows b·y + Σ_z min(0, rc_z) + Σ_f LB_f,
    LB_f = min(0, min over ≤ P bundles of f with disjoint subsets of Σ rc[f,i,s])

(each facility keeps its partner and cover rows in the subproblem). Reduced-cost fixing adds a
bundle k (subset s) of f when LB − LB_f + rc_k + the best of f's other bundles ≤ the target.
Kept next to the pattern formulation (``pattern``) as an independent formulation: the tests
compare both, and ``solve_levels(..., formulation="bundle")`` selects it.
"""

from __future__ import annotations

import numpy as np

from matcher.candidates import Candidates
from matcher.vocab import Level

from .bundle import BITS, BundleModel, Stage
from .master import HighsMaster
from .staged import INT_TOL, RC_TOL, StagedSolver, best_per_facility

# Initial bundles: nearest pairs per missing capability. National master, same run: 2 → first
# LP 4.7 s and column generation 32 s; 8 → 8.0 s and 59 s (bigger master, slower re-solves).
_INITIAL_NEAREST = 2
_PER_FAC_ADD = 20  # at most this many new columns per facility per pricing round
_MAX_ADD = 100000  # columns added per pricing round


class BundlePricing:
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


class BundleSolver(StagedSolver[BundleModel, BundlePricing]):
    """Bundle columns, their pricing and reduced-cost enumeration (the strategy is inherited)."""

    model: BundleModel

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

    @property
    def n_columns(self) -> int:
        return len(self.lp_pair)

    def column_facilities(self) -> np.ndarray:
        """The facility (local position) of each non-z column."""
        return np.asarray(self.model.pair_f[self.lp_pair])

    def z_cost(self, stage: Stage) -> np.ndarray:
        return self.model.stage_z_cost(stage)

    def pricing(self, stage: Stage, y: np.ndarray) -> BundlePricing:
        """Reduced costs of every column of the full model at the duals ``y``."""
        return BundlePricing(self.model, stage, self.obj_rows, y)

    def costs(self, stage: Stage) -> np.ndarray:
        m = self.model
        return np.concatenate(
            (m.stage_z_cost(stage), m.stage_cost(stage, self.lp_pair, self.lp_mask))
        )

    def _add_priced(self, pricing: BundlePricing, stage: Stage) -> int:
        bad = np.flatnonzero(pricing.rc < -RC_TOL)
        mask = pricing.mask[bad]
        inside = (self.in_lp[bad] >> mask) & 1 == 1
        if inside.any():  # the pair's cheapest subset is in the master: try its other subsets
            extra_p, extra_m = [], []
            for s in range(1, 8):
                p = bad[inside & ((self.model.pair_covers[bad] & s) == s)]
                p = p[pricing.bundle_rc(p, np.full(len(p), s)) < -RC_TOL]
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

    def _add_within(
        self,
        pricing: BundlePricing,
        lb: float,
        limit: float,
        stage: Stage,
        facilities: np.ndarray | None = None,
        per_facility: int | None = None,
    ) -> int:
        """Add every bundle (of ``facilities``) that could be in a solution worth ≤ ``limit``."""
        cand_p, cand_m, cand_rc = [], [], []
        for s in range(1, 8):
            p = np.flatnonzero((self.model.pair_covers & s) == s)
            if facilities is not None:
                p = p[facilities[self.model.pair_f[p]]]
            p = p[(self.in_lp[p] >> s) & 1 == 0]
            f = self.model.pair_f[p]
            rc = pricing.bundle_rc(p, np.full(len(p), s)) + pricing.rest[f, s] - pricing.fac_lb[f]
            ok = lb + rc <= limit
            cand_p.append(p[ok])
            cand_m.append(np.full(int(ok.sum()), s))
            cand_rc.append(rc[ok])
        pairs, masks = np.concatenate(cand_p), np.concatenate(cand_m)
        if per_facility is not None:
            m = self.model
            pick = best_per_facility(
                m.pair_f[pairs], np.concatenate(cand_rc), m.pair_km[pairs], per_facility
            )
            pairs, masks = pairs[pick], masks[pick]
        return self.add_columns(pairs, masks, stage)

    def _fractional_facilities(self, x: np.ndarray, hops: int) -> np.ndarray:
        """Bool per facility: fractional in ``x``, or ``hops`` shared institutions away."""
        m = self.model
        xs = x[self.n_z :]
        fac = m.pair_f[self.lp_pair]
        inst = m.pair_i[self.lp_pair]
        frac = np.minimum(xs, 1 - xs) > INT_TOL
        free_fac = np.zeros(len(m.facs), bool)
        free_fac[fac[frac]] = True
        zf = x[: self.n_z]
        free_fac[m.z_fac[np.minimum(zf, 1 - zf) > INT_TOL]] = True
        used = xs > INT_TOL
        for _ in range(hops):
            touched = np.zeros(len(m.insts), bool)
            touched[inst[free_fac[fac] & used]] = True
            free_fac[fac[touched[inst] & used]] = True
        return free_fac

    def chosen(self, x: np.ndarray) -> np.ndarray:
        """Global candidate positions of the bundles at 1 in ``x``."""
        on = x[self.n_z :] > 0.5
        return np.sort(self.model.pairs[self.lp_pair[on]])

    def capacity_duals(
        self, pricing: BundlePricing, converged: bool
    ) -> tuple[np.ndarray, np.ndarray]:
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
