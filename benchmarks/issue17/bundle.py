"""Frozen copy of ``matcher/solve/bundle.py`` as issue 17 left it (benchmarks only).

The bundle model of one component: columns, rows (one method per row family) and costs.

A *bundle* (p, s) is a candidate pair p = (f, i) with a non-empty subset s of what i covers
for f: "i becomes a partner of f and is counted for the capabilities in s". Columns are never
materialised for all bundles: a bundle is the pair position and a 3-bit mask, and every
quantity the solver needs (costs, reduced costs, matrix entries) is computed from the pair's
arrays. Pairs at institutions with capacity 0 can never be chosen and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.candidates import Candidates, Problem
from matcher.vocab import Level

BITS = (1, 2, 4)
SUBSET_SIZE = np.array([0, 1, 1, 2, 1, 2, 2, 3], np.int64)


@dataclass(frozen=True)
class Stage:
    """Levels solved as one weighted objective; the integer weights keep the order exact."""

    levels: tuple[Level, ...]
    weights: tuple[float, ...]

    @property
    def first(self) -> Level:
        return self.levels[0]

    @property
    def continuous(self) -> bool:
        """Whether the objective can take non-integral values (it includes km)."""
        return Level.DISTANCE in self.levels

    @property
    def name(self) -> str:
        return "+".join(level.key for level in self.levels)


@dataclass(frozen=True)
class ColumnEntries:
    """Bundle columns in compressed-column form (rows of the base model and objective rows)."""

    starts: np.ndarray
    rows: np.ndarray
    values: np.ndarray


def _dense(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for integers in [0, size), without a sort."""
    seen = np.zeros(size, bool)
    seen[values] = True
    rank = np.cumsum(seen) - 1
    return np.flatnonzero(seen), rank[values]


class ComponentGraph:
    """The arrays of one component's usable pairs, indexed by local positions, and its rows.

    Pairs at institutions with capacity 0 can never be chosen: they are kept aside in
    ``zero_pairs``. Subclasses add their row families with ``_rows`` and end with
    ``_finish_rows``.
    """

    def __init__(
        self, problem: Problem, cand: Candidates, pairs: np.ndarray, max_partners: int
    ) -> None:
        usable = problem.capacity[cand.inst[pairs]] != 0
        self.zero_pairs = pairs[~usable]  # at capacity-0 institutions: reported, never chosen
        self.pairs = pairs[usable]  # global candidate positions, sorted by (fac, km, inst)
        self.max_partners = max_partners
        fac_g, inst_g = cand.fac[self.pairs], cand.inst[self.pairs]
        self.facs, self.pair_f = _dense(fac_g, cand.n_fac)
        self.insts, self.pair_i = _dense(inst_g, cand.n_inst)
        self.pair_km = cand.km[self.pairs].astype(float)
        self.pair_covers = cand.covers[self.pairs].astype(np.int64)
        nf = len(self.facs)
        self.miss = problem.missing[self.facs].astype(np.int64)
        union = np.zeros(nf, np.int64)
        np.bitwise_or.at(union, self.pair_f, self.pair_covers)
        self.union = union
        self.completable = union == self.miss
        self.mandatory = problem.mandatory[self.facs]
        self._upper: list[np.ndarray] = []
        self.n_rows = 0
        self.row_upper = np.zeros(0)

    def _rows(self, count: int, upper: np.ndarray | float) -> np.ndarray:
        idx = self.n_rows + np.arange(count, dtype=np.int64)
        self.n_rows += count
        self._upper.append(np.broadcast_to(np.asarray(upper, float), (count,)).copy())
        return idx

    def _finish_rows(self) -> None:
        self.row_upper = np.concatenate(self._upper) if self._upper else np.zeros(0)

    def add_capacity_rows(self, capacity: np.ndarray) -> np.ndarray:
        """capacity[i]: Σ x[f,i,·] ≤ K_i where K_i is below the facilities in reach."""
        reach = np.bincount(self.pair_i, minlength=len(self.insts))
        binding = np.flatnonzero((capacity >= 0) & (capacity < reach))
        out = np.full(len(self.insts), -1, np.int64)
        out[binding] = self._rows(len(binding), capacity[binding].astype(float))
        return out


