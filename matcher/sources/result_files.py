"""Writing a run's output folder: proposals.csv, unmatched.csv, alternatives.csv, summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..model import (
    Facility,
    GeocodePrecision,
    Instance,
    Institution,
    format_capabilities,
    format_capabilities_ja,
)
from ..result import REASON_LABELS_JA, MatchResult
from .textfile import write_csv


def approximate_note(facility: Facility, institution: Institution) -> str:
    """Why a distance is approximate ("" when both ends are at their own coordinates)."""
    parts = [
        f"{who}は市区町村の代表点"
        for who, end in (("施設", facility), ("医療機関", institution))
        if end.geocode == GeocodePrecision.MUNICIPALITY
    ]
    return "・".join(parts) + ("のため距離は概算" if parts else "")


def _approximate(facility: Facility, institution: Institution) -> dict[str, object]:
    """The ``approximate`` and 距離の注記 cells of a pair's row."""
    note = approximate_note(facility, institution)
    return {"approximate": bool(note), "距離の注記": note}


def result_frames(instance: Instance, result: MatchResult) -> dict[str, pd.DataFrame]:
    """The run's tables with the MODEL.md columns first and Japanese helper columns after.

    Distances from a municipality's point (no coordinates in the registry) carry
    ``approximate=true`` and a 距離の注記 saying which end is approximate.
    """
    fac = {f.facility_id: f for f in instance.facilities}
    inst = {i.institution_id: i for i in instance.institutions}
    proposals = pd.DataFrame(
        [
            {
                "facility_id": p.facility_id,
                "institution_id": p.institution_id,
                "covers": format_capabilities(p.covers),
                "distance_km": round(p.distance_km, 3),
                "施設名": fac[p.facility_id].name,
                "医療機関名": inst[p.institution_id].name,
                "対応する要件": format_capabilities_ja(p.covers),
                **_approximate(fac[p.facility_id], inst[p.institution_id]),
            }
            for p in result.proposals
        ],
        columns=[
            "facility_id",
            "institution_id",
            "covers",
            "distance_km",
            "施設名",
            "医療機関名",
            "対応する要件",
            "approximate",
            "距離の注記",
        ],
    )
    unmatched = pd.DataFrame(
        [
            {
                "facility_id": u.facility_id,
                "capability": format_capabilities(u.capability),
                "reason": str(u.reason),
                "施設名": fac[u.facility_id].name,
                "要件": format_capabilities_ja(u.capability),
                "理由": REASON_LABELS_JA[u.reason],
            }
            for u in result.unmatched
        ],
        columns=["facility_id", "capability", "reason", "施設名", "要件", "理由"],
    )
    alternatives = pd.DataFrame(
        [
            {
                "facility_id": a.facility_id,
                "rank": a.rank,
                "institution_id": a.institution_id,
                "distance_km": round(a.distance_km, 3),
                "covers": format_capabilities(a.covers),
                "remaining_capacity": "" if a.remaining_capacity is None else a.remaining_capacity,
                "医療機関名": inst[a.institution_id].name,
                "受入枠": "申告なし(上限なし)"
                if a.remaining_capacity is None
                else f"残り{a.remaining_capacity}",
                **_approximate(fac[a.facility_id], inst[a.institution_id]),
            }
            for a in result.alternatives
        ],
        columns=[
            "facility_id",
            "rank",
            "institution_id",
            "distance_km",
            "covers",
            "remaining_capacity",
            "医療機関名",
            "受入枠",
            "approximate",
            "距離の注記",
        ],
    )
    outcomes = pd.DataFrame(
        [
            {
                "facility_id": o.facility_id,
                "kind": fac[o.facility_id].kind,
                "status_before": o.status_before.value,
                "status_after": o.status_after.value,
                "missing_before": format_capabilities(o.missing_before),
                "missing_after": format_capabilities(o.missing_after),
                "unknown": o.unknown,
                "candidates": o.candidates,
                "geocode": fac[o.facility_id].geocode,
                "施設名": fac[o.facility_id].name,
                "改定前の状況": o.status_before.label_ja,
                "提案後の状況": o.status_after.label_ja,
            }
            for o in result.outcomes
        ],
    )
    return {
        "proposals": proposals,
        "unmatched": unmatched,
        "alternatives": alternatives,
        "facilities_status": outcomes,
    }


def summary_dict(result: MatchResult) -> dict[str, object]:
    """``summary.json``: the five objective values at top level, then counts and parameters."""
    return {
        **result.objective.to_dict(),
        "mode": result.info.mode,
        "proven_optimal": result.info.proven_optimal,
        "message": result.info.message,
        "warnings": list(result.warnings_ja),
        "offers_unknown": result.offers_unknown,
        "counts": result.counts,
        "params": result.params.to_dict(),
        "seconds": {k: round(v, 4) for k, v in result.info.seconds.items()},
        "solver": result.info.details,
    }


def write_result(instance: Instance, result: MatchResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every output file of a run (CSV in UTF-8 with BOM) and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        name: write_csv(df, out / f"{name}.csv")
        for name, df in result_frames(instance, result).items()
    }
    summary = out / "summary.json"
    summary.write_text(
        json.dumps(summary_dict(result), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    paths["summary"] = summary
    return paths
