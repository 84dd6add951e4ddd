"""The candidate graph's exact (facility, km, institution) order and its chunked search."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import problem_and_candidates
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import instances
from test_candidates import all_pairs

import matcher.candidates as candidates
from matcher.model import Instance
from matcher.params import MatchParams


@st.composite
def pair_lists(draw, fac_span: int = 6):
    n = draw(st.integers(1, 60))
    fac = draw(st.lists(st.integers(0, fac_span), min_size=n, max_size=n))
    base = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 7.25, 29.999]), min_size=n, max_size=n))
    # Exact ties (institutions at one address) and distances closer than any quantum.
    nudge = draw(st.lists(st.sampled_from([0.0, 1e-15, 1e-12, 3e-9]), min_size=n, max_size=n))
    inst = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    return (
        np.array(fac, np.int64),
        np.array(base) + np.array(nudge),
        np.array(inst, np.int64),
    )


@settings(max_examples=300, deadline=None)
@given(pair_lists())
def test_order_equals_lexsort(arrays) -> None:
    fac, km, inst = arrays
    order = candidates._order_by_fac_km_inst(fac, km, inst)
    expected = np.lexsort((inst, km, fac))
    assert np.array_equal(fac[order], fac[expected])
    assert np.array_equal(km[order], km[expected])
    assert np.array_equal(inst[order], inst[expected])
    assert sorted(order.tolist()) == list(range(len(fac)))


@settings(max_examples=100, deadline=None)
@given(pair_lists(fac_span=2**45))
def test_order_equals_lexsort_when_the_packed_key_has_no_room(arrays) -> None:
    # Facility numbers spanning 45 bits leave too few bits for km: the float path runs.
    fac, km, inst = arrays
    order = candidates._order_by_fac_km_inst(fac, km, inst)
    expected = np.lexsort((inst, km, fac))
    assert np.array_equal(np.c_[fac, km, inst][order], np.c_[fac, km, inst][expected])


@settings(max_examples=60, deadline=None)
@given(instances(max_facilities=7, max_institutions=5))
def test_chunked_search_equals_all_pairs(instance: Instance) -> None:
    # Chunks of two facilities searched in two threads: the same graph, in the same order.
    params = MatchParams()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(candidates, "_CHUNK", 2)
        problem, cand = problem_and_candidates(instance, params)
    got = set(zip(cand.fac.tolist(), cand.inst.tolist(), cand.covers.tolist(), strict=True))
    assert got == all_pairs(problem, params)
    assert np.array_equal(np.lexsort((cand.inst, cand.km, cand.fac)), np.arange(len(cand)))
