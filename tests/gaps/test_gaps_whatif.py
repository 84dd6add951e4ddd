"""What-if ranking vs brute-force re-solving of the whole problem (no skipping, no LP test), and
a hand-made site what-if with a known answer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import WHATIF_PARAMS as PARAMS
from conftest import at_km, fac, problem_and_candidates
from conftest import tight_instance as _tight

from matcher.gaps.region import Region
from matcher.gaps.whatif import WhatIfStats, capacity_whatif, changed, rank_changes, site_whatif
from matcher.model import ALL_MASK, Instance, Institution, InstitutionKind
from matcher.objective import evaluate
from matcher.reference import Municipality, municipalities_of
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


def _new_hospital(site: Municipality, capacity: int) -> Institution:
    return Institution(
        "NEW", "新設", InstitutionKind.HOSPITAL, site.lat, site.lon, ALL_MASK, capacity
    )


@pytest.mark.parametrize("seed", [1, 4])
def test_site_whatif_equals_brute_force(seed: int) -> None:
    instance = _tight(seed, undeclared=1)
    region = Region.of(instance, PARAMS)
    m0, e0 = _full(*problem_and_candidates(instance, PARAMS), PARAMS)
    sites = list(municipalities_of("鳥取県"))[:8]
    table = site_whatif(region, sites=sites, capacity=2).set_index("municipality_code")
    assert list(table.index.sort_values()) == sorted(s.code5 for s in sites)
    for site in sites:
        # The whole instance again with a real institution at the site: no what-if code.
        more = Instance.of(instance.facilities, [*instance.institutions, _new_hospital(site, 2)])
        m, e = _full(*problem_and_candidates(more, PARAMS), PARAMS)
        row = table.loc[site.code5]
        assert (row.gain_mandatory_full, row.gain_effort_full) == (m - m0, e - e0), site


def _site(code: str, north: float, east: float) -> Municipality:
    return Municipality(code, "高知県", f"候補地{code}", *at_km(north, east))


@pytest.mark.parametrize("capacity", [1, 2])
def test_site_whatif_on_a_hand_made_region(capacity: int) -> None:
    # No institution yet. Two 特養 (義務, missing ①②③) 4 km apart and a グループホーム (努力義務,
    # missing ①②) 30 km north. Ranges (PARAMS): ① 20 km, ② 12 km, ③ 20 km.
    instance = Instance.of(
        [fac("F1", "tokuyo", 0, 0), fac("F2", "tokuyo", 0, 4), fac("F3", "gh", 30, 0)], []
    )
    sites = [
        _site("390011", 0, 1),  # 1 km and 3 km from the 特養: covers as many as its capacity
        _site("390029", 30, 1),  # 1 km from the グループホーム, ~30 km from the 特養
        _site("390037", 15, 0),  # 15 km from all three: within ① and ③, beyond ② for everyone
        _site("390045", 100, 0),  # nobody within 20 km
    ]
    table = site_whatif(Region.of(instance, PARAMS), sites=sites, capacity=capacity)
    got = [
        (r.municipality_code, r.demand_in_range, r.gain_mandatory_full, r.gain_effort_full)
        for r in table.itertuples()
    ]
    assert got == [
        ("39001", 2, capacity, 0),
        ("39002", 1, 0, 1),
        ("39003", 3, 0, 0),
        ("39004", 0, 0, 0),
    ]
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert list(table["reason"])[-1] == "no_demand_in_range"


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


def _levels(problem, cand, params) -> np.ndarray:
    """All five objective values of the whole problem's optimum (no what-if code)."""
    chosen, report = solve_optimal(problem, cand, params.max_new_partners)
    assert report.proven
    o = evaluate(problem, cand, chosen)
    return np.array(
        [o.mandatory_full, o.effort_full, o.pairs_covered, o.partnerships, o.distance_km]
    )


LEVEL_COLUMNS = [
    "gain_mandatory_full",
    "gain_effort_full",
    "gain_pairs_covered",
    "change_partnerships",
    "change_distance_km",
]


def _lexicographic_key(row) -> tuple:
    """The matching's own order: more 義務, 努力義務, pairs; fewer partnerships, km."""
    return (
        -row.gain_mandatory_full,
        -row.gain_effort_full,
        -row.gain_pairs_covered,
        row.change_partnerships,
        row.change_distance_km,
    )


