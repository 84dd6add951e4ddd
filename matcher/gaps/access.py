"""Spatial accessibility by the two-step floating catchment area method (2SFCA) with a decay.

For a capability ``c`` with catchment ``d0`` (the run's maximum distance for ``c``), demand
points ``k`` (facilities missing ``c``, weight ``D_k`` = 1) and supply points ``j``
(institutions offering ``c``, weight ``S_j`` = capacity)::

    step 1   R_j = S_j / Σ_{k: d_kj ≤ d0} W(d_kj) D_k          (supply per demand reaching j)
    step 2   A_k = Σ_{j: d_kj ≤ d0} W(d_kj) R_j                 (accessibility of facility k)

with the decay ``W``: ``step`` 1; ``linear`` 1 − d/d0; ``gaussian`` (Dai 2010)
(e^{−½(d/d0)²} − e^{−½}) / (1 − e^{−½}). A_k is in "capacity units per facility": about 1 means
the facility's share of nearby capacity is one partnership.

Capacity means the same here as in matching (MODEL.md): the most NEW partner facilities an
institution takes; blank = not declared = unlimited. An unlimited institution can take every
facility that reaches it, so its supply is the number of demand points within its catchment
(``S_j = Σ_{k: d_kj ≤ d0} D_k``): with the step decay its ratio R_j is exactly 1, and it never
limits anyone — as in the matcher, where it never binds. (Replacing it by the mean declared
capacity, as this module once did, made undeclared hospitals look scarce where the matcher
treats them as free.) ``supply="count"`` counts each institution once instead.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..model import CAPABILITIES, CAPABILITY_CODES
from .region import AreaLevel, Region, area_codes, area_names

Decay = Literal["step", "linear", "gaussian"]
DECAYS: tuple[Decay, ...] = ("step", "linear", "gaussian")
SupplyWeight = Literal["capacity", "count"]


def decay_weight(km: np.ndarray, d0: float, decay: Decay) -> np.ndarray:
    """Weight of a pair at distance ``km`` in a catchment of ``d0`` (0 beyond it)."""
    km = np.asarray(km, float)
    inside = km <= d0 + 1e-9
    if decay == "step":
        w = np.ones_like(km)
    elif decay == "linear":
        w = np.clip(1.0 - km / d0, 0.0, 1.0) if d0 > 0 else np.ones_like(km)
    elif decay == "gaussian":
        e = np.exp(-0.5)
        w = (np.exp(-0.5 * (km / d0) ** 2) - e) / (1 - e) if d0 > 0 else np.ones_like(km)
    else:
        raise ValueError(f"不明な距離減衰「{decay}」(使えるのは {', '.join(DECAYS)})")
    return np.where(inside, np.clip(w, 0.0, 1.0), 0.0)


def two_step_fca(
    dem: np.ndarray,
    sup: np.ndarray,
    km: np.ndarray,
    demand: np.ndarray,
    supply: np.ndarray,
    d0: float,
    decay: Decay = "step",
) -> tuple[np.ndarray, np.ndarray]:
    """2SFCA on pairs ``(dem[p], sup[p], km[p])``: returns (R per supply point, A per demand point).

    Pairs beyond ``d0`` are ignored; a supply point that no demand reaches gets R = 0.
    """
    w = decay_weight(km, d0, decay)
    load = np.bincount(sup, weights=w * demand[dem], minlength=len(supply))
    ratio = np.divide(supply, load, out=np.zeros(len(supply)), where=load > 0)
    access = np.bincount(dem, weights=w * ratio[sup], minlength=len(demand))
    return ratio, access


def supply_weights(
    capacity: np.ndarray, reach: np.ndarray, supply: SupplyWeight = "capacity"
) -> np.ndarray:
    """S_j per institution: its declared capacity, or for an undeclared (unlimited, ``< 0``) one
    the demand ``reach`` within its catchment (see the module docstring); 1 each with ``count``."""
    if supply == "count":
        return np.ones(len(capacity))
    if supply != "capacity":
        raise ValueError(f"不明な供給量の指定「{supply}」(capacity または count)")
    return np.where(capacity >= 0, capacity, reach).astype(float)


def accessibility(
    region: Region,
    decay: Decay = "step",
    supply: SupplyWeight = "capacity",
) -> pd.DataFrame:
    """2SFCA per facility and capability it misses (one row each), on the run's distances."""
    p, c = region.problem, region.cand
    demand = np.ones(p.n_fac)
    ids = region.facility_ids
    rows = []
    for cap in CAPABILITIES:
        bit = int(cap)
        pair = (c.covers & bit) > 0
        d0 = region.params.max_km[cap]
        need = np.where((p.missing & bit) > 0, demand, 0.0)
        within = pair & (c.km <= d0 + 1e-9)
        reach_j = np.bincount(c.inst[within], weights=need[c.fac[within]], minlength=p.n_inst)
        s = supply_weights(p.capacity, reach_j, supply)
        offered = np.where((p.offers & bit) > 0, s, 0.0)
        _, a = two_step_fca(c.fac[pair], c.inst[pair], c.km[pair], need, offered, d0, decay)
        reach = np.bincount(c.fac[pair], minlength=p.n_fac)
        for k in np.flatnonzero(need):
            rows.append(
                (
                    ids[k],
                    region.fac_municipality[k],
                    CAPABILITY_CODES[cap],
                    float(a[k]),
                    int(reach[k]),
                )
            )
    return pd.DataFrame(
        rows,
        columns=[
            "facility_id",
            "municipality_code",
            "capability",
            "access",
            "institutions_in_range",
        ],
    )


def accessibility_by_area(
    per_facility: pd.DataFrame, level: AreaLevel = "municipality"
) -> pd.DataFrame:
    """Mean 2SFCA of the area's demand facilities per capability (each facility weighs 1)."""
    df = per_facility.copy()
    df["area_code"] = area_codes(df["municipality_code"].to_numpy(object), level)
    out = (
        df.groupby(["area_code", "capability"], sort=True)
        .agg(
            demand=("access", "size"),
            access_mean=("access", "mean"),
            access_min=("access", "min"),
            zero_access=("access", lambda a: int((a == 0).sum())),
        )
        .reset_index()
    )
    names = area_names()
    out.insert(1, "area_name", out["area_code"].map(lambda c: names.get(c, "")))
    return out
