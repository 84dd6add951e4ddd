"""The web's read cache under writes from elsewhere (another worker's engine, on SQLite and on
PostgreSQL): a proposal change refreshes exactly what it touches — the facility index is
patched facility by facility, a facility's page follows its own proposals and the institutions
it shows — and every cached answer equals the uncached one."""

from __future__ import annotations

import pytest
from store_fixtures import fac, inst

from api.cache import ReadCache
from matcher.store import facilities as store_facilities
from matcher.store.cache import NO_CACHE
from matcher.store.db import open_store
from matcher.store.facilities import cached_facility_detail, facility_index
from matcher.store.imports import import_simple
from matcher.store.models import ProposalRow
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status
from matcher.vocab import CodeSet

SCOPE = CodeSet.of(["39"])


def seed(store):
    """Two groups far apart: F1/F2 near H1 and C1; F8 near H8 only (its pages share nothing)."""
    facs = [fac("F1", dlat=0.001), fac("F2", dlat=-0.001), fac("F8", dlat=0.8)]
    insts = [
        inst("H1", capacity=5),
        inst("C1", "clinic", dlat=0.02, offers=3),
        inst("H8", dlat=0.8, dlon=0.01, capacity=5),
    ]
    with store.write() as s:
        import_simple(s, facs, insts, 2025)
    return run_plan(store, "39")


def change(other, proposal_id, status):
    """A status change through another engine (another worker or process)."""
    with other.read() as s:
        version = s.get(ProposalRow, proposal_id).version
    with other.write() as s:
        set_status(s, proposal_id, status, version, "別のワーカー")


@pytest.fixture
def other(db_url):
    s = open_store(db_url)
    yield s
    s.dispose()


def test_cache_is_on_for_both_databases(store):
    cache = ReadCache(store.engine)
    assert cache.enabled
    cache.close()


def test_facility_index_is_patched_not_recomputed(store, other, monkeypatch):
    report = seed(store)
    cache = ReadCache(store.engine)
    first = facility_index(cache, store)
    assert facility_index(cache, store) is first
    calls = []
    full = store_facilities.all_facility_states
    monkeypatch.setattr(
        store_facilities, "all_facility_states", lambda s: calls.append(1) or full(s)
    )
    target = next(c for c in report.of("new") if c.facility_id == "F1")
    change(other, target.proposal_id, "contacted")
    patched = facility_index(cache, store)
    assert patched is not first and calls == []  # patched, not recomputed
    fresh = facility_index(NO_CACHE, store)
    assert patched.dicts == fresh.dicts
    assert [s.facility_id for s in patched.states] == [s.facility_id for s in fresh.states]
    assert patched.by_id["F1"].pending and not first.by_id["F1"].pending
    assert patched.by_id["F8"] is first.by_id["F8"]
    cache.close()


def test_facility_page_follows_its_proposals_and_institutions(store, other):
    report = seed(store)
    cache = ReadCache(store.engine)
    pages = {f: cached_facility_detail(cache, store, SCOPE, f) for f in ("F1", "F2", "F8")}
    for f, page in pages.items():
        assert cached_facility_detail(cache, store, SCOPE, f) is page
    # F1's proposal with H1 is withdrawn: F1's page and F2's (it shows H1's capacity: the
    # ledger counts live proposals) change
    target = next(c for c in report.of("new") if c.facility_id == "F1")
    change(other, target.proposal_id, "withdrawn")
    after = {f: cached_facility_detail(cache, store, SCOPE, f) for f in ("F1", "F2", "F8")}
    assert after["F8"] is pages["F8"]  # shares nothing with the change: still cached
    assert after["F1"] is not pages["F1"]
    shown = {
        c["institution_id"]
        for c in pages["F2"]["candidates"] + pages["F2"]["proposals"]  # type: ignore[operator]
    }
    if target.institution_id in shown:
        assert after["F2"] is not pages["F2"]
    with store.read() as s:
        for f in ("F1", "F2", "F8"):
            assert after[f] == store_facilities.facility_detail(s, f)
    cache.close()


def test_capacity_change_recomputes_only_the_changed_facility_page(store, other, monkeypatch):
    report = seed(store)
    cache = ReadCache(store.engine)
    for f in ("F1", "F2", "F8"):
        cached_facility_detail(cache, store, SCOPE, f)
    computed = []
    full = store_facilities.facility_detail
    monkeypatch.setattr(
        store_facilities,
        "facility_detail",
        lambda s, f, *source: computed.append(f) or full(s, f, *source),
    )
    target = next(c for c in report.of("new") if c.facility_id == "F1")
    change(other, target.proposal_id, "withdrawn")  # H1/C1's used capacity moves
    after = {f: cached_facility_detail(cache, store, SCOPE, f) for f in ("F1", "F2", "F8")}
    assert computed == ["F1"]  # F2 keeps its page; only the capacities laid over it are new
    with store.read() as s:
        for f, page in after.items():
            assert page == full(s, f)
    cache.close()


def test_contacting_keeps_other_pages_the_ledger_is_unchanged(store, other):
    """proposed → contacted uses no more capacity (both are in the ledger): F2's page, which
    shows H1's remaining capacity, stays cached and stays right."""
    report = seed(store)
    cache = ReadCache(store.engine)
    before = cached_facility_detail(cache, store, SCOPE, "F2")
    target = next(c for c in report.of("new") if c.facility_id == "F1")
    change(other, target.proposal_id, "contacted")
    assert cached_facility_detail(cache, store, SCOPE, "F2") is before
    with store.read() as s:
        assert before == store_facilities.facility_detail(s, "F2")
    cache.close()
