"""The five-level lexicographic objective of MODEL.md, evaluated on any proposal."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .candidates import Candidates, Problem

KM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Objective:
    """Objective values; ``key()`` orders proposals so that larger is better."""

    mandatory_full: int  # 義務 facilities whose missing becomes empty
    effort_full: int  # 努力義務 facilities whose missing becomes empty
    pairs_covered: int  # (facility, missing capability) pairs covered
    partnerships: int  # new partnerships (fewer is better)
    distance_km: float  # total km over new partnerships (less is better)

    def key(self) -> tuple[int, int, int, int, float]:
        return (
            self.mandatory_full,
            self.effort_full,
            self.pairs_covered,
            -self.partnerships,
            -round(self.distance_km, 6),
        )

    def at_least(self, other: Objective) -> bool:
        """Lexicographically at least as good as ``other`` (distance with a small tolerance)."""
        a, b = self.key()[:4], other.key()[:4]
        if a != b:
            return a > b
        return self.distance_km <= other.distance_km + KM_TOLERANCE * max(1.0, other.distance_km)

    def to_dict(self) -> dict[str, float | int]:
        d = asdict(self)
        d["distance_km"] = round(self.distance_km, 6)
        return d


def coverage_after(problem: Problem, cand: Candidates, chosen: np.ndarray) -> np.ndarray:
    """Mask per facility of missing capabilities covered by the chosen candidate pairs."""
    got = np.zeros(problem.n_fac, np.uint8)
    np.bitwise_or.at(got, cand.fac[chosen], cand.covers[chosen])
    return np.asarray(got & problem.missing, np.uint8)


def evaluate(problem: Problem, cand: Candidates, chosen: np.ndarray) -> Objective:
    """Objective of a proposal given as positions into ``cand`` (one per new partnership)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    got = coverage_after(problem, cand, chosen)
    demand = problem.missing > 0
    full = demand & (got == problem.missing)
    pairs = int(sum(int(np.count_nonzero(got & bit)) for bit in (1, 2, 4)))
    return Objective(
        mandatory_full=int(np.count_nonzero(full & problem.mandatory)),
        effort_full=int(np.count_nonzero(full & ~problem.mandatory)),
        pairs_covered=pairs,
        partnerships=int(len(chosen)),
        distance_km=float(cand.km[chosen].sum()) if len(chosen) else 0.0,
    )


def check_feasible(
    problem: Problem, cand: Candidates, chosen: np.ndarray, max_partners: int
) -> None:
    """Raise ``AssertionError`` naming the violated rule; the solvers' own safety net."""
    chosen = np.asarray(chosen, dtype=np.int64)
    pairs = cand.fac[chosen] * max(cand.n_inst, 1) + cand.inst[chosen]
    assert len(np.unique(pairs)) == len(pairs), "a partnership is proposed twice"
    per_fac = np.bincount(cand.fac[chosen], minlength=problem.n_fac)
    assert (per_fac <= max_partners).all(), "partner limit exceeded"
    used = np.bincount(cand.inst[chosen], minlength=problem.n_inst)
    limited = problem.capacity >= 0
    assert (used[limited] <= problem.capacity[limited]).all(), "capacity exceeded"
