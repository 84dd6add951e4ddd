"""Hypothesis strategies generating valid small instances around one city."""

from __future__ import annotations

from conftest import fac, inst
from hypothesis import strategies as st

from matcher.model import FACILITY_KINDS, Instance

KINDS = sorted(FACILITY_KINDS)


@st.composite
def instances(draw, max_facilities: int = 6, max_institutions: int = 5, spread_km: float = 40.0):
    n_f = draw(st.integers(1, max_facilities))
    n_i = draw(st.integers(1, max_institutions))
    coord = st.floats(-spread_km / 2, spread_km / 2, allow_nan=False)
    facilities = []
    for k in range(n_f):
        kind = draw(st.sampled_from(KINDS))
        required = FACILITY_KINDS[kind].required
        covered = draw(st.integers(0, 7)) & required
        has = draw(st.sampled_from([None, False, True])) if covered == 0 else True
        facilities.append(fac(f"F{k:02d}", kind, draw(coord), draw(coord), covered, has))
    institutions = []
    for k in range(n_i):
        hospital = draw(st.booleans())
        offers = draw(st.integers(1, 7)) if hospital else draw(st.integers(1, 3))
        capacity = draw(st.one_of(st.none(), st.integers(0, 3)))
        institutions.append(
            inst(
                f"I{k:02d}",
                "hospital" if hospital else "clinic",
                draw(coord),
                draw(coord),
                offers,
                capacity,
            )
        )
    return Instance.of(facilities, institutions)
