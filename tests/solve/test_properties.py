"""Invariants every mode must hold, on hypothesis-generated instances."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import fac, inst
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import instances, validated

from matcher.geo import haversine_km
from matcher.match import match
from matcher.model import CAPABILITIES, Capability, Instance
from matcher.params import DEFAULT_MAX_KM, MatchParams

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _params(partners: int, care_km: float) -> MatchParams:
    km = dict(DEFAULT_MAX_KM)
    km[CAPABILITIES[1]] = care_km
    return MatchParams(max_km=km, max_new_partners=partners)


@SETTINGS
@given(
    instances(max_facilities=10, max_institutions=7),
    st.integers(1, 3),
    st.sampled_from([4.0, 16.0]),
    st.sampled_from(["optimal", "greedy", "stable"]),
)
def test_invariants(instance: Instance, partners: int, care_km: float, mode: str) -> None:
    params = _params(partners, care_km)
    result = match(instance, params, mode)
    facs = {f.facility_id: f for f in instance.facilities}
    insts = {i.institution_id: i for i in instance.institutions}
    used: dict[str, int] = {}
    per_fac: dict[str, int] = {}
    got: dict[str, int] = {}
    for p in result.proposals:
        f, i = facs[p.facility_id], insts[p.institution_id]
        used[i.institution_id] = used.get(i.institution_id, 0) + 1
        per_fac[f.facility_id] = per_fac.get(f.facility_id, 0) + 1
        # Only offered, missing capabilities within their own range are counted.
        assert p.covers and p.covers & ~(i.offers & f.missing) == 0
        d = float(haversine_km(f.lat, f.lon, i.lat, i.lon))
        assert abs(d - p.distance_km) < 1e-6
        for cap in CAPABILITIES:
            if p.covers & cap:
                assert p.distance_km <= params.max_km[cap] + 1e-9
        # Clinics never admit: the strategy's clinics may claim ③ in their rows, which the
        # boundary (``validate_institutions``) drops, so no proposal gets ③ from a clinic.
        assert not (i.kind == "clinic" and p.covers & Capability.ADMIT)
        got[f.facility_id] = got.get(f.facility_id, 0) | p.covers
    for iid, n in used.items():
        assert insts[iid].capacity is None or n <= insts[iid].capacity
    assert all(n <= partners for n in per_fac.values())
    # Every missing capability is either covered or reported with a reason.
    reported = {(u.facility_id, u.capability) for u in result.unmatched}
    for f in instance.facilities:
        for cap in CAPABILITIES:
            if f.missing & cap:
                assert (got.get(f.facility_id, 0) & cap != 0) != (
                    (f.facility_id, int(cap)) in reported
                )
    assert {o.facility_id for o in result.outcomes} == set(facs)


@SETTINGS
@given(instances(max_facilities=10, max_institutions=7), st.integers(1, 2))
def test_optimal_at_least_baselines(instance: Instance, partners: int) -> None:
    params = MatchParams(max_new_partners=partners)
    best = match(instance, params, "optimal")
    assert best.info.proven_optimal
    for mode in ("greedy", "stable"):
        assert best.objective.at_least(match(instance, params, mode).objective)


@SETTINGS
@given(instances(max_facilities=8, max_institutions=6), st.randoms(use_true_random=False))
def test_deterministic_and_order_independent(instance: Instance, rnd) -> None:
    first = match(instance)
    facs, insts = list(instance.facilities), list(instance.institutions)
    rnd.shuffle(facs)
    rnd.shuffle(insts)
    again = match(Instance.of(facs, insts))
    assert first.proposals == again.proposals
    assert first.unmatched == again.unmatched
    assert first.alternatives == again.alternatives


@pytest.mark.parametrize("mode", ["optimal", "greedy", "stable"])
def test_a_clinic_claiming_admit_is_never_proposed_for_it(mode: str) -> None:
    # The only institution claiming ③ is a clinic next door; the nearest hospital is out of range.
    read = validated(
        [
            inst("C1", "clinic", 1, 0, Capability.CONSULT | Capability.CARE | Capability.ADMIT),
            inst("H1", "hospital", 100, 0, Capability.ADMIT),
        ]
    )
    instance = Instance.of([fac("F1", "tokuyo", 0, 0)], read)
    result = match(instance, mode=mode)
    assert [(p.institution_id, p.covers) for p in result.proposals] == [
        ("C1", Capability.CONSULT | Capability.CARE)
    ]
    assert [(u.capability, u.reason) for u in result.unmatched] == [
        (Capability.ADMIT, "no_candidate")
    ]


def test_skip_unknown_reports_them(kochi_small: Instance) -> None:
    result = match(kochi_small, dataclasses.replace(MatchParams(), include_unknown=False))
    unknown = {f.facility_id for f in kochi_small.facilities if f.status.value == "unknown"}
    assert unknown
    assert not unknown & {p.facility_id for p in result.proposals}
    assert unknown == {u.facility_id for u in result.unmatched if u.reason == "unknown_excluded"}
