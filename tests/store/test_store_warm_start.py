"""A re-plan starts the solver from the area's previous plan (and a re-solve at commit from the
plan just computed) and stores exactly what a cold plan would (both databases)."""

from __future__ import annotations

import pytest
from solver_spy import SolverCall, SolverSpy, spy_on_solver

from matcher.generate import generate
from matcher.model import Instance
from matcher.sites import Sites
from matcher.store.db import Store
from matcher.store.imports import Declaration, import_declarations, import_simple
from matcher.store.planner_input import load_state
from matcher.store.planning import previous_plan, run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.proposals import list_proposals
from matcher.store.run_write import PlanReport
from matcher.wareki import today as today_jp

Pair = tuple[str, str]
AREA = "39"


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> SolverSpy:
    return spy_on_solver(monkeypatch)


def seed_kochi(store: Store) -> None:
    """A tight synthetic 高知県 (80 facilities, 40 institutions) in the store."""
    region = generate("高知県", n_facilities=80, n_institutions=40, seed=5, capacity_factor=0.4)
    assert not Sites.of(region).merges  # planning rows are the facilities (see ``ids``)
    with store.write() as s:
        import_simple(s, region.facilities, region.institutions, 2025)


def ids(instance: Instance, rows: set[tuple[int, int]]) -> set[Pair]:
    """(facility_id, institution_id) of (row, institution position) pairs."""
    facs, insts = instance.facilities, instance.institutions
    return {(facs[f].facility_id, insts[i].institution_id) for f, i in rows}


def proposed(report: PlanReport) -> list[Pair]:
    return sorted((p.facility_id, p.institution_id) for p in report.result.proposals)


def outcome(report: PlanReport) -> set[tuple[str, str, str]]:
    """What the run did to the store, without the (provisional) proposal ids."""
    return {(c.facility_id, c.institution_id, c.change) for c in report.changes}


def decide(store: Store, run_id: int) -> tuple[set[Pair], set[Pair]]:
    """A few decisions on the run's proposals: two declined, one contacted, the capacity of the
    busiest institution not declaring 1 lowered (by one, or to 1 when it declared none).
    Returns (declined, still proposed)."""
    with store.write() as s:
        views = list_proposals(s, AREA, status="proposed", run_id=run_id)
        by = {(v.facility_id, v.institution_id): v for v in views}
        pairs = sorted(by)
        declined, contacted = set(pairs[:2]), pairs[2]
        for pair in declined:
            set_status(s, by[pair].id, "declined", by[pair].version, "山田", "辞退")
        set_status(s, by[contacted].id, "contacted", by[contacted].version, "山田", "電話")
        state = load_state(s, AREA)
        declared = state.capacity_declared
        busiest = max(
            {i for _, i in pairs if declared.get(i) != 1},
            key=lambda i: sum(p[1] == i for p in pairs),
        )
        before = declared[busiest]
        capacity = 1 if before is None else before - 1
        import_declarations(s, [Declaration(busiest, today_jp(), capacity)])
    return declined, set(pairs) - declined - {contacted}


def test_replan_after_decisions_is_the_cold_plan_and_starts_from_the_previous_one(
    store: Store, spy: SolverSpy
) -> None:
    seed_kochi(store)
    first = run_plan(store, AREA, actor="山田")
    assert spy.calls[-1].previous is None  # nothing to start from before the first run
    declined, still = decide(store, first.run_id)
    with store.read() as s:
        assert previous_plan(s, AREA) >= still and not previous_plan(s, AREA) & declined

    cold = run_plan(store, AREA, actor="山田", dry_run=True, warm_start=False)
    assert spy.calls[-1].previous is None
    del spy.calls[:]
    warm = run_plan(store, AREA, actor="山田")

    assert proposed(warm) == proposed(cold) and outcome(warm) == outcome(cold)
    assert warm.result.objective == cold.result.objective and warm.result.info.proven_optimal
    assert not set(proposed(warm)) & declined
    # One solve, seeded with the previous run's pairs that are still proposed (declined ones are
    # no candidates any more; the contacted one is kept as it is, not planned again).
    (call,) = spy.calls
    assert ids(warm.state.instance, call.warm) == still
    assert warm.result.info.details["warm_start_pairs"] == len(still) > 0


def test_resolve_at_commit_starts_from_the_plan_just_computed(store: Store, spy: SolverSpy) -> None:
    seed_kochi(store)
    first = run_plan(store, AREA)
    decide(store, first.run_id)
    with store.read() as s:
        instance = load_state(s, AREA).instance
    late: list[Pair] = []

    def planned(call: SolverCall) -> set[Pair]:
        return ids(instance, call.rows(call.chosen))

    def decline_during_solve(attempt: int) -> None:
        """A coordinator declines a pair of the plan being computed, before its commit."""
        if attempt:
            return
        with store.write() as s:
            views = list_proposals(s, AREA, status="proposed")
            plan = planned(spy.calls[-1])
            v = next(v for v in views if (v.facility_id, v.institution_id) in plan)
            set_status(s, v.id, "declined", v.version, "高橋", "計算中に辞退")
            late.append((v.facility_id, v.institution_id))

    report = run_plan(store, AREA, before_commit=decline_during_solve)
    assert report.run_id and len(spy.calls) == 3  # the first run, the solve, the re-solve
    solve, resolve = spy.calls[1:]
    assert ids(instance, resolve.warm) == planned(solve) - set(late) and late
    assert late[0] not in proposed(report) and not report.unplanned
    cold = run_plan(store, AREA, dry_run=True, warm_start=False)
    assert proposed(report) == proposed(cold)
