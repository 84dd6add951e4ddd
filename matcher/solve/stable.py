"""Stable baseline: facility-proposing hospital/resident matching with distance preferences.

Run once per partner slot: in each round every facility still missing something proposes, in
order of distance, to institutions that would add a missing capability; an institution keeps
the nearest proposers up to its remaining capacity (ties by id). The result of each round is
stable for that round's preferences.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..candidates import Candidates, Problem


def _round(
    problem: Problem,
    cand: Candidates,
    start: np.ndarray,
    need: np.ndarray,
    remaining: np.ndarray,
    partnered: set[tuple[int, int]],
    active: list[int],
) -> list[int]:
    """One hospital/resident round; returns the chosen candidate positions."""
    nxt = {f: int(start[f]) for f in active}
    held: dict[int, list[tuple[float, int, int]]] = {}  # inst -> max-heap of (-km, -fac, pos)
    free = list(reversed(active))
    while free:
        f = free.pop()
        p = nxt[f]
        end = int(start[f + 1])
        while p < end and not (
            cand.covers[p] & need[f]
            and remaining[cand.inst[p]] != 0
            and (f, int(cand.inst[p])) not in partnered
        ):
            p += 1
        if p >= end:
            continue  # nobody left to propose to
        nxt[f] = p + 1
        i = int(cand.inst[p])
        heap = held.setdefault(i, [])
        heapq.heappush(heap, (-float(cand.km[p]), -f, p))
        if remaining[i] >= 0 and len(heap) > remaining[i]:
            _, neg_f, _ = heapq.heappop(heap)  # the farthest (then highest id) is rejected
            free.append(-neg_f)
    return [p for heap in held.values() for _, _, p in heap]


def solve_stable(problem: Problem, cand: Candidates, max_partners: int) -> np.ndarray:
    """Positions into ``cand`` of the round-wise stable proposal (inputs are not modified)."""
    start = cand.fac_start()
    remaining = problem.capacity.copy()
    need = problem.missing.astype(np.int64)
    partnered: set[tuple[int, int]] = set()
    chosen: list[int] = []
    for _ in range(max_partners):
        active = [int(f) for f in np.flatnonzero(need)]
        picked = _round(problem, cand, start, need, remaining, partnered, active)
        if not picked:
            break
        for p in picked:
            f, i = int(cand.fac[p]), int(cand.inst[p])
            need[f] &= ~int(cand.covers[p])
            partnered.add((f, i))
            if remaining[i] > 0:
                remaining[i] -= 1
        chosen.extend(picked)
    return np.array(sorted(chosen), dtype=np.int64)