class BundleModel(ComponentGraph):
    """The bundle model of one component.

    Rows, in the order they are added: ``cover`` (f, c) ≤ 1, ``full`` (f, c) ≤ 0 for completable
    facilities, ``partners`` f ≤ P, ``capacity`` i ≤ K_i for binding institutions. The z column
    of a completable facility enters only its full rows.
    """

    def __init__(
        self, problem: Problem, cand: Candidates, pairs: np.ndarray, max_partners: int
    ) -> None:
        super().__init__(problem, cand, pairs, max_partners)
        self.z_fac = np.flatnonzero(self.completable)
        self.r_cov = self.add_cover_rows()
        self.r_full = self.add_full_rows()
        self.r_part = self.add_partner_rows()
        self.r_cap = self.add_capacity_rows(problem.capacity[self.insts])
        self._finish_rows()

    # --- rows, one method per family ----------------------------------------------------------
    def add_cover_rows(self) -> np.ndarray:
        """cover[f, c]: Σ_{i, s ∋ c} x[f,i,s] ≤ 1 (a capability is counted on one bundle)."""
        out = np.full((len(self.facs), 3), -1, np.int64)
        for b, bit in enumerate(BITS):
            idx = np.flatnonzero(self.miss & bit)
            out[idx, b] = self._rows(len(idx), 1.0)
        return out

    def add_full_rows(self) -> np.ndarray:
        """full[f, c]: z[f] − Σ_{i, s ∋ c} x[f,i,s] ≤ 0 for completable facilities."""
        out = np.full((len(self.facs), 3), -1, np.int64)
        for b, bit in enumerate(BITS):
            idx = np.flatnonzero((self.miss & bit).astype(bool) & self.completable)
            out[idx, b] = self._rows(len(idx), 0.0)
        return out

    def add_partner_rows(self) -> np.ndarray:
        """partners[f]: Σ_{i, s} x[f,i,s] ≤ P."""
        return self._rows(len(self.facs), float(self.max_partners))

    # --- objective coefficients ---------------------------------------------------------------
    def bundle_cost(self, level: Level, pair: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Coefficient of bundles in ``level``'s minimisation objective."""
        if level is Level.PAIRS_COVERED:
            return np.asarray(-SUBSET_SIZE[mask], float)
        if level is Level.PARTNERSHIPS:
            return np.ones(len(pair))
        if level is Level.DISTANCE:
            return np.asarray(self.pair_km[pair], float)
        return np.zeros(len(pair))

    def z_cost(self, level: Level) -> np.ndarray:
        """Coefficient of the z columns in ``level``'s minimisation objective."""
        if level is Level.MANDATORY_FULL:
            return np.asarray(-self.mandatory[self.z_fac].astype(float), float)
        if level is Level.EFFORT_FULL:
            return np.asarray(-(~self.mandatory[self.z_fac]).astype(float), float)
        return np.zeros(len(self.z_fac))

    def stage_cost(self, stage: Stage, pair: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = np.zeros(len(pair))
        for level, weight in zip(stage.levels, stage.weights, strict=True):
            out += weight * self.bundle_cost(level, pair, mask)
        return out

    def stage_z_cost(self, stage: Stage) -> np.ndarray:
        out = np.zeros(len(self.z_fac))
        for level, weight in zip(stage.levels, stage.weights, strict=True):
            out += weight * self.z_cost(level)
        return out

    # --- matrix entries -----------------------------------------------------------------------
    def z_entries(self) -> ColumnEntries:
        rows = self.r_full[self.z_fac]
        counts = (rows >= 0).sum(axis=1)
        return ColumnEntries(
            np.concatenate(([0], np.cumsum(counts))).astype(np.int32),
            rows[rows >= 0].astype(np.int32),  # row-major flatten keeps column order
            np.ones(int(counts.sum())),
        )

    def bundle_entries(
        self, pair: np.ndarray, mask: np.ndarray, obj_rows: dict[Level, int]
    ) -> ColumnEntries:
        """Entries of bundle columns: cover, full, partners, capacity and fixed-level rows."""
        f, i = self.pair_f[pair], self.pair_i[pair]
        k = np.arange(len(pair))
        ent_col, ent_row, ent_val = [], [], []
        for b, bit in enumerate(BITS):
            on = (mask & bit) > 0
            ent_col += [k[on]]
            ent_row += [self.r_cov[f[on], b]]
            ent_val += [np.ones(int(on.sum()))]
            full = on & (self.r_full[f, b] >= 0)
            ent_col += [k[full]]
            ent_row += [self.r_full[f[full], b]]
            ent_val += [-np.ones(int(full.sum()))]
        ent_col += [k]
        ent_row += [self.r_part[f]]
        ent_val += [np.ones(len(k))]
        capped = self.r_cap[i] >= 0
        ent_col += [k[capped]]
        ent_row += [self.r_cap[i[capped]]]
        ent_val += [np.ones(int(capped.sum()))]
        for level, row in obj_rows.items():
            coef = self.bundle_cost(level, pair, mask)
            nz = coef != 0
            ent_col += [k[nz]]
            ent_row += [np.full(int(nz.sum()), row)]
            ent_val += [coef[nz]]
        c, r, v = np.concatenate(ent_col), np.concatenate(ent_row), np.concatenate(ent_val)
        order = np.lexsort((r, c))
        return ColumnEntries(
            np.searchsorted(c[order], k).astype(np.int32),
            r[order].astype(np.int32),
            v[order],
        )
