"""Warm starts, parallel components and the level-by-level API give the exact optimum too."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import brute_force, problem_and_candidates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import instances

from matcher._errors import SolverTimeLimit
from matcher.generate import generate
from matcher.model import Instance
from matcher.objective import check_feasible, evaluate
from matcher.params import MatchParams
from matcher.solve.optimal import StageResult, solve_levels, solve_optimal
from matcher.vocab import Level


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    instances(max_facilities=4, max_institutions=4, spread_km=50.0),
    st.integers(1, 2),
    st.lists(st.integers(0, 40), max_size=6),
)
def test_warm_start_equals_brute_force(instance: Instance, partners: int, prev: list[int]) -> None:
    # Any previous proposal, even an infeasible or unrelated one, only seeds the master.
    problem, cand = problem_and_candidates(instance, MatchParams(max_new_partners=partners))
    previous = np.array([p for p in prev if p < len(cand)], np.int64)
    chosen, report = solve_optimal(problem, cand, partners, previous=previous)
    check_feasible(problem, cand, chosen, partners)
    got, best = evaluate(problem, cand, chosen), brute_force(problem, cand, partners)
    assert report.proven
    assert got.key()[:4] == best.key()[:4]
    assert abs(got.distance_km - best.distance_km) < 1e-6


def _kochi(seed: int) -> tuple:
    instance = generate(
        "高知県", n_facilities=60, n_institutions=30, seed=seed, capacity_factor=0.3
    )
    return problem_and_candidates(instance, MatchParams())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replan_after_decisions_warm_equals_cold(seed: int) -> None:
    problem, cand = _kochi(seed)
    before, _ = solve_optimal(problem, cand, 2)
    # A few decisions: two proposed pairs declined, one institution's capacity lowered.
    declined = np.zeros(len(cand), bool)
    declined[before[:2]] = True
    after = cand.without(declined)
    capacity = problem.capacity.copy()
    busy = int(np.bincount(cand.inst[before]).argmax())
    capacity[busy] = max(0, capacity[busy] - 1)
    from dataclasses import replace

    problem2 = replace(problem, capacity=capacity)
    kept = np.flatnonzero(~declined)  # new position of every surviving pair
    previous = np.searchsorted(kept, before[~declined[before]])
    cold, cold_report = solve_optimal(problem2, after, 2)
    warm, warm_report = solve_optimal(problem2, after, 2, previous=previous)
    assert cold_report.proven and warm_report.proven
    a, b = evaluate(problem2, after, cold), evaluate(problem2, after, warm)
    assert a.key()[:4] == b.key()[:4] and abs(a.distance_km - b.distance_km) < 1e-6


@pytest.mark.parametrize("seed", [4, 5])
def test_parallel_components_identical_to_sequential(seed: int) -> None:
    instance = generate("高知県", n_facilities=120, n_institutions=50, seed=seed)
    problem, cand = problem_and_candidates(instance, MatchParams())
    assert cand.components()[0] > 2
    one, r1 = solve_optimal(problem, cand, 2, workers=1)
    two, r2 = solve_optimal(problem, cand, 2, workers=2)
    assert np.array_equal(one, two)
    assert r1.proven and r2.proven and r1.components == r2.components
    assert r1.levels == r2.levels


def test_solve_levels_reports_each_stage_in_component_order() -> None:
    problem, cand = _kochi(6)
    seen: list[StageResult] = []
    stages = ((Level.MANDATORY_FULL,), (Level.EFFORT_FULL,))
    chosen, report = solve_levels(problem, cand, 2, stages, seen.append)
    got = evaluate(problem, cand, chosen)
    full, _ = solve_optimal(problem, cand, 2)
    opt = evaluate(problem, cand, full)
    assert (got.mandatory_full, got.effort_full) == (opt.mandatory_full, opt.effort_full)
    by_level: dict[Level, float] = {}
    for r in seen:
        assert r.proven and len(r.stage.levels) == 1
        assert r.bound <= r.values[r.stage.first] + 1e-6  # a lower bound (minimisation form)
        assert (r.capacity_dual <= 0).all()
        by_level[r.stage.first] = by_level.get(r.stage.first, 0.0) + r.values[r.stage.first]
    assert -by_level[Level.MANDATORY_FULL] == opt.mandatory_full
    assert -by_level[Level.EFFORT_FULL] == opt.effort_full
    assert [r.component for r in seen] == sorted(
        (r.component for r in seen), key=[r.component for r in seen].index
    )


def test_levels_that_cannot_be_merged_are_refused() -> None:
    problem, cand = _kochi(7)
    with pytest.raises(ValueError, match="cannot be merged"):
        solve_levels(problem, cand, 2, ((Level.MANDATORY_FULL, Level.PAIRS_COVERED),))


def test_stopped_run_reports_value_bound_and_gap_per_level() -> None:
    problem, cand = _kochi(8)
    chosen, report = solve_optimal(problem, cand, 2, time_limit=1e-9)
    assert not report.proven
    assert [row["level"] for row in report.levels] == [level.key for level in Level]
    first = report.levels[0]
    assert {"value", "bound", "gap", "gap_pct"} <= set(first)
    assert first["bound"] >= first["value"]  # type: ignore[operator]
    assert issubclass(SolverTimeLimit, Exception)
