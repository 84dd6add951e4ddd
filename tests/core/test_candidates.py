"""The k-d tree candidate graph equals an all-pairs computation; distances are right."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fac, inst, problem_and_candidates
from hypothesis import given, settings
from strategies import instances

from matcher.candidates import Problem
from matcher.generate import generate
from matcher.geo import coordinate_problem, geodesic_km, haversine_km
from matcher.match import match, travel_matrix
from matcher.model import Capability, Instance
from matcher.params import MatchParams, parse_max_km


def all_pairs(problem: Problem, params: MatchParams) -> set[tuple[int, int, int]]:
    out = set()
    for f in np.flatnonzero(problem.missing):
        d = haversine_km(problem.fac_lat[f], problem.fac_lon[f], problem.inst_lat, problem.inst_lon)
        d = d * params.road_factor
        for i in range(problem.n_inst):
            cov = 0
            for cap, km in params.max_km.items():
                if problem.offers[i] & problem.missing[f] & cap and d[i] <= km:
                    cov |= int(cap)
            if cov:
                out.add((int(f), i, cov))
    return out


@settings(max_examples=40, deadline=None)
@given(instances(max_facilities=12, max_institutions=12, spread_km=80.0))
def test_tree_equals_all_pairs(instance: Instance) -> None:
    for params in (MatchParams(), MatchParams(road_factor=1.4)):
        problem, cand = problem_and_candidates(instance, params)
        triples = zip(cand.fac, cand.inst, cand.covers, strict=True)
        got = {(int(f), int(i), int(c)) for f, i, c in triples}
        assert got == all_pairs(problem, params)


def test_distances_agree_with_geodesic() -> None:
    instance = generate("高知県", n_facilities=30, n_institutions=30, seed=7)
    problem, cand = problem_and_candidates(instance)
    assert len(cand) > 50
    for p in range(0, len(cand), max(1, len(cand) // 25)):
        f, i = cand.fac[p], cand.inst[p]
        g = geodesic_km(
            problem.fac_lat[f], problem.fac_lon[f], problem.inst_lat[i], problem.inst_lon[i]
        )
        assert abs(cand.km[p] - g) <= 0.005 * g + 1e-3


def test_travel_matrix_overrides_distance_and_range() -> None:
    instance = Instance.of(
        [fac("F1", "gh", 0, 0)], [inst("A", "clinic", 5, 0, 3), inst("B", "clinic", 6, 0, 3)]
    )
    # Road to A is 40 km: beyond both ranges, so B (6 km) is proposed.
    tm = travel_matrix(instance, [("F1", "A", 40.0)])
    result = match(instance, travel=tm)
    assert [p.institution_id for p in result.proposals] == ["B"]
    plain = match(instance)
    assert [p.institution_id for p in plain.proposals] == ["A"]


def test_travel_matrix_rejects_unknown_ids() -> None:
    instance = Instance.of([fac("F1", "gh", 0, 0)], [inst("A", "clinic", 5, 0, 3)])
    with pytest.raises(ValueError, match="医療機関一覧にないID"):
        travel_matrix(instance, [("F1", "ZZZ", 4.0)], "travel.csv")


def test_components_split_far_regions() -> None:
    instance = Instance.of(
        [fac("F1", "gh", 0, 0), fac("F2", "gh", 500, 0)],
        [inst("A", "clinic", 1, 0, 3), inst("B", "clinic", 501, 0, 3)],
    )
    _, cand = problem_and_candidates(instance)
    count, fl, il = cand.components()
    assert fl[0] != fl[1]


def test_coordinate_problems() -> None:
    assert coordinate_problem(0.0, 0.0) and "(0, 0)" in coordinate_problem(0.0, 0.0)
    assert "入れ替わ" in coordinate_problem(133.5, 33.5)
    assert "国外" in coordinate_problem(48.8, 2.3)
    assert coordinate_problem(33.5, 133.5) is None


def test_parse_max_km() -> None:
    km = parse_max_km("care=10, admit=25")
    assert km[Capability.CARE] == 10 and km[Capability.ADMIT] == 25 and km[Capability.CONSULT] == 30
    with pytest.raises(ValueError, match="不正"):
        parse_max_km("visit=3")


def test_travel_matrix_pair_beyond_the_arc_counts() -> None:
    # The arc is 40 km (beyond every range), but the user's matrix says 10 km: it is a candidate.
    instance = Instance.of([fac("F1", "gh", 0, 0)], [inst("A", "clinic", 40, 0, 3)])
    assert not match(instance).proposals
    result = match(instance, travel=travel_matrix(instance, [("F1", "A", 10.0)]))
    assert [(p.institution_id, p.distance_km) for p in result.proposals] == [("A", 10.0)]


def test_travel_matrix_rejects_duplicate_pairs() -> None:
    instance = Instance.of([fac("F1", "gh", 0, 0)], [inst("A", "clinic", 5, 0, 3)])
    with pytest.raises(ValueError, match="2行目にもあります"):
        travel_matrix(instance, [("F1", "A", 4.0), ("F1", "A", 6.0)], "travel.csv")
