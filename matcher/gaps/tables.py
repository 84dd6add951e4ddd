"""All gap-analysis tables of a region in one call (for the ``gaps`` command and notebooks)."""

from __future__ import annotations

import pandas as pd

from ..parallel import Executor
from ..result import MatchResult
from .access import Decay, accessibility, accessibility_by_area
from .balance import balance
from .boundary import crossings, scope_comparison
from .region import Region, chosen_of
from .uncoverable import uncoverable
from .whatif import WhatIfMeasure, WhatIfStats, capacity_whatif, site_whatif


def gap_tables(
    region: Region,
    result: MatchResult,
    decay: Decay = "gaussian",
    whatif: bool = True,
    site_capacity: int | None = 5,
    stats: WhatIfStats | None = None,
    executor: Executor | None = None,
    measure: WhatIfMeasure = "objective",
) -> dict[str, pd.DataFrame]:
    """Table name → DataFrame (code columns; ``matcher.gaps.ja.in_japanese`` for people);
    ``result`` is the region's optimal run (``matcher.match.match``). ``executor`` runs the
    what-if re-solves (``matcher.parallel``; default: this process); ``measure``: what the
    what-if compares (``matcher.gaps.whatif``; default all five levels, so that equal coverage
    gains — and a region where every facility can already be covered — are ranked by
    partnerships and km)."""
    chosen = chosen_of(region, result.proposals)
    access = accessibility(region, decay)
    scopes, by_muni = scope_comparison(region)
    tables = {
        "balance_municipality": balance(region, "municipality", chosen),
        "balance_prefecture": balance(region, "prefecture", chosen),
        "access_facility": access,
        "access_municipality": accessibility_by_area(access, "municipality"),
        "uncoverable": uncoverable(region),
        "crossings": crossings(region, result),
        "scope_summary": scopes,
        "scope_municipality": by_muni,
    }
    if whatif:
        stats = stats if stats is not None else WhatIfStats()
        tables["whatif_capacity"] = capacity_whatif(
            region, chosen=chosen, stats=stats, executor=executor, measure=measure
        )
        tables["whatif_sites"] = site_whatif(
            region, capacity=site_capacity, stats=stats, executor=executor, measure=measure
        )
    return tables
