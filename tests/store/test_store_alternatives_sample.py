"""On the bundled sample (高知県: real-shaped registry rows with filed partners, declarations and
buildings of several registrations), every facility page says what ``kyoryoku match`` says of
it: the same alternatives (institution, km, covers, capacity left), the same live proposals and
the same status — checked by hand at the end of session 6 through a fresh ``make run`` and the
served demo's JSON API (704 facilities, no difference); pinned here on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_fixtures import DATABASES, fresh_store

from matcher.match import match
from matcher.model import Instance, format_capabilities
from matcher.params import MatchParams
from matcher.sources.simple_csv import load_facilities, load_institutions
from matcher.store.facilities import facility_detail
from matcher.store.imports import import_simple
from matcher.store.planning import run_plan

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


@pytest.mark.parametrize("db", DATABASES)
def test_every_facility_page_says_what_match_says(db, tmp_path) -> None:
    facilities = load_facilities(SAMPLE / "facilities.csv").items
    institutions = load_institutions(SAMPLE / "institutions.csv").items
    cli = match(Instance.of(facilities, institutions), MatchParams(), "optimal")
    alternatives: dict[str, list[tuple[str, float, str, int | None]]] = {}
    for a in cli.alternatives:
        alternatives.setdefault(a.facility_id, []).append(
            (a.institution_id, round(a.distance_km, 3), format_capabilities(a.covers))
            + (a.remaining_capacity,)
        )
    proposed: dict[str, set[str]] = {}
    for p in cli.proposals:
        proposed.setdefault(p.facility_id, set()).add(p.institution_id)
    status = {o.facility_id: str(o.status_before) for o in cli.outcomes}
    with fresh_store(db, tmp_path) as store:
        with store.write() as s:
            import_simple(s, facilities, institutions, 2025)
        run_plan(store, "39", MatchParams(), warm_start=False)
        with store.read() as s:
            for f in facilities:
                page = facility_detail(s, f.facility_id)
                shown = [
                    (a["institution_id"], round(a["distance_km"], 3), a["covers"])
                    + (a["remaining_capacity"],)
                    for a in page["alternatives"]  # type: ignore[attr-defined]
                ]
                assert shown == alternatives.get(f.facility_id, []), f.facility_id
                live = {p["institution_id"] for p in page["proposals"]}  # type: ignore[attr-defined]
                assert live == proposed.get(f.facility_id, set()), f.facility_id
                if f.facility_id in status:
                    assert page["status"] == status[f.facility_id], f.facility_id
