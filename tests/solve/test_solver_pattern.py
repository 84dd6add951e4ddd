"""The pattern formulation: same optimum as the bundle one and brute force, exact enumeration,
valid capacity duals."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
from conftest import brute_force, problem_and_candidates, tight_instance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import instances

from matcher.generate import generate
from matcher.model import Instance
from matcher.objective import check_feasible, evaluate
from matcher.params import MatchParams
from matcher.solve.bundle import Stage
from matcher.solve.optimal import StageResult, solve_levels, solve_optimal
from matcher.solve.pattern import PatternModel, PatternSolver
from matcher.vocab import Level


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_facilities=4, max_institutions=4, spread_km=50.0), st.integers(1, 4))
def test_both_formulations_equal_brute_force(instance: Instance, partners: int) -> None:
    # partners 4 > 3 capabilities: patterns are capped at three pairs without losing anything.
    problem, cand = problem_and_candidates(instance, MatchParams(max_new_partners=partners))
    best = brute_force(problem, cand, partners)
    for formulation in ("pattern", "bundle"):
        chosen, report = solve_optimal(problem, cand, partners, formulation=formulation)
        check_feasible(problem, cand, chosen, partners)
        got = evaluate(problem, cand, chosen)
        assert report.proven, formulation
        assert got.key()[:4] == best.key()[:4], formulation
        assert abs(got.distance_km - best.distance_km) < 1e-6, formulation


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_formulations_agree_on_tight_regions(seed: int) -> None:
    problem, cand = problem_and_candidates(tight_instance(seed))
    results = {}
    for formulation in ("pattern", "bundle"):
        chosen, report = solve_optimal(problem, cand, 2, formulation=formulation)
        assert report.proven
        check_feasible(problem, cand, chosen, 2)
        results[formulation] = evaluate(problem, cand, chosen)
    assert results["pattern"].key()[:4] == results["bundle"].key()[:4]
    assert results["pattern"].distance_km == pytest.approx(results["bundle"].distance_km, 1e-9)


def test_unknown_formulation_is_refused() -> None:
    problem, cand = problem_and_candidates(tight_instance(1))
    with pytest.raises(ValueError, match="formulation"):
        solve_optimal(problem, cand, 2, formulation="columns")


def _minimal_patterns(model: PatternModel, f: int, width: int) -> list[tuple[int, ...]]:
    """Every partner set of f where no partner can be dropped without covering less."""
    mine = np.flatnonzero(model.pair_f == f).tolist()
    out = []
    for k in range(1, width + 1):
        for ps in combinations(mine, k):
            covers = [int(model.pair_covers[p]) for p in ps]
            union = int(np.bitwise_or.reduce(covers))
            minimal = all(
                int(np.bitwise_or.reduce(covers[:j] + covers[j + 1 :] or [0])) != union
                for j in range(k)
            )
            if minimal:
                out.append(tuple(sorted(ps)) + (-1,) * (3 - k))
    return out


STAGES = [
    Stage((Level.MANDATORY_FULL, Level.EFFORT_FULL), (30.0, 1.0)),
    Stage((Level.PAIRS_COVERED, Level.PARTNERSHIPS), (20.0, 1.0)),
    Stage((Level.DISTANCE,), (1.0,)),
]


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
@pytest.mark.parametrize("seed", [1, 2])
def test_reduced_cost_enumeration_is_complete(stage: Stage, seed: int) -> None:
    # At random duals, every minimal pattern of representative pairs (each uncapacitated pair
    # the nearest of its facility and covers value) that could be in a solution worth ≤ limit
    # (LB − min(0, rc_min f) + rc ≤ limit) is added or already in the master, and nothing
    # beyond the limit is added: the reduced-cost fixing MILP is exact.
    instance = generate(
        "高知県", n_facilities=40, n_institutions=40, seed=seed, capacity_factor=0.3
    )
    problem, cand = problem_and_candidates(instance, MatchParams(max_new_partners=3))
    model = PatternModel(problem, cand, np.arange(len(cand)), 3)
    empty = np.zeros(0, np.int64)
    solver = PatternSolver(model, cand, None, empty, empty)
    rng = np.random.default_rng(seed)
    y = -rng.exponential(2.0, model.n_rows) * (rng.random(model.n_rows) < 0.6)
    pricing = solver.pricing(stage, y)
    lb = pricing.bound(model.row_upper, np.zeros(0))
    limit = lb + 40.0
    before = set(solver._seen)
    solver._add_within(pricing, lb, limit, stage)
    added = set(solver._seen) - before
    thr = limit - lb + pricing.rc_min
    expected = set()
    for f in range(len(model.facs)):
        for key in _minimal_patterns(model, f, 3):
            if not all(model.representative[p] for p in key if p >= 0):
                continue
            pairs = np.array([key])
            union = int(np.bitwise_or.reduce(model.pair_covers[[p for p in key if p >= 0]]))
            rc = pricing.pattern_rc(np.array([f]), pairs, np.array([union]))[0]
            if rc <= thr[f] - 1e-9:
                expected.add(key)
    assert expected, "the test needs patterns within the limit"
    assert expected <= before | added
    for key in added:
        ps = [p for p in key if p >= 0]
        f = int(model.pair_f[ps[0]])
        union = int(np.bitwise_or.reduce(model.pair_covers[ps]))
        rc = pricing.pattern_rc(np.array([f]), np.array([key]), np.array([union]))[0]
        assert rc <= thr[f] + 1e-6


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_facilities=5, max_institutions=4, spread_km=40.0), st.integers(1, 2))
def test_capacity_duals_bound_one_more_unit(instance: Instance, partners: int) -> None:
    # "One more unit at i lowers the stage's optimum by at most |y_i|", capacity 0 included.
    problem, cand = problem_and_candidates(instance, MatchParams(max_new_partners=partners))
    if len(cand) == 0:
        return
    stages = ((Level.MANDATORY_FULL,), (Level.EFFORT_FULL,))
    results: list[StageResult] = []
    solve_levels(problem, cand, partners, stages, results.append)
    for r in results:
        for i, dual in zip(r.institutions, r.capacity_dual, strict=True):
            if problem.capacity[i] < 0 or not np.isfinite(dual):
                continue
            capacity = problem.capacity.copy()
            capacity[i] += 1
            more: list[StageResult] = []
            solve_levels(replace(problem, capacity=capacity), cand, partners, stages, more.append)
            new = next(m for m in more if m.component == r.component and m.stage == r.stage)
            if r.stage.first is Level.MANDATORY_FULL:  # level 2 sits below a moved level 1
                assert new.values[r.stage.first] >= r.bound + dual - 1e-6


def test_previous_proposal_beyond_the_partner_limit_is_not_a_pattern() -> None:
    # A previous plan made with three partners per facility seeds a run limited to one: the
    # result keeps the limit and is the cold optimum.
    problem, cand = problem_and_candidates(tight_instance(2), MatchParams(max_new_partners=3))
    wide, _ = solve_optimal(problem, cand, 3)
    per_fac = np.bincount(cand.fac[wide], minlength=problem.n_fac)
    assert per_fac.max() >= 2, "the test needs facilities with several partners"
    warm, report = solve_optimal(problem, cand, 1, previous=wide)
    cold, _ = solve_optimal(problem, cand, 1)
    check_feasible(problem, cand, warm, 1)
    assert report.proven
    assert evaluate(problem, cand, warm).key()[:4] == evaluate(problem, cand, cold).key()[:4]


def test_representatives_are_capacitated_pairs_and_the_nearest_other_pair_per_value() -> None:
    instance = generate(
        "鳥取県",
        n_facilities=40,
        n_institutions=20,
        seed=3,
        capacity_factor=0.4,
        declared_share=0.5,
    )
    problem, cand = problem_and_candidates(instance)
    model = PatternModel(problem, cand, np.arange(len(cand)), 2)
    capped = model.r_cap[model.pair_i] >= 0
    assert capped.any() and (~capped).any(), "the test needs both kinds of institution"
    for f in range(len(model.facs)):
        for v in range(1, 8):
            group = np.flatnonzero((model.pair_f == f) & (model.pair_covers == v))
            free = group[~capped[group]]
            want = set(group[capped[group]].tolist())
            if len(free):
                want.add(int(min(free, key=lambda p: (model.pair_km[p], model.pair_i[p]))))
            assert set(group[model.representative[group]].tolist()) == want


@pytest.mark.parametrize(
    "stage",
    [
        Stage((Level.MANDATORY_FULL, Level.EFFORT_FULL), (100.0, 1.0)),
        Stage((Level.PAIRS_COVERED, Level.PARTNERSHIPS), (200.0, 1.0)),
        Stage((Level.PAIRS_COVERED, Level.DISTANCE), (100.0, 1.0)),
    ],
    ids=lambda s: s.name,
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reduced_cost_fixing_alone_finds_the_optimum(stage: Stage, seed: int) -> None:
    # A master holding only its start columns, widened by exactly the columns that fit under
    # the bound (representatives only), must reach the stage's optimum: some optimal
    # solution is in the enumerated set. Half the capacities undeclared: many ties.
    instance = generate(
        "高知県",
        n_facilities=50,
        n_institutions=25,
        seed=seed,
        capacity_factor=0.3,
        declared_share=0.5,
    )
    problem, cand = problem_and_candidates(instance)
    model = PatternModel(problem, cand, np.arange(len(cand)), 2)
    empty = np.zeros(0, np.int64)
    full = PatternSolver(model, cand, None, empty, empty)
    x, _, pricing, lb = full.solve_stage(stage)
    optimum = float(full.costs(stage) @ x)
    fresh = PatternSolver(model, cand, None, empty, empty)
    limit = optimum + (1e-6 * max(1.0, abs(optimum)) if stage.continuous else 1e-6)
    fresh._add_within(pricing, lb, limit, stage)
    fresh.master.set_costs(fresh.costs(stage))
    _, value = fresh.master.milp(1e-7 if stage.continuous else 0.5)
    assert value == pytest.approx(optimum, rel=1e-9, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from([0.0, 0.5, 1.0]), st.integers(0, 3)),
        max_size=40,
    ),
    st.integers(1, 4),
)
def test_best_per_facility_keeps_the_lowest_rc_then_km(rows, k: int) -> None:
    from matcher.solve.staged import best_per_facility

    fac = np.array([r[0] for r in rows], np.int64)
    rc = np.array([r[1] for r in rows], float)
    km = np.array([float(r[2]) for r in rows])
    got = best_per_facility(fac, rc, km, k)
    want = []
    for f in sorted(set(fac.tolist())):
        mine = sorted(np.flatnonzero(fac == f).tolist(), key=lambda j: (rc[j], km[j], j))
        want += mine[:k]
    assert got.tolist() == want
