"""The optimal solver equals brute-force enumeration on tiny instances; hand-made known answers."""

from __future__ import annotations

import numpy as np
from conftest import brute_force, fac, inst, problem_and_candidates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import instances

from matcher.match import match
from matcher.model import Capability, Instance
from matcher.params import MatchParams
from matcher.solve.optimal import solve_optimal

C, K, A = Capability.CONSULT, Capability.CARE, Capability.ADMIT


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_facilities=4, max_institutions=4, spread_km=50.0), st.integers(1, 2))
def test_optimal_equals_brute_force(instance: Instance, partners: int) -> None:
    params = MatchParams(max_new_partners=partners)
    problem, cand = problem_and_candidates(instance, params)
    chosen, report = solve_optimal(problem, cand, partners)
    from matcher.objective import check_feasible, evaluate

    check_feasible(problem, cand, chosen, partners)
    got, best = evaluate(problem, cand, chosen), brute_force(problem, cand, partners)
    assert report.proven
    assert got.key()[:4] == best.key()[:4]
    assert abs(got.distance_km - best.distance_km) < 1e-6


def test_one_hospital_beats_clinic_plus_hospital() -> None:
    # The clinic is nearer, but one hospital covering ①②③ needs one partnership instead of two.
    instance = Instance.of(
        [fac("F1", "tokuyo", 0, 0)],
        [inst("CLINIC", "clinic", 1, 0, C | K), inst("HOSP", "hospital", 8, 0, C | K | A)],
    )
    result = match(instance)
    assert [(p.institution_id, p.covers) for p in result.proposals] == [("HOSP", C | K | A)]
    assert result.objective.partnerships == 1 and result.info.proven_optimal


def test_clinic_and_hospital_when_hospital_cannot_visit() -> None:
    # The hospital is 20 km away: beyond the 16 km ② range, within 30 km for ①③.
    instance = Instance.of(
        [fac("F1", "tokuyo", 0, 0)],
        [inst("CLINIC", "clinic", 1, 0, C | K), inst("HOSP", "hospital", 20, 0, C | K | A)],
    )
    result = match(instance)
    covers = {p.institution_id: p.covers for p in result.proposals}
    assert set(covers) == {"CLINIC", "HOSP"}
    assert covers["HOSP"] == C | A and covers["CLINIC"] == C | K
    assert result.objective.mandatory_full == 1 and not result.unmatched


def test_only_candidate_goes_to_facility_without_alternative() -> None:
    # F1 is nearer to A than F2 is, but F2 has no other candidate: A must go to F2, F1 takes B.
    instance = Instance.of(
        [fac("F1", "gh", 0, 0), fac("F2", "gh", 0, 6)],
        [
            inst("A", "clinic", 0, 1, C | K, capacity=1),
            inst("B", "clinic", 0, -11, C | K, capacity=1),
        ],
    )
    # B is 11 km from F1 and 17 km from F2 (beyond the 16 km ② range; ① alone would count).
    result = match(instance)
    assert {(p.facility_id, p.institution_id) for p in result.proposals} == {
        ("F1", "B"),
        ("F2", "A"),
    }
    stable = match(instance, mode="stable")
    assert stable.objective.key() < result.objective.key()


def test_capacity_reason_and_no_candidate_reason() -> None:
    instance = Instance.of(
        [fac("F1", "gh", 0, 0), fac("F2", "gh", 0, 1), fac("FAR", "gh", 200, 0)],
        [inst("A", "clinic", 0, 0.5, C | K, capacity=1)],
    )
    result = match(instance)
    reasons = {(u.facility_id, u.reason) for u in result.unmatched}
    assert ("FAR", "no_candidate") in reasons
    loser = ({"F1", "F2"} - {p.facility_id for p in result.proposals}).pop()
    assert (loser, "capacity") in reasons


def test_partner_limit_reason() -> None:
    # Three clinics each offer one capability: with one partner allowed, two stay missing.
    instance = Instance.of(
        [fac("F1", "tokuyo", 0, 0)],
        [
            inst("H", "hospital", 1, 0, A),
            inst("X", "clinic", 2, 0, C),
            inst("Y", "clinic", 3, 0, K),
        ],
    )
    result = match(instance, MatchParams(max_new_partners=1))
    assert len(result.proposals) == 1
    assert {u.reason for u in result.unmatched} == {"partner_limit"}


def test_time_limit_never_claims_optimal(kochi_small: Instance) -> None:
    problem, cand = problem_and_candidates(kochi_small)
    chosen, report = solve_optimal(problem, cand, 2, time_limit=1e-9)
    assert not report.proven and report.stopped_level is not None
    assert report.bounds["level"] >= 1 and "achieved" in report.bounds
    assert "最適とは証明されていません" in report.message_ja()
    if "bound" in report.bounds:  # the stated gap is real: the bound exceeds what was achieved
        assert report.bounds["bound"] != report.bounds["achieved"]
    from matcher.objective import check_feasible

    check_feasible(problem, cand, chosen, 2)
    full, full_report = solve_optimal(problem, cand, 2)
    assert full_report.proven
    assert np.array_equal(full, solve_optimal(problem, cand, 2)[0])
