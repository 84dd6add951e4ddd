"""A letter's capacity figures give one answer on every path (``matcher.capacity``):

- お願い後の残り枠 counts a site once, as the planner does: on generated simple-format data with
  site registrations it is the room less what the matcher itself counted against it
  (``SitePlan.used``), every alternative's 残り of the same run, and — for a stored run — the
  残り of the store's pages (``InstitutionState.remaining``, the one ledger), on SQLite and
  PostgreSQL;
- 「申告いただいた受入枠」 is the declaration, not the room a stored run had after another
  area's run reserved places; the room is its own figure (``ReportData.room``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from store_fixtures import DATABASES, fac, fresh_store, inst
from strategies import simple_files

from matcher.match import match, planning_graph, positions_of
from matcher.model import Instance
from matcher.params import MatchParams
from matcher.reports.pages import institution_context, render_letter
from matcher.reports.tables import ROOM_JA, ReportData
from matcher.store.imports import import_simple
from matcher.store.models import InstitutionRow
from matcher.store.planning import run_plan
from matcher.store.report_input import run_input
from matcher.store.state import institution_states
from matcher.wareki import today as today_jp

PARAMS = MatchParams(max_km={1: 15.0, 2: 12.0, 4: 20.0})  # type: ignore[dict-item]
DAY = dt.date(2026, 4, 1)


def matcher_used(instance: Instance, result, params: MatchParams) -> dict[str, int]:
    """institution_id → what the matcher counted of its capacity for ``result``'s proposals:
    the planning graph's own positions (one row per site) and ``SitePlan.used``."""
    problem, cand, plan = planning_graph(instance, params)
    pairs = [(p.facility_id, p.institution_id) for p in result.proposals]
    if plan is None:
        chosen, absent = positions_of(instance, cand, pairs)
        used = np.bincount(cand.inst[chosen], minlength=problem.n_inst)
    else:
        chosen, absent = positions_of(instance, plan.merged, pairs, plan.sites.unit)
        used = plan.used(chosen)
    assert not absent
    return {i.institution_id: int(used[k]) for k, i in enumerate(instance.institutions)}


def check_letters(instance: Instance, result, params: MatchParams) -> dict[str, int | None]:
    """Every request's お願い後の残り枠 against the matcher's own count and the alternatives'
    残り; returns institution_id → the letter's figure."""
    data = ReportData(instance, result, DAY)
    used = matcher_used(instance, result, params)
    shown: dict[str, int | None] = {}
    for i in data.requested_institutions:
        letter = institution_context(data, i)["remaining"]
        assert letter == data.remaining_capacity(i)
        if i.capacity is not None:
            assert letter == i.capacity - used[i.institution_id], i.institution_id
        shown[i.institution_id] = letter  # type: ignore[assignment]
    for a in result.alternatives:
        i = data.institution[a.institution_id]
        assert a.remaining_capacity == data.remaining_capacity(i), a
    return shown


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=simple_files(), apart=st.booleans())
def test_letter_remaining_is_the_matchers_own_with_sites(data, apart):
    facilities, institutions = data
    params = replace(PARAMS, count_site_registrations=apart)
    instance = Instance.of(facilities, institutions)
    check_letters(instance, match(instance, params, "optimal"), params)


def building() -> Instance:
    """One building registered twice (従来型 + ユニット型, one ``site_id``) and a third home,
    all near H1 (room for 2)."""
    site = {"site_id": "S1"}
    facilities = [
        replace(fac("F1", "tokuyo"), extra=site),
        replace(fac("F2", "tokuyo"), extra=site),
        fac("F3", "gh", dlat=0.002),
    ]
    return Instance.of(facilities, [inst("H1", capacity=2)])


def test_regression_a_site_counted_per_registration_in_the_letter():
    instance = building()
    result = match(instance, PARAMS, "optimal")
    asked = sorted(p.facility_id for p in result.proposals)
    assert asked == ["F1", "F2", "F3"]  # the building counts once: both homes fit in 2
    assert check_letters(instance, result, PARAMS) == {"H1": 0}
    apart = replace(PARAMS, count_site_registrations=True)
    result = match(instance, apart, "optimal")
    assert len(result.proposals) == 2
    assert check_letters(instance, result, apart) == {"H1": 0}


