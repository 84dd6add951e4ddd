"""Greedy baseline: what a coordinator phoning the nearest hospital would do.

Facilities with the fewest candidates go first; each takes, nearest first, every institution
that still has capacity and adds a capability it is missing, up to the partner limit.
"""

from __future__ import annotations

import numpy as np

from ..candidates import Candidates, Problem


def solve_greedy(problem: Problem, cand: Candidates, max_partners: int) -> np.ndarray:
    """Positions into ``cand`` of the greedy proposal (inputs are not modified)."""
    start = cand.fac_start()
    count = np.diff(start)
    remaining = problem.capacity.copy()
    demand = np.flatnonzero(problem.missing)
    order = demand[np.lexsort((demand, count[demand]))]
    chosen: list[int] = []
    covers, inst = cand.covers, cand.inst
    for f in order:
        need = int(problem.missing[f])
        taken = 0
        for p in range(start[f], start[f + 1]):  # already sorted by (km, institution)
            if taken == max_partners or need == 0:
                break
            i = inst[p]
            if covers[p] & need and remaining[i] != 0:
                chosen.append(p)
                need &= ~int(covers[p])
                taken += 1
                if remaining[i] > 0:
                    remaining[i] -= 1
    return np.array(sorted(chosen), dtype=np.int64)
