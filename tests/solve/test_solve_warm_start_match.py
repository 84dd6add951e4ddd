"""``match(previous=...)``: an earlier proposal in domain terms warm-starts the optimal solver on
the graph it really solves (sites merged, preferences re-ordering the pairs) and changes
nothing in the answer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from solver_spy import SolverSpy, spy_on_solver

from matcher.generate import generate
from matcher.infection import INSTITUTION_KEY
from matcher.match import match, planning_graph
from matcher.model import Instance
from matcher.params import MatchParams
from matcher.result import MatchResult
from matcher.sites import SITE_KEY

Pair = tuple[str, str]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> SolverSpy:
    return spy_on_solver(monkeypatch)


def region(seed: int, sites: bool) -> Instance:
    """A tight 高知県 instance; every third institution is 第二種協定指定; with ``sites`` every
    fourth facility in demand shares a ``site_id`` with the next one (one planning row)."""
    base = generate("高知県", n_facilities=90, n_institutions=40, seed=seed, capacity_factor=0.4)
    insts = [
        replace(i, extra={**i.extra, INSTITUTION_KEY: "true"}) if k % 3 == 0 else i
        for k, i in enumerate(base.institutions)
    ]
    facs = list(base.facilities)
    if sites:
        demand = [k for k, f in enumerate(facs) if f.missing]
        for k in range(0, len(demand) - 1, 4):
            for at in demand[k : k + 2]:
                facs[at] = replace(facs[at], extra={**facs[at].extra, SITE_KEY: f"S{k}"})
    return Instance.of(facs, insts)


def pairs_of(result: MatchResult) -> list[Pair]:
    return sorted((p.facility_id, p.institution_id) for p in result.proposals)


def decided(instance: Instance, before: list[Pair]) -> tuple[Instance, frozenset[Pair]]:
    """A few decisions: two proposed pairs declined, the busiest institution one unit less."""
    declined = frozenset(before[1:3])
    busiest = max({i for _, i in before}, key=lambda i: sum(p[1] == i for p in before))
    insts = [
        replace(i, capacity=max(1, (i.capacity or 2) - 1)) if i.institution_id == busiest else i
        for i in instance.institutions
    ]
    return Instance.of(list(instance.facilities), insts), declined


@pytest.mark.parametrize("seed,sites", [(11, False), (12, True), (13, True)])
def test_warm_replan_equals_cold_on_the_solved_graph(
    spy: SolverSpy, seed: int, sites: bool
) -> None:
    params = MatchParams(prefer_infection_agreement=0.3)
    instance = region(seed, sites)
    before = pairs_of(match(instance, params))
    after, declined = decided(instance, before)

    cold = match(after, params, forbidden=declined)
    warm = match(after, params, forbidden=declined, previous=before)
    assert pairs_of(warm) == pairs_of(cold)
    assert warm.objective == cold.objective and warm.info.proven_optimal
    assert spy.calls[-2].previous is None  # the cold run had no warm start

    # The warm start names, on the graph the solver saw, the earlier pairs still candidates.
    _, _, plan = planning_graph(after, params, forbidden=declined)
    assert (plan is not None) == sites
    graph = plan.merged if plan else planning_graph(after, params, forbidden=declined)[1]
    row = plan.sites.unit if plan else np.arange(len(after.facilities))
    fpos = {f.facility_id: int(row[k]) for k, f in enumerate(after.facilities)}
    ipos = {i.institution_id: k for k, i in enumerate(after.institutions)}
    in_graph = set(zip(graph.fac.tolist(), graph.inst.tolist(), strict=True))
    expected = {(fpos[f], ipos[i]) for f, i in before} & in_graph
    assert expected and spy.calls[-1].warm == expected
    assert not any((fpos[f], ipos[i]) in spy.calls[-1].warm for f, i in declined)
    # The preference re-orders the pairs: positions of the merged graph would name others.
    solved = spy.calls[-1].cand
    assert not np.array_equal(solved.inst, graph.inst)
    assert warm.info.details["warm_start_pairs"] == len(expected)


def test_unknown_pairs_are_ignored_and_baselines_ignore_the_warm_start(spy: SolverSpy) -> None:
    instance = region(14, False)
    params = MatchParams()
    cold = match(instance, params)
    odd = [("no-such-facility", "H0"), (instance.facilities[0].facility_id, "no-such-inst")]
    warm = match(instance, params, previous=odd)
    assert pairs_of(warm) == pairs_of(cold) and len(spy.calls[-1].warm) == 0
    for mode in ("greedy", "stable"):
        n = len(spy.calls)
        with_previous = match(instance, params, mode, previous=pairs_of(cold)[:5])
        assert pairs_of(with_previous) == pairs_of(match(instance, params, mode))
        assert len(spy.calls) == n  # the optimal solver never ran
