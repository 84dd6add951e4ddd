"""Optimal vs greedy vs stable on the same instance, at several capacity tightness levels."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..generate import generate
from ..match import match
from ..model import Instance
from ..params import MODES, MatchParams, Mode
from .region import scale_capacity


def mode_comparison(
    instance: Instance, params: MatchParams | None = None, modes: Iterable[Mode] = MODES
) -> pd.DataFrame:
    """One row per mode: the five objective values, counts and seconds."""
    rows = []
    for mode in modes:
        r = match(instance, params, mode)
        rows.append(
            {
                "mode": mode,
                **r.objective.to_dict(),
                "demand_facilities": r.counts["demand_facilities"],
                "unmatched": len(r.unmatched),
                "proven_optimal": r.info.proven_optimal,
                "seconds": round(r.info.seconds.get("total", 0.0), 3),
            }
        )
    return pd.DataFrame(rows)


def tightness_comparison(
    factors: Iterable[float],
    prefecture: str | None = "高知県",
    seed: int = 1,
    scale: float = 1.0,
    params: MatchParams | None = None,
    base: Instance | None = None,
    undeclared: int | None = None,
) -> pd.DataFrame:
    """:func:`mode_comparison` at each capacity factor.

    Instances come from ``generate(capacity_factor=f)``, or with ``base`` from scaling its
    declared capacities; ``undeclared`` gives institutions without a declared capacity that
    capacity (as in :func:`~matcher.gaps.region.scale_capacity`; ``None`` keeps them unlimited).
    """
    frames = []
    for f in factors:
        if base is None:
            inst = generate(prefecture, scale=scale, seed=seed, capacity_factor=f)
            inst = inst if undeclared is None else scale_capacity(inst, 1.0, undeclared)
        else:
            inst = scale_capacity(base, f, undeclared)
        df = mode_comparison(inst, params)
        df.insert(0, "capacity_factor", f)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
