"""What-if ranking vs brute-force re-solving of the whole problem (no skipping, no LP test)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import WHATIF_PARAMS as PARAMS
from conftest import tight_instance as _tight

from matcher.candidates import build_candidates
from matcher.gaps.region import Region
from matcher.gaps.whatif import WhatIfStats, capacity_whatif, site_whatif, with_institution
from matcher.objective import evaluate
from matcher.reference import municipalities_of
from matcher.solve.optimal import solve_optimal


def _full(problem, cand, params):
    chosen, report = solve_optimal(problem, cand, params.max_new_partners)
    assert report.proven
    o = evaluate(problem, cand, chosen)
    return o.mandatory_full, o.effort_full


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_capacity_whatif_equals_brute_force(seed: int) -> None:
    region = Region.of(_tight(seed), PARAMS)
    p, c = region.problem, region.cand
    m0, e0 = _full(p, c, PARAMS)
    stats = WhatIfStats()
    table = capacity_whatif(region, stats=stats).set_index("institution_id")
    for k, inst in enumerate(region.instance.institutions):
        if not inst.offers:
            continue
        capacity = p.capacity.copy()
        if capacity[k] >= 0:
            capacity[k] += 1
        m, e = _full(replace(p, capacity=capacity), c, PARAMS)
        row = table.loc[inst.institution_id]
        assert (row.gain_mandatory_full, row.gain_effort_full) == (m - m0, e - e0), (
            inst,
            row.reason,
        )
    assert stats.candidates == len(table)
    # Ranked: lexicographically non-increasing gains.
    gains = list(zip(table.gain_mandatory_full, table.gain_effort_full, strict=True))
    assert gains == sorted(gains, reverse=True)


@pytest.mark.parametrize("seed", [1, 4])
def test_site_whatif_equals_brute_force(seed: int) -> None:
    region = Region.of(_tight(seed, undeclared=1), PARAMS)
    p = region.problem
    m0, e0 = _full(p, region.cand, PARAMS)
    sites = list(municipalities_of("鳥取県"))[:8]
    table = site_whatif(region, sites=sites, capacity=2).set_index("municipality_code")
    for site in sites:
        q = with_institution(p, site.lat, site.lon, 7, 2)
        m, e = _full(q, build_candidates(q, PARAMS), PARAMS)
        row = table.loc[site.code5]
        assert (row.gain_mandatory_full, row.gain_effort_full) == (m - m0, e - e0), site


def test_capacity_gain_is_at_most_one_facility() -> None:
    region = Region.of(_tight(5), PARAMS)
    table = capacity_whatif(region)
    assert table.gain_full.max() <= 1
    assert set(table.reason) <= {
        "unlimited",
        "not_binding",
        "no_candidates",
        "component_full",
        "lp_bound",
        "witness",
        "resolved",
    }
    assert np.all(table.loc[table.gain_mandatory_full > 0, "gain_effort_full"] <= 0)


def test_capacity_whatif_in_a_process_pool_equals_sequential() -> None:
    region = Region.of(_tight(2), PARAMS)
    one, two = WhatIfStats(), WhatIfStats()
    sequential = capacity_whatif(region, stats=one)
    pooled = capacity_whatif(region, stats=two, workers=2)
    assert one.resolved == two.resolved > 0
    pd.testing.assert_frame_equal(sequential, pooled)
