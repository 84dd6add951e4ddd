"""Reduced-cost fixing between stages (issue 26): the same optimum as level rows, a safe fallback,
and the pricing shortcuts it relies on."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import brute_force, problem_and_candidates, tight_instance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import instances

from matcher.generate import generate
from matcher.model import Instance
from matcher.objective import Objective, check_feasible, evaluate
from matcher.params import MatchParams
from matcher.solve.master import HighsMaster
from matcher.solve.optimal import solve_optimal
from matcher.solve.pattern import PatternModel


def _same(a: Objective, b: Objective) -> bool:
    return a.key()[:4] == b.key()[:4] and abs(a.distance_km - b.distance_km) < 1e-6


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_facilities=4, max_institutions=4, spread_km=50.0), st.integers(1, 3))
def test_fixing_equals_brute_force(instance: Instance, partners: int) -> None:
    problem, cand = problem_and_candidates(instance, MatchParams(max_new_partners=partners))
    chosen, report = solve_optimal(problem, cand, partners, fixing=True)
    check_feasible(problem, cand, chosen, partners)
    assert report.proven
    assert _same(evaluate(problem, cand, chosen), brute_force(problem, cand, partners))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_fixing_equals_level_rows(seed: int) -> None:
    # Scarce capacity (many binding rows, fractional LPs, MILPs): the restricted stages give
    # the optimum the dense level rows give.
    instance = generate(
        "高知県", n_facilities=150, n_institutions=45, seed=seed, capacity_factor=0.3
    )
    problem, cand = problem_and_candidates(instance, MatchParams())
    for inst_problem in (problem_and_candidates(tight_instance(seed)), (problem, cand)):
        p, c = inst_problem
        fixed, r1 = solve_optimal(p, c, 2, fixing=True)
        rows, r2 = solve_optimal(p, c, 2, fixing=False)
        assert r1.proven and r2.proven
        assert _same(evaluate(p, c, fixed), evaluate(p, c, rows))


def test_fallback_when_a_fixed_level_is_lost(monkeypatch, caplog) -> None:
    # Without the tight capacity rows the restriction is a relaxation: a later stage may trade a
    # fully covered facility for fewer partners. check_fixed sees it and the component is
    # solved again with level rows: still the brute-force optimum, and the warning says so.
    monkeypatch.setattr(HighsMaster, "make_tight", lambda self, rows, upper: None)
    fallbacks = 0
    for seed in range(1, 9):
        instance = generate(
            "高知県", n_facilities=80, n_institutions=25, seed=seed, capacity_factor=0.25
        )
        problem, cand = problem_and_candidates(instance, MatchParams())
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="matcher.solve.optimal"):
            fixed, report = solve_optimal(problem, cand, 2, fixing=True)
        fallbacks += sum("solved again with level rows" in r.getMessage() for r in caplog.records)
        rows, _ = solve_optimal(problem, cand, 2, fixing=False)
        assert report.proven
        assert _same(evaluate(problem, cand, fixed), evaluate(problem, cand, rows))
    assert fallbacks > 0, "the test needs an instance where the relaxation loses a level"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_group_minima_equal_a_full_scan(seed: int) -> None:
    # The prefix scan (stop once km alone reaches the best a; equality rows apart) against the
    # minimum over every allowed pair, ties to the first in (km, institution) order.
    instance = generate("高知県", n_facilities=60, n_institutions=60, seed=seed)
    problem, cand = problem_and_candidates(instance, MatchParams(max_new_partners=3))
    model = PatternModel(problem, cand, np.arange(len(cand)), 3)
    rng = np.random.default_rng(seed)
    equal_rows = np.flatnonzero(rng.random(model.n_rows) < 0.2)
    allowed = rng.random(len(model.pairs)) < 0.7
    allowed[model.grp_order[model.grp_start]] = True  # every group keeps a pair, as in fixing
    for restricted in (False, True):
        groups = model.groups.restricted(allowed, equal_rows, model.n_rows) if restricted else None
        g = groups or model.groups
        for mu_partner, mu_km in ((1.0, 0.0), (0.0, 1.0), (3.0, 0.5)):
            y = -rng.exponential(2.0, model.n_rows) * (rng.random(model.n_rows) < 0.5)
            if restricted:
                y[equal_rows] = rng.normal(0.0, 2.0, len(equal_rows))
            ye = np.append(y, 0.0)
            best, at = g.minima(ye, mu_partner, mu_km)
            a = mu_partner - ye[g.caprow] + mu_km * g.km
            if restricted:
                a[~g.allowed] = np.inf
            ends = np.r_[g.start[1:], len(a)]
            for k, (lo, hi) in enumerate(zip(g.start, ends, strict=True)):
                assert best[k] == a[lo:hi].min()
                assert at[k] == lo + int(np.argmin(a[lo:hi]))
