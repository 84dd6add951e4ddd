"""The facility page's alternatives never name a partner the facility filed, as
``kyoryoku match``'s never do (the planner never proposes one and a hand-made proposal of one is
refused), and the proposals behind the page are the matcher's.

Found using the product end to end: on the bundled sample the page listed a facility's own filed
partner as its first alternative for 43 of 292 facilities; with that fixed, the page's
alternatives equal ``kyoryoku match``'s for all 292. On generated data they still differ in
places (an institution the matcher does not list as an alternative; the page searches with the
default ranges rather than the area's latest run's): not asserted here yet, see the closing
note of session 5."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from store_fixtures import DATABASES, fresh_store
from strategies import simple_files

from matcher.match import match
from matcher.model import Instance, filed_partner_pairs
from matcher.params import MatchParams
from matcher.store.facilities import facility_detail
from matcher.store.imports import import_simple
from matcher.store.planning import run_plan

YEAR, DAY = 2026, dt.date(2026, 11, 1)
# The page searches with the default ranges (``store.facilities.facility_candidates``); a run
# with other ranges is not followed by the page yet (see the closing note of session 5).
PARAMS = MatchParams()


@pytest.mark.parametrize("db", DATABASES)
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example is a whole store
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=simple_files())
def test_page_alternatives_never_name_a_filed_partner(db, tmp_path_factory, data):
    facilities, institutions = data
    cli = match(Instance.of(facilities, institutions), PARAMS, "optimal")
    filed = filed_partner_pairs(facilities)
    with fresh_store(db, tmp_path_factory.mktemp("store")) as store:
        with store.write() as s:
            import_simple(s, facilities, institutions, YEAR, DAY)
        stored = run_plan(store, "39", PARAMS, on=DAY, warm_start=False)
        assert {(p.facility_id, p.institution_id) for p in stored.result.proposals} == {
            (p.facility_id, p.institution_id) for p in cli.proposals
        }
        with store.read() as s:
            for f in facilities:
                page = facility_detail(s, f.facility_id)
                shown = [
                    (
                        a["institution_id"],
                        round(a["distance_km"], 3),
                        a["covers"],
                        a["remaining_capacity"],
                    )
                    for a in page["alternatives"]  # type: ignore[attr-defined]
                ]
                assert not {(f.facility_id, a[0]) for a in shown} & filed, (f.facility_id, shown)
