"""Demand and supply per area × capability, and the share of demand that can be covered at all."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..model import CAPABILITIES, CAPABILITY_CODES
from ..objective import coverage_after
from .region import AreaLevel, Region, area_names

BALANCE_COLUMNS = [
    "area_code",
    "area_name",
    "capability",
    "demand",
    "demand_mandatory",
    "coverable",
    "share_coverable",
    "supply_local",
    "capacity_local",
    "unlimited_local",
    "supply_in_range",
    "capacity_in_range",
    "unlimited_in_range",
    "covered_by_proposal",
]


def balance(
    region: Region, level: AreaLevel = "municipality", chosen: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per area × capability with demand.

    Columns
    -------
    demand
        facilities of the area missing the capability (``demand_mandatory``: of them 義務);
    coverable, share_coverable
        of those, how many have at least one institution offering it in range (and the share);
    supply_local, capacity_local, unlimited_local
        institutions located in the area offering it, their declared capacity summed, and how
        many declared none (unlimited);
    supply_in_range, capacity_in_range, unlimited_in_range
        the same over the distinct institutions in range of the area's demand, wherever they are;
    covered_by_proposal
        with ``chosen`` (positions into ``region.cand``): demand the proposal covers.
    """
    p, c = region.problem, region.cand
    fac_area, inst_area = region.fac_area(level), region.inst_area(level)
    names = area_names()
    got = coverage_after(p, c, chosen) if chosen is not None else None
    declared = np.where(p.capacity >= 0, p.capacity, 0)
    rows = []
    for cap in CAPABILITIES:
        bit = int(cap)
        need = (p.missing & bit) > 0
        offering = (p.offers & bit) > 0
        pair = (c.covers & bit) > 0
        reach = np.zeros(p.n_fac, bool)
        reach[c.fac[pair]] = True
        for area in sorted(set(fac_area[need])):
            in_area = need & (fac_area == area)
            local = offering & (inst_area == area)
            in_range = np.zeros(p.n_inst, bool)
            in_range[c.inst[pair & in_area[c.fac]]] = True
            demand = int(in_area.sum())
            coverable = int((in_area & reach).sum())
            rows.append(
                {
                    "area_code": area,
                    "area_name": names.get(area, ""),
                    "capability": CAPABILITY_CODES[cap],
                    "demand": demand,
                    "demand_mandatory": int((in_area & p.mandatory).sum()),
                    "coverable": coverable,
                    "share_coverable": coverable / demand,
                    "supply_local": int(local.sum()),
                    "capacity_local": int(declared[local].sum()),
                    "unlimited_local": int((local & (p.capacity < 0)).sum()),
                    "supply_in_range": int(in_range.sum()),
                    "capacity_in_range": int(declared[in_range].sum()),
                    "unlimited_in_range": int((in_range & (p.capacity < 0)).sum()),
                    "covered_by_proposal": None
                    if got is None
                    else int((in_area & ((got & bit) > 0)).sum()),
                }
            )
    return pd.DataFrame(rows, columns=BALANCE_COLUMNS)
