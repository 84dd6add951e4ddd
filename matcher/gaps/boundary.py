"""Cross-boundary (広域) matching: proposals crossing area lines, and matching kept within areas."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from ..candidates import Candidates
from ..objective import evaluate
from ..result import MatchResult
from ..solve.optimal import solve_optimal
from .region import AreaLevel, Region, area_names
from .whatif import full_counts

Scope = Literal["none", "prefecture", "municipality"]
SCOPES: tuple[Scope, ...] = ("none", "prefecture", "municipality")


def crossings(region: Region, result: MatchResult) -> pd.DataFrame:
    """One row per proposal with both municipalities and whether it crosses a line."""
    fpos = {fid: k for k, fid in enumerate(region.facility_ids)}
    ipos = {iid: k for k, iid in enumerate(region.institution_ids)}
    rows = []
    for pr in result.proposals:
        fm = region.fac_municipality[fpos[pr.facility_id]]
        im = region.inst_municipality[ipos[pr.institution_id]]
        rows.append(
            {
                "facility_id": pr.facility_id,
                "institution_id": pr.institution_id,
                "facility_municipality": fm,
                "institution_municipality": im,
                "distance_km": pr.distance_km,
                "cross_municipality": fm != im,
                "cross_prefecture": fm[:2] != im[:2],
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "facility_id",
            "institution_id",
            "facility_municipality",
            "institution_municipality",
            "distance_km",
            "cross_municipality",
            "cross_prefecture",
        ],
    )


def within_scope(region: Region, scope: Scope) -> Candidates:
    """The candidate pairs whose facility and institution lie in the same area of ``scope``."""
    c = region.cand
    if scope == "none":
        return c
    if scope not in SCOPES:
        raise ValueError(f"不明な範囲「{scope}」(使えるのは {', '.join(SCOPES)})")
    level: AreaLevel = "prefecture" if scope == "prefecture" else "municipality"
    fa, ia = region.fac_area(level), region.inst_area(level)
    keep = fa[c.fac] == ia[c.inst]
    return Candidates(c.fac[keep], c.inst[keep], c.km[keep], c.covers[keep], c.n_fac, c.n_inst)


def scope_comparison(
    region: Region, scopes: tuple[Scope, ...] = SCOPES
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Optimal proposals with matching restricted to each scope.

    Returns (one row per scope with the five objective values, one row per municipality with
    the demand facilities fully covered under each scope). A municipality whose count drops
    under ``municipality`` needs 広域 matching.
    """
    p = region.problem
    summary, per_area = [], {}
    muni = region.fac_municipality
    demand = p.missing > 0
    for scope in scopes:
        cand = within_scope(region, scope)
        chosen, report = solve_optimal(
            p, cand, region.params.max_new_partners, region.params.time_limit
        )
        o = evaluate(p, cand, chosen)
        full, _, _ = full_counts(p, cand, chosen)
        summary.append(
            {
                "scope": scope,
                "candidate_pairs": len(cand),
                **o.to_dict(),
                "demand_facilities": int(demand.sum()),
                "proven_optimal": report.proven,
            }
        )
        per_area[scope] = full
    names = area_names()
    rows = []
    for area in sorted(set(muni[demand])):
        sel = demand & (muni == area)
        row = {"municipality_code": area, "name": names.get(area, ""), "demand": int(sel.sum())}
        for scope in scopes:
            row[f"full_{scope}"] = int((per_area[scope] & sel).sum())
        rows.append(row)
    return pd.DataFrame(summary), pd.DataFrame(rows)
