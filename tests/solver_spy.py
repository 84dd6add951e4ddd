"""A spy on the optimal solver as ``matcher.match`` calls it: the graph it solved, the warm start
it was given and the answer (the warm-start tests of tests/solve and tests/store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import matcher.match as match_module
from matcher.candidates import Candidates, Problem
from matcher.solve.optimal import OptimalReport, Progress, solve_optimal


@dataclass(frozen=True)
class SolverCall:
    """One call of ``solve_optimal``: positions are into ``cand``, the graph solved."""

    cand: Candidates
    previous: np.ndarray | None
    chosen: np.ndarray

    def rows(self, positions: np.ndarray) -> set[tuple[int, int]]:
        """(planning row, institution position) of ``positions``."""
        return {(int(self.cand.fac[p]), int(self.cand.inst[p])) for p in positions}

    @property
    def warm(self) -> set[tuple[int, int]]:
        """The warm start's pairs (the call must have had one)."""
        assert self.previous is not None, "solve_optimal には前回の提案が渡されていません"
        return self.rows(self.previous)


@dataclass
class SolverSpy:
    calls: list[SolverCall] = field(default_factory=list)


def spy_on_solver(monkeypatch: pytest.MonkeyPatch) -> SolverSpy:
    """Record every ``solve_optimal`` call ``matcher.match`` makes (the solver still runs)."""
    spy = SolverSpy()

    def recording(
        problem: Problem,
        cand: Candidates,
        max_partners: int,
        time_limit: float | None = None,
        progress: Progress | None = None,
        previous: np.ndarray | None = None,
        **kw: Any,
    ) -> tuple[np.ndarray, OptimalReport]:
        chosen, report = solve_optimal(
            problem, cand, max_partners, time_limit, progress, previous, **kw
        )
        given = None if previous is None else np.array(previous, np.int64)
        spy.calls.append(SolverCall(cand, given, chosen))
        return chosen, report

    monkeypatch.setattr(match_module, "solve_optimal", recording)
    return spy
