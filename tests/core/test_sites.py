"""Sites (``matcher.sites``): detection, one partner set per building, a site counted once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import brute_force, fac, inst
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import instances

from matcher.match import match, planning_graph
from matcher.model import CAPABILITIES, Facility, Instance
from matcher.params import MatchParams
from matcher.sites import Sites, site_groups, site_ids
from matcher.sources.simple_csv import (
    facilities_frame,
    load_facilities,
    load_institutions,
    write_facilities,
)
from matcher.vocab import GeocodePrecision

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def reg(f: Facility, **extra: str) -> Facility:
    return replace(f, extra={**f.extra, **extra})


# --- detection -------------------------------------------------------------------------------


def test_same_corporation_within_50_m_is_one_site() -> None:
    a = reg(fac("A", "tokuyo", 0, 0), corporate_number="1234")
    b = reg(fac("B", "tokuyo", 0.03, 0), corporate_number="１２３４")  # 30 m, NFKC digits
    c = reg(fac("C", "gh", 0.2, 0), corporate_number="1234")  # 200 m: another building
    d = reg(fac("D", "gh", 0, 0), corporate_number="9999")  # same point, other corporation
    assert site_groups([a, b, c, d]) == [[0, 1]]
    assert site_ids([a, b, c, d]) == {"A": "A", "B": "A"}


def test_same_normalised_address_is_one_site_even_far_apart() -> None:
    a = replace(
        reg(fac("A", "tokuyo", 0, 0), corporate_number="1"), address="高知市本町1丁目2番3号"
    )
    b = replace(reg(fac("B", "gh", 5, 0), corporate_number="1"), address="高知県高知市本町1-2-3")
    assert site_groups([a, b]) == [[0, 1]]


def test_an_address_without_a_number_is_no_building() -> None:
    a = replace(reg(fac("A", "tokuyo", 0, 0), corporate_number="1"), address="高知県高知市")
    b = replace(reg(fac("B", "gh", 5, 0), corporate_number="1"), address="高知市")
    assert site_groups([a, b]) == []


def test_a_municipality_point_is_not_a_location() -> None:
    a = reg(fac("A", "tokuyo", 0, 0), corporate_number="1")
    b = replace(
        reg(fac("B", "gh", 0, 0), corporate_number="1"), geocode=GeocodePrecision.MUNICIPALITY
    )
    assert site_groups([a, b]) == []


def test_explicit_site_id_overrides_detection() -> None:
    a = reg(fac("A", "tokuyo", 0, 0), corporate_number="1", site_id="S")
    b = reg(fac("B", "gh", 9, 9), site_id="S")  # far away, no corporation: still one site
    c = reg(fac("C", "gh", 0, 0), corporate_number="1", site_id="C")  # kept alone
    d = reg(fac("D", "gh", 0, 0), corporate_number="1")  # detection never joins A or C
    assert site_groups([a, b, c, d]) == [[0, 1]]
    assert site_ids([a, b, c, d]) == {"A": "S", "B": "S"}


def test_simple_csv_round_trips_site_and_corporation_columns(tmp_path: Path) -> None:
    a = reg(
        fac("A", "tokuyo", 0, 0),
        site_id="S1",
        corporate_number="1",
        corporate_name="社会福祉法人よさこい会",
    )
    path = write_facilities([a], tmp_path / "facilities.csv")
    assert list(facilities_frame([a]).columns)[9:12] == [
        "site_id",
        "corporate_number",
        "corporate_name",
    ]
    back = load_facilities(path).items[0]
    assert back.extra["site_id"] == "S1"
    assert back.extra["corporate_name"] == "社会福祉法人よさこい会"


def test_japanese_headers_map_onto_the_optional_columns(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        "facility_id,name,kind,lat,lon,covered,法人番号,法人の名称\n"
        "A,a,tokuyo,33.5,133.5,,7000000000002,社会福祉法人よさこい会\n",
        encoding="utf-8",
    )
    f = load_facilities(path).items[0]
    assert f.extra["corporate_number"] == "7000000000002"
    assert f.extra["corporate_name"] == "社会福祉法人よさこい会"


# --- planning ----------------------------------------------------------------------------------


def building() -> Instance:
    """従来型 A (義務, needs ①②③) and ユニット型 B (needs ③) of one building; one hospital H1
    with room for one facility, a farther H2 with room for one, a clinic K1 unlimited."""
    a = reg(fac("A", "tokuyo", 0, 0), corporate_number="1")
    b = reg(fac("B", "tokuyo", 0, 0.01, covered=3, has_partner=True), corporate_number="1")
    c = fac("C", "gh", 2, 2)
    return Instance.of(
        [a, b, c],
        [
            inst("H1", "hospital", 1, 0, 7, 1),
            inst("H2", "hospital", 3, 3, 7, 1),
            inst("K1", "clinic", 0, 1, 3, None),
        ],
    )


@pytest.mark.parametrize("mode", ["optimal", "greedy", "stable"])
def test_every_registration_gets_the_site_partners_and_capacity_counts_the_site_once(
    mode: str,
) -> None:
    result = match(building(), mode=mode)  # type: ignore[arg-type]
    partners = {f: {p.institution_id for p in result.proposals if p.facility_id == f} for f in "AB"}
    assert partners["A"] == partners["B"] and partners["A"]
    if mode == "optimal":
        assert partners["A"] == {"H1"}  # H1 (capacity 1) serves the whole building
        assert {p.institution_id for p in result.proposals if p.facility_id == "C"} == {"H2"}
        assert result.objective.partnerships == 2  # the site's partnership counts once
        assert result.counts["sites"] == 1 and result.counts["proposals"] == 3
    b_row = next(p for p in result.proposals if p.facility_id == "B" and p.institution_id == "H1")
    assert b_row.covers == 4  # covers per registration: B misses only ③


def test_count_site_registrations_plans_each_registration() -> None:
    result = match(building(), MatchParams(count_site_registrations=True))
    by_inst = [p.institution_id for p in result.proposals]
    assert by_inst.count("H1") <= 1  # capacity per registration again
    assert "sites" not in result.counts


def test_alternatives_count_the_site_once() -> None:
    result = match(building())
    left = {a.institution_id: a.remaining_capacity for a in result.alternatives}
    assert left.get("H1", 0) == 0 and left.get("H2", 0) == 0


def test_a_declined_pair_of_one_registration_is_declined_for_the_site() -> None:
    result = match(building(), forbidden={("B", "H1")})
    assert not any(p.institution_id == "H1" for p in result.proposals if p.facility_id in "AB")


def test_default_run_unchanged_on_the_sample() -> None:
    facilities = load_facilities(SAMPLE / "facilities.csv").items
    institutions = load_institutions(SAMPLE / "institutions.csv").items
    instance = Instance.of(facilities, institutions)
    assert not Sites.of(instance).merges
    plain = match(instance, MatchParams(count_site_registrations=True))
    default = match(instance)
    assert default.proposals == plain.proposals
    assert default.unmatched == plain.unmatched
    assert default.alternatives == plain.alternatives
    assert default.objective == plain.objective
    assert {k: v for k, v in default.counts.items()} == plain.counts


# --- brute force and properties on instances with sites ----------------------------------------


@st.composite
def site_instances(draw: st.DrawFn, max_facilities: int = 4, max_institutions: int = 3) -> Instance:
    """Small instances where some facilities get one or two more registrations at their point
    (same 法人番号), with their own kind and coverage."""
    base = draw(instances(max_facilities=max_facilities, max_institutions=max_institutions))
    facilities = list(base.facilities)
    for k, f in enumerate(base.facilities):
        extra = draw(st.integers(0, 2 if k == 0 else 1))
        if extra == 0:
            continue
        facilities[k] = reg(f, corporate_number=f"{k + 1}")
        for j in range(extra):
            kind = draw(st.sampled_from(["tokuyo", "gh", "tokutei"]))
            covered = draw(st.integers(0, 7))
            twin = replace(
                f,
                facility_id=f"{f.facility_id}-{j}",
                kind=kind,
                covered=covered & (7 if kind == "tokuyo" else 3),
                has_partner=True if covered else draw(st.sampled_from([None, False])),
            )
            facilities.append(reg(twin, corporate_number=f"{k + 1}"))
    return Instance.of(facilities, base.institutions)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(site_instances(max_facilities=3, max_institutions=3), st.integers(1, 2))
def test_optimal_with_sites_matches_brute_force_on_the_merged_problem(
    instance: Instance, max_partners: int
) -> None:
    params = MatchParams(max_new_partners=max_partners)
    _, _, plan = planning_graph(instance, params)
    result = match(instance, params)
    if plan is None:
        return
    best = brute_force(plan.problem, plan.merged, max_partners)
    assert result.objective.key()[:4] == best.key()[:4]
    assert result.objective.at_least(best)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(site_instances(), st.sampled_from(["optimal", "greedy", "stable"]), st.integers(1, 2))
def test_site_properties(instance: Instance, mode: str, max_partners: int) -> None:
    params = MatchParams(max_new_partners=max_partners)
    result = match(instance, params, mode)  # type: ignore[arg-type]
    again = match(instance, params, mode)  # type: ignore[arg-type]
    assert result.proposals == again.proposals  # deterministic
    sid = site_ids(instance.facilities)
    unit = {f.facility_id: sid.get(f.facility_id, f.facility_id) for f in instance.facilities}
    facs = {f.facility_id: f for f in instance.facilities}
    insts = {i.institution_id: i for i in instance.institutions}
    partners: dict[str, set[str]] = {f: set() for f in facs}
    for p in result.proposals:
        partners[p.facility_id].add(p.institution_id)
        i = insts[p.institution_id]
        assert p.covers & ~i.offers == 0  # only offered capabilities
        assert p.covers & ~facs[p.facility_id].missing == 0
        for c in CAPABILITIES:
            if p.covers & c:
                assert p.distance_km <= params.max_km[c] + 1e-9  # distance limits
    # Every registration in demand of a site has the same partner set.
    by_site: dict[str, list[str]] = {}
    for fid, s in unit.items():
        if facs[fid].missing:
            by_site.setdefault(s, []).append(fid)
    for members in by_site.values():
        assert len({frozenset(partners[m]) for m in members}) == 1
    # Capacity and the partner limit, a site counted once.
    served: dict[str, set[str]] = {}
    for p in result.proposals:
        served.setdefault(p.institution_id, set()).add(unit[p.facility_id])
    for iid, sites in served.items():
        cap = insts[iid].capacity
        assert cap is None or len(sites) <= cap
    assert all(len(v) <= max_partners for v in partners.values())
    assert result.objective.partnerships == len(
        {(unit[p.facility_id], p.institution_id) for p in result.proposals}
    )
    # Every facility is explained; a registration's unmatched rows are its own.
    assert {o.facility_id for o in result.outcomes} == set(facs)
    for u in result.unmatched:
        assert facs[u.facility_id].missing & u.capability


def test_unmatched_reasons_are_per_registration() -> None:
    # A needs ③ nobody offers in range; B needs ② which the clinic gives.
    a = reg(fac("A", "tokuyo", 0, 0, covered=3, has_partner=True), corporate_number="1")
    b = reg(fac("B", "gh", 0, 0, covered=1, has_partner=True), corporate_number="1")
    result = match(Instance.of([a, b], [inst("K1", "clinic", 1, 0, 3, None)]))
    assert [(u.facility_id, u.capability, u.reason.value) for u in result.unmatched] == [
        ("A", 4, "no_candidate")
    ]
    # K1 is the building's partner: A gets it too, covering nothing it misses.
    rows = {(p.facility_id, p.institution_id, p.covers) for p in result.proposals}
    assert rows == {("A", "K1", 0), ("B", "K1", 2)}
    assert np.isclose(result.objective.distance_km, 1.0, atol=1e-3)
