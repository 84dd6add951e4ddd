"""Uncoverable facilities are exactly those with no institution offering the capability in range."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.gaps.region import Region
from matcher.gaps.uncoverable import coverable_share_by_range, uncoverable
from matcher.geo import haversine_km
from matcher.model import (
    CAPABILITIES,
    CAPABILITY_CODES,
    FACILITY_KINDS,
    Facility,
    Instance,
    Institution,
)
from matcher.params import MatchParams

KINDS = sorted(FACILITY_KINDS)
coord = st.tuples(st.floats(34.0, 34.6), st.floats(135.0, 135.7))


@st.composite
def instances(draw):
    facs = [
        Facility(
            f"f{k}",
            "",
            draw(st.sampled_from(KINDS)),
            *draw(coord),
            covered=draw(st.integers(0, 7)),
            has_partner=draw(st.sampled_from([None, True, False])),
        )
        for k in range(draw(st.integers(1, 12)))
    ]
    insts = []
    for k in range(draw(st.integers(0, 8))):
        hospital = draw(st.booleans())
        offers = draw(st.integers(1, 7)) if hospital else draw(st.integers(1, 3))
        insts.append(
            Institution(
                f"i{k}",
                "",
                "hospital" if hospital else "clinic",
                *draw(coord),
                offers=offers,
                capacity=draw(st.sampled_from([None, 0, 1, 2])),
            )
        )
    km = {c: draw(st.floats(3.0, 40.0)) for c in CAPABILITIES}
    return Instance.of(facs, insts), MatchParams(max_km=km)


@settings(max_examples=80, deadline=None)
@given(instances())
def test_uncoverable_is_exactly_no_institution_in_range(case) -> None:
    instance, params = case
    region = Region.of(instance, params)
    table = uncoverable(region)
    got = set(zip(table.facility_id, table.capability, strict=True))
    want, nearest = set(), {}
    for f in instance.facilities:
        for cap in CAPABILITIES:
            if not f.missing & cap:
                continue
            d = [
                float(haversine_km(f.lat, f.lon, i.lat, i.lon))
                for i in instance.institutions
                if i.offers & cap
            ]
            if not d or min(d) > params.max_km[cap] + 1e-6:
                want.add((f.facility_id, CAPABILITY_CODES[cap]))
                nearest[(f.facility_id, CAPABILITY_CODES[cap])] = min(d) if d else np.nan
    assert got == want
    for row in table.itertuples():
        expect = nearest[(row.facility_id, row.capability)]
        if np.isnan(expect):
            assert row.nearest_institution_id == "" and np.isnan(row.nearest_km)
        else:
            assert abs(row.nearest_km - expect) < 1e-6 * max(1.0, expect)
            assert (
                row.coverable_at_km
                > params.max_km[
                    [c for c in CAPABILITIES if CAPABILITY_CODES[c] == row.capability][0]
                ]
            )


def test_coverable_share_grows_with_range() -> None:
    facs = [Facility("f0", "", "gh", 35.0, 135.0, covered=1, has_partner=True)]
    insts = [Institution("i0", "", "clinic", 35.2, 135.0, offers=3, capacity=1)]
    region = Region.of(Instance.of(facs, insts))
    share = coverable_share_by_range(region, np.array([10.0, 30.0]))
    assert list(share.share_coverable) == [0.0, 1.0]
    assert len(uncoverable(region)) == 1 and uncoverable(region).nearest_km[0] > 16
