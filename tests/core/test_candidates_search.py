"""The search per set of offered capabilities (issue 26) finds exactly the all-pairs graph,
whatever the ranges per capability."""

from __future__ import annotations

import numpy as np
from conftest import fac, inst, problem_and_candidates
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import instances
from test_candidates import all_pairs

from matcher.candidates import Problem, build_candidates
from matcher.model import Capability, Instance
from matcher.params import MatchParams

RANGES = st.sampled_from([2.0, 8.0, 16.0, 30.0, 45.0])


@settings(max_examples=60, deadline=None)
@given(
    instances(max_facilities=10, max_institutions=10, spread_km=80.0),
    RANGES,
    RANGES,
    RANGES,
    st.sampled_from([1.0, 1.3]),
)
def test_search_per_offer_set_equals_all_pairs(
    instance: Instance, consult: float, care: float, admit: float, road: float
) -> None:
    # Each tree is searched only as far as what a facility misses and its institutions offer
    # reaches; a care range beyond the others' must still be searched in full.
    params = MatchParams(
        max_km={Capability.CONSULT: consult, Capability.CARE: care, Capability.ADMIT: admit},
        road_factor=road,
    )
    problem, cand = problem_and_candidates(instance, params)
    got = {
        (int(f), int(i), int(c)) for f, i, c in zip(cand.fac, cand.inst, cand.covers, strict=True)
    }
    assert got == all_pairs(problem, params)
    order = np.lexsort((cand.inst, cand.km, cand.fac))
    assert np.array_equal(order, np.arange(len(cand)))


def test_regression_chunk_where_nothing_missing_is_offered() -> None:
    # A facility that misses only ③ next to clinics only: no tree is searched for it (the first
    # version concatenated an empty list of results and failed).
    both = int(Capability.CONSULT | Capability.CARE)
    facilities = [fac("f1", "tokuyo", 0, 0, covered=both)]
    institutions = [inst("c1", "clinic", 1, 0, offers=both)]
    instance = Instance.of(facilities, institutions)
    params = MatchParams()
    problem = Problem.from_instance(instance, params)
    cand = build_candidates(problem, params)
    assert len(cand) == 0
