"""Hypothesis strategies generating valid small instances around one city."""

from __future__ import annotations

from collections.abc import Iterable

from conftest import at_km, fac, inst
from hypothesis import strategies as st

from matcher.model import (
    FACILITY_KINDS,
    Capability,
    Facility,
    GeocodePrecision,
    Instance,
    Institution,
    format_capabilities,
)
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


@st.composite
def simple_files(draw) -> tuple[list[Facility], list[Institution]]:
    """Facilities and institutions as a coordinator's simple-format files would hold them."""
    coord = st.floats(-12, 12, allow_nan=False).map(lambda v: round(v, 3))
    n_i = draw(st.integers(1, 6))
    institutions = []
    for k in range(n_i):
        hospital = draw(st.booleans())
        lat, lon = at_km(draw(coord), draw(coord))
        extra: dict[str, str] = {}
        if draw(st.booleans()):
            extra["infection_agreement"] = "true"
        if draw(st.booleans()):
            extra["corporate_number"] = draw(st.sampled_from(["1000000000001", "1000000000002"]))
        institutions.append(
            Institution(
                f"I{k:02d}",
                f"医療機関{k}",
                "hospital" if hospital else "clinic",
                round(lat, 6),
                round(lon, 6),
                draw(st.integers(1, 7)) if hospital else draw(st.integers(1, 3)),
                draw(st.one_of(st.none(), st.integers(0, 3))),
                "392014",
                f"高知県高知市本町{k + 1}",
                extra=extra,
            )
        )
    ids = [i.institution_id for i in institutions] + ["X99"]  # X99: not in the file
    n_f = draw(st.integers(1, 7))
    facilities = []
    for k in range(n_f):
        kind = draw(st.sampled_from(KINDS))
        required = FACILITY_KINDS[kind].required
        covered = draw(st.integers(0, 7)) & required
        partners = draw(st.lists(st.sampled_from(ids), max_size=2, unique=True))
        has = True if covered or partners else draw(st.sampled_from([None, False]))
        extra = {}
        if partners:
            extra["partner_ids"] = "+".join(partners)
        if k and draw(st.integers(0, 3)) == 0:  # a second registration of the previous building
            prev = facilities[-1]
            lat, lon = prev.lat, prev.lon
            extra["site_id"] = prev.extra.setdefault("site_id", f"S{k}")
        else:
            lat, lon = at_km(draw(coord), draw(coord))
        if draw(st.booleans()):
            extra["corporate_number"] = draw(st.sampled_from(["1000000000001", "1000000000003"]))
        facilities.append(
            Facility(
                f"F{k:02d}",
                f"施設{k}",
                kind,
                round(lat, 6),
                round(lon, 6),
                covered,
                has,
                "392014",
                f"高知県高知市桟橋通{k + 1}",
                # placed at its municipality's point (approximate) now and then
                draw(
                    st.sampled_from([GeocodePrecision.EXACT] * 4 + [GeocodePrecision.MUNICIPALITY])
                ),
                extra=extra,
            )
        )
    return facilities, institutions
