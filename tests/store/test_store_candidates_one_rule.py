"""One rule for "what an institution offers now" (the declaration in force, latest start wins;
its offers, or the registry's when it states none): the candidates a facility's page lists are
the pairs the planner considers for that facility — the same institutions, distances and covers
(``MatchParams.reach``), the same offers, and the ledger's capacity (``state.capacity_use``) —
on generated stores on SQLite and PostgreSQL.

Declarations are written as rows so that several may be in force at once (the model allows it:
an import that rewrites an earlier declaration reopens it, see the explicit case below); the
facility page once read the latest declaration *that states offers*, the ledger and the planner
the latest one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from store_fixtures import DATABASES, fresh_store, seed_small_region
from strategies import simple_files

from matcher.candidates import Problem, build_candidates
from matcher.model import format_capabilities
from matcher.params import MatchParams
from matcher.store.cache import NO_CACHE
from matcher.store.db import Store
from matcher.store.facilities import CachedPages, facility_detail
from matcher.store.imports import Declaration, import_declarations, import_simple
from matcher.store.models import DeclarationRow, InstitutionRow
from matcher.store.planner_input import load_state
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.proposals import list_proposals
from matcher.store.state import institution_states
from matcher.vocab import admissible_offers
from matcher.wareki import today as today_jp

AREA = "39"
PARAMS = MatchParams()  # the facility page's parameters
DECISIONS = ("proposed", "contacted", "agreed", "declined", "withdrawn")


def check_pages_against_planner(store: Store) -> list[str]:
    """Check every facility of the area: its page's candidates (read directly and through the
    cached tables) against the planner's candidate graph and the ledger; returns the facility
    ids that had candidates (so that callers can tell the check was not vacuous)."""
    today = today_jp()
    with store.read() as s:
        state = load_state(s, AREA, PARAMS, on=today)
        instance = state.instance
        problem = Problem.from_instance(instance, PARAMS)
        cand = build_candidates(problem, PARAMS)
        ledger = institution_states(s, list(s.scalars(select(InstitutionRow))), today)
        planned = {i.institution_id: i for i in instance.institutions}
        pairs: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
        for k in range(len(cand)):
            f, i = int(cand.fac[k]), int(cand.inst[k])
            iid = instance.institutions[i].institution_id
            km, covers = float(cand.km[k]), int(cand.covers[k])
            # the range rule, pair by pair: what is missing, offered, and within its range
            assert covers == int(problem.missing[f]) & planned[iid].offers & PARAMS.reach(km)
            pairs[instance.facilities[f].facility_id].append((iid, km, covers))
        shown = []
        for f in instance.facilities:
            want = [(i, round(km, 3), format_capabilities(c)) for i, km, c in pairs[f.facility_id]]
            for source in (None, CachedPages(NO_CACHE, store, today)):
                page = facility_detail(s, f.facility_id, source)
                got = [
                    (c["institution_id"], c["distance_km"], c["covers"]) for c in page["candidates"]
                ]
                assert got == want, (f.facility_id, source)
                for c in page["candidates"]:
                    iid = str(c["institution_id"])
                    now = ledger[iid]
                    assert c["offers"] == format_capabilities(planned[iid].offers), iid
                    assert c["offers"] == format_capabilities(now.offers), iid
                    assert state.capacity_declared[iid] == now.declared == c["declared_capacity"]
                    assert (c["used_capacity"], c["remaining_capacity"]) == (
                        now.used,
                        now.remaining,
                    ), iid
            if want:
                shown.append(f.facility_id)
        return shown


# (institution id, start and end in days from today (end None: open), willing, capacity, offers)
DeclarationSpec = tuple[str, int, int | None, bool, int | None, int | None]


@st.composite
def declarations(draw, institution_ids: list[str]) -> list[DeclarationSpec]:
    """Up to three declarations per institution, some in force together, some past or future;
    offers stated or not (NULL: keep the registry's)."""
    out = []
    for iid in institution_ids:
        for start in draw(st.lists(st.integers(-400, 30), max_size=3, unique=True)):
            out.append(
                (
                    iid,
                    start,
                    draw(st.one_of(st.none(), st.integers(start, 60))),
                    draw(st.booleans()),
                    draw(st.one_of(st.none(), st.integers(0, 3))),
                    draw(st.one_of(st.none(), st.integers(0, 7))),
                )
            )
    return out


def declaration_rows(specs: list[DeclarationSpec], kinds: dict[str, str]) -> list[DeclarationRow]:
    today = today_jp()
    return [
        DeclarationRow(
            institution_id=iid,
            valid_from=today + dt.timedelta(days=start),
            valid_to=None if end is None else today + dt.timedelta(days=end),
            willing=willing,
            capacity=capacity,
            offers=None if offers is None else admissible_offers(kinds[iid], offers),
            source="test",
        )
        for iid, start, end, willing, capacity, offers in specs
    ]


@pytest.mark.parametrize("db", DATABASES)
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example is a whole store
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=simple_files(), data=st.data())
def test_facility_pages_list_what_the_planner_considers(db, tmp_path_factory, files, data):
    facilities, institutions = files
    today = today_jp()
    specs = data.draw(declarations([i.institution_id for i in institutions]))
    decls = declaration_rows(specs, {i.institution_id: i.kind for i in institutions})
    with fresh_store(db, tmp_path_factory.mktemp("store")) as store:
        with store.write() as s:
            import_simple(s, facilities, institutions, 2025, today - dt.timedelta(days=600))
            s.add_all(decls)
        run_plan(store, AREA, PARAMS, actor="t")
        with store.read() as s:
            proposals = list_proposals(s, AREA)
        steps = data.draw(st.lists(st.sampled_from(DECISIONS), min_size=len(proposals)))
        for p, step in zip(proposals, steps, strict=False):
            if step != "proposed":
                with store.write() as s:
                    set_status(s, p.id, step, p.version, "t")  # type: ignore[arg-type]
        check_pages_against_planner(store)


