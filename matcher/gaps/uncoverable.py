"""Facilities that no institution can cover within range: the nearest one and the range needed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ..geo import chord_to_km, unit_vectors
from ..model import CAPABILITIES, CAPABILITY_CODES
from .region import Region

UNCOVERABLE_COLUMNS = [
    "facility_id",
    "name",
    "kind",
    "municipality_code",
    "capability",
    "range_km",
    "nearest_institution_id",
    "nearest_km",
    "coverable_at_km",
]


def nearest_offering(region: Region, bit: int, facs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(institution position or -1, km) of the nearest institution offering ``bit``, any distance.

    Great-circle distance times the run's road factor (a travel matrix only covers in-range
    pairs, so it cannot say how far the nearest out-of-range institution is).
    """
    p = region.problem
    offering = np.flatnonzero((p.offers & bit) > 0)
    if len(offering) == 0 or len(facs) == 0:
        return np.full(len(facs), -1, np.int64), np.full(len(facs), np.nan)
    tree = cKDTree(unit_vectors(p.inst_lat[offering], p.inst_lon[offering]))
    chord, k = tree.query(unit_vectors(p.fac_lat[facs], p.fac_lon[facs]))
    return offering[np.atleast_1d(k)], chord_to_km(np.atleast_1d(chord)) * region.params.road_factor


def uncoverable(region: Region) -> pd.DataFrame:
    """One row per (facility, capability) it misses with no institution offering it in range.

    ``coverable_at_km`` is the range at which it would first become coverable: the distance to
    the nearest institution offering the capability (capacity aside).
    """
    p, c = region.problem, region.cand
    facs = region.instance.facilities
    insts = region.instance.institutions
    rows = []
    for cap in CAPABILITIES:
        bit = int(cap)
        reach = np.zeros(p.n_fac, bool)
        reach[c.fac[(c.covers & bit) > 0]] = True
        lost = np.flatnonzero(((p.missing & bit) > 0) & ~reach)
        near, km = nearest_offering(region, bit, lost)
        for k, i, d in zip(lost, near, km, strict=True):  # one nearest per facility
            f = facs[k]
            rows.append(
                {
                    "facility_id": f.facility_id,
                    "name": f.name,
                    "kind": f.kind,
                    "municipality_code": region.fac_municipality[k],
                    "capability": CAPABILITY_CODES[cap],
                    "range_km": region.params.max_km[cap],
                    "nearest_institution_id": insts[i].institution_id if i >= 0 else "",
                    "nearest_km": float(d),
                    "coverable_at_km": float(d),
                }
            )
    return pd.DataFrame(rows, columns=UNCOVERABLE_COLUMNS)


def coverable_share_by_range(region: Region, ranges_km: np.ndarray) -> pd.DataFrame:
    """Share of demand per capability that has an offering institution within each range.

    Answers "how far would the 16 km / 30 km limits have to stretch" for the whole region.
    """
    p = region.problem
    rows = []
    for cap in CAPABILITIES:
        bit = int(cap)
        need = np.flatnonzero((p.missing & bit) > 0)
        if len(need) == 0:
            continue
        _, km = nearest_offering(region, bit, need)
        for r in np.asarray(ranges_km, float):
            rows.append(
                {
                    "capability": CAPABILITY_CODES[cap],
                    "range_km": float(r),
                    "demand": len(need),
                    "share_coverable": float(np.mean(km <= r)),
                }
            )
    return pd.DataFrame(rows, columns=["capability", "range_km", "demand", "share_coverable"])
