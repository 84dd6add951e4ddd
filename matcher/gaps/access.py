"""Spatial accessibility by the two-step floating catchment area method (2SFCA) with a decay.

For a capability ``c`` with catchment ``d0`` (the run's maximum distance for ``c``), demand
points ``k`` (facilities missing ``c``, weight ``D_k`` = 1) and supply points ``j``
(institutions offering ``c``, weight ``S_j`` = capacity)::

    step 1   R_j = S_j / Σ_{k: d_kj ≤ d0} W(d_kj) D_k          (supply per demand reaching j)
    step 2   A_k = Σ_{j: d_kj ≤ d0} W(d_kj) R_j                 (accessibility of facility k)

with the decay ``W``: ``step`` 1; ``linear`` 1 − d/d0; ``gaussian`` (Dai 2010)
(e^{−½(d/d0)²} − e^{−½}) / (1 − e^{−½}). A_k is in "capacity units per facility": about 1 means
the facility's share of nearby capacity is one partnership.
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
    region: Region, supply: SupplyWeight = "capacity", unlimited_as: float | None = None
) -> np.ndarray:
    """S_j per institution: declared capacity (undeclared: ``unlimited_as``, default the mean
    declared capacity) or 1 each with ``count``."""
    cap = region.problem.capacity
    if supply == "count":
        return np.ones(len(cap))
    if supply != "capacity":
        raise ValueError(f"不明な供給量の指定「{supply}」(capacity または count)")
    if unlimited_as is None:
        declared = cap[cap >= 0]
        unlimited_as = float(declared.mean()) if len(declared) else 1.0
    return np.where(cap >= 0, cap, unlimited_as).astype(float)


def accessibility(
    region: Region,
    decay: Decay = "step",
    supply: SupplyWeight = "capacity",
    unlimited_as: float | None = None,
) -> pd.DataFrame:
    """2SFCA per facility and capability it misses (one row each), on the run's distances."""
    p, c = region.problem, region.cand
    s = supply_weights(region, supply, unlimited_as)
    demand = np.ones(p.n_fac)
    ids = region.facility_ids
    rows = []
    for cap in CAPABILITIES:
        bit = int(cap)
        pair = (c.covers & bit) > 0
        d0 = region.params.max_km[cap]
        offered = np.where((p.offers & bit) > 0, s, 0.0)
        need = np.where((p.missing & bit) > 0, demand, 0.0)
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