def test_a_reopened_declaration_stating_offers_does_not_fill_in_the_newer_one(store) -> None:
    """The model's explicit case: H2 (a hospital offering ①②③ in the registry) declared ② only
    on day 1; a newer declaration (day 2) states a capacity and no offers, so H2 offers ①②③
    again; the day-1 declaration is then imported again with another capacity, which updates it
    and keeps it closed the day before day 2 (one declaration in force on any day). The pages
    list H2 as the planner sees it."""
    today = today_jp()
    day1, day2 = today - dt.timedelta(days=30), today - dt.timedelta(days=10)
    seed_small_region(store, declared_on=today - dt.timedelta(days=100))
    with store.write() as s:
        import_declarations(s, [Declaration("H2", day1, 2, 2, True, None, "1回目")])
        import_declarations(s, [Declaration("H2", day2, 3, None, True, None, "2回目")])
        import_declarations(s, [Declaration("H2", day1, 1, 2, True, None, "1回目 再")])
    with store.read() as s:
        rows = s.scalars(
            select(DeclarationRow)
            .where(DeclarationRow.institution_id == "H2", DeclarationRow.valid_from >= day1)
            .order_by(DeclarationRow.valid_from)
        ).all()
        assert [(r.valid_from, r.valid_to, r.offers) for r in rows] == [
            (day1, day2 - dt.timedelta(days=1), 2),
            (day2, None, None),
        ]
        h2 = institution_states(s, [s.get(InstitutionRow, "H2")], today)["H2"]
        assert (h2.offers, h2.declared) == (7, 3)
    run_plan(store, AREA, PARAMS, actor="t")
    shown = check_pages_against_planner(store)
    assert shown
    with store.read() as s:
        f3 = facility_detail(s, "F3")  # the 特養 needs ③: H2 covers it as the planner sees it
    h2_row = next(c for c in f3["candidates"] if c["institution_id"] == "H2")
    assert h2_row["offers"] == format_capabilities(7)
