"""Hypothesis strategies generating valid small instances around one city."""

from __future__ import annotations

from collections.abc import Iterable

from conftest import fac, inst
from hypothesis import strategies as st

from matcher.model import FACILITY_KINDS, Capability, Instance, Institution, format_capabilities
from matcher.validate import INSTITUTION_COLUMNS, validate_institutions

KINDS = sorted(FACILITY_KINDS)


def validated(institutions: Iterable[Institution]) -> list[Institution]:
    """``institutions`` as the boundary reads them: written as rows of ``institutions.csv`` and
    read back by ``validate_institutions`` (which drops the ③ a clinic claims, with a warning)."""
    records = [
        {
            "institution_id": i.institution_id,
            "name": i.name,
            "kind": i.kind,
            "lat": repr(i.lat),
            "lon": repr(i.lon),
            "offers": format_capabilities(i.offers),
            "capacity": "" if i.capacity is None else str(i.capacity),
        }
        for i in institutions
    ]
    read = validate_institutions(records, "institutions.csv", list(INSTITUTION_COLUMNS))
    assert not read.errors, read.errors
    return read.items


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
        # A clinic's row may claim ③ (registries and filings do): what it really offers is ①②.
        offers = (
            draw(st.integers(1, 7))
            if hospital
            else draw(st.integers(1, 3)) | draw(st.sampled_from([0, int(Capability.ADMIT)]))
        )
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
    return Instance.of(facilities, validated(institutions))