@pytest.mark.parametrize("db", DATABASES)
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example is a whole store
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=simple_files())
def test_stored_run_letter_remaining_is_the_store_pages(db, tmp_path_factory, data):
    facilities, institutions = data
    with fresh_store(db, tmp_path_factory.mktemp("sites")) as store:
        with store.write() as s:
            import_simple(s, facilities, institutions, 2025, DAY)
        run = run_plan(store, "39", PARAMS, on=DAY, warm_start=False)
        with store.read() as s:
            rebuilt = run_input(s, run.run_id)
            pages = institution_states(s, list(s.scalars(select(InstitutionRow))), today_jp())
    letters = check_letters(rebuilt.instance, rebuilt.result, PARAMS)
    for iid, left in letters.items():
        assert left == pages[iid].remaining, (iid, left, pages[iid])


def test_site_in_a_stored_run_counts_once_on_the_letter_and_the_page(store):
    with store.write() as s:
        import_simple(s, list(building().facilities), list(building().institutions), 2025)
    run = run_plan(store, "39", PARAMS)
    with store.read() as s:
        rebuilt = run_input(s, run.run_id)
        page = institution_states(s, [s.get(InstitutionRow, "H1")], today_jp())["H1"]
    assert (page.declared, page.used, page.remaining) == (2, 2, 0)
    assert check_letters(rebuilt.instance, rebuilt.result, PARAMS) == {"H1": 0}


# --- the declaration, not the room ----------------------------------------------------------

AREA_A, AREA_B = "39201", "39202"  # 高知市, 室戸市 (placed side by side here)


def two_areas(store) -> tuple[ReportData, ReportData]:
    """H1 declares 3. Area B's run reserves one place (FB1), then area A's run asks H1 for FA1
    and FA2 with the 2 places left: the reports of both runs."""
    facilities = [
        fac("FA1", dlat=0.001),
        fac("FA2", dlat=0.002),
        fac("FB1", dlat=-0.001, muni="392022"),
    ]
    with store.write() as s:
        import_simple(s, facilities, [inst("H1", capacity=3)], 2025)
    run_b = run_plan(store, AREA_B, actor="田中")
    run_a = run_plan(store, AREA_A, actor="山田")
    assert sorted(p.facility_id for p in run_a.result.proposals) == ["FA1", "FA2"]
    with store.read() as s:
        a, b = run_input(s, run_a.run_id), run_input(s, run_b.run_id)
        page = institution_states(s, [s.get(InstitutionRow, "H1")], today_jp())["H1"]
    assert (page.declared, page.used, page.remaining) == (3, 3, 0)
    assert a.exact and b.exact
    return ReportData(a.instance, a.result, DAY), ReportData(b.instance, b.result, DAY)


def test_letter_shows_the_declared_capacity_and_the_room_apart(store):
    a, b = two_areas(store)
    h1 = a.institution["H1"]
    # declared 3, room for this run 2 (one place taken by B), asked 2, left 0
    assert (a.declared_capacity(h1), a.room(h1), a.used_capacity(h1)) == (3, 2, 2)
    assert a.remaining_capacity(h1) == 0 and a.room_differs(h1)
    row = a.institution_table().set_index("医療機関ID").loc["H1"]
    assert (row["受入枠"], row[ROOM_JA], row["依頼する施設数"], row["残り枠"]) == (3, 2, 2, 0)
    # B's run: declared 3, room 1 (A's two requests), asked 1, left 0
    h1 = b.institution["H1"]
    assert (b.declared_capacity(h1), b.room(h1), b.remaining_capacity(h1)) == (3, 1, 0)


def test_letter_html_prints_the_declaration(store, tmp_path):
    a, _ = two_areas(store)
    html = render_letter(institution_context(a, a.institution["H1"]))
    assert "申告いただいた受入枠: 3施設" in html
    assert "今回お願いできる枠" in html and "2施設" in html