@pytest.mark.parametrize("seed", [1, 3])
def test_capacity_whatif_objective_equals_brute_force_on_all_five_levels(seed: int) -> None:
    # Undeclared capacities stay unlimited: most facilities can be covered, so many
    # institutions change only the partnerships or the km — what ranks them.
    region = Region.of(_tight(seed, undeclared=None), PARAMS)
    p, c = region.problem, region.cand
    base = _levels(p, c, PARAMS)
    table = capacity_whatif(region, measure="objective")
    by_id = table.set_index("institution_id")
    for k, inst in enumerate(region.instance.institutions):
        if not inst.offers:
            continue
        capacity = p.capacity.copy()
        if capacity[k] >= 0:
            capacity[k] += 1
        delta = _levels(replace(p, capacity=capacity), c, PARAMS) - base
        row = by_id.loc[inst.institution_id]
        assert [row[col] for col in LEVEL_COLUMNS[:4]] == list(delta[:4]), (inst, row.reason)
        assert row.change_distance_km == pytest.approx(delta[4], abs=0.01), inst
    # Ranked as the matching ranks proposals, the institution id last.
    keys = [(*_lexicographic_key(r), r.institution_id) for r in table.itertuples()]
    assert keys == sorted(keys)
    assert list(table["rank"]) == list(range(1, len(table) + 1))


def test_objective_ranking_breaks_coverage_ties_by_partnerships_and_km() -> None:
    # On this instance some institutions gain coverage and many only km: with the coverage
    # measure every zero-coverage row ties and falls back to the institution id.
    region = Region.of(_tight(1, undeclared=None), PARAMS)
    coverage = capacity_whatif(region)
    objective = capacity_whatif(region, measure="objective")
    assert (coverage[LEVEL_COLUMNS[:2]].to_numpy() == 0).all(axis=1).sum() > 1
    moved = objective[
        (objective[LEVEL_COLUMNS[:2]] == 0).all(axis=1) & (objective.change_distance_km < 0)
    ]
    assert len(moved) >= 2, objective  # institutions that only shorten the proposal's km
    assert list(moved.change_distance_km) == sorted(moved.change_distance_km)
    assert changed(objective).sum() > changed(coverage).sum()
    # Unchanged rows come last, and only they.
    flags = list(changed(objective))
    assert flags == sorted(flags, reverse=True)


def test_site_whatif_objective_equals_brute_force() -> None:
    instance = _tight(4, undeclared=None)
    region = Region.of(instance, PARAMS)
    base = _levels(*problem_and_candidates(instance, PARAMS), PARAMS)
    sites = list(municipalities_of("鳥取県"))[:6]
    table = site_whatif(region, sites=sites, capacity=2, measure="objective")
    for site in sites:
        more = Instance.of(instance.facilities, [*instance.institutions, _new_hospital(site, 2)])
        delta = _levels(*problem_and_candidates(more, PARAMS), PARAMS) - base
        row = table.set_index("municipality_code").loc[site.code5]
        assert [row[col] for col in LEVEL_COLUMNS[:4]] == list(delta[:4]), site
        assert row.change_distance_km == pytest.approx(delta[4], abs=0.01), site


def test_a_gain_of_mandatory_paid_with_effort_is_ranked_above_nothing() -> None:
    # Regression (notebook 03's chart): +4 義務 −4 努力義務 nets 0 in ``gain_full`` but is the
    # better proposal; it ranks above a change that gains nothing and counts as a change.
    rows = pd.DataFrame(
        {
            "institution_id": ["a", "b", "c"],
            "gain_mandatory_full": [0, 4, 0],
            "gain_effort_full": [0, -4, 1],
            "gain_full": [0, 0, 1],
        }
    )
    ranked = rank_changes(rows, "institution_id")
    assert list(ranked.institution_id) == ["b", "c", "a"]
    assert list(changed(ranked)) == [True, True, False]


def test_unknown_measure_is_refused() -> None:
    region = Region.of(_tight(1), PARAMS)
    with pytest.raises(ValueError, match="不明な what-if の尺度「km」"):
        capacity_whatif(region, measure="km")  # type: ignore[arg-type]
