"""The facility pages, lists and ledger the web serves from its read cache (issue 26) equal what
the store says, on the bundled sample (高知県, with a few sites added) planned as the prefecture,
after agreements, contacts, declines and withdrawals made through another engine (another
worker): every cached answer — a page computed cold from the cached tables, a page kept and
laid over with the patched ledger, the patched list of every proposal and the facility states —
equals the uncached one, on SQLite and on PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from api.cache import ReadCache
from matcher.infection import INSTITUTION_KEY
from matcher.sources.simple_csv import load_facilities, load_institutions
from matcher.store.db import open_store
from matcher.store.facilities import (
    cached_facility_detail,
    cached_facility_states,
    cached_institution_ledger,
    facility_detail,
    facility_dict,
    institution_ledger,
    scoped_states,
)
from matcher.store.imports import import_simple
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.proposals import cached_proposals, list_proposals, scoped_proposals
from matcher.vocab import CodeSet, ProposalStatus
from matcher.wareki import today as today_jp

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
SCOPE = CodeSet.of(["39"])


def seed(store) -> None:
    """The sample; every 40th facility and the next one of the same municipality made one site
    (one corporation, one address), so the ledger counts sites; every third institution declares
    itself 第二種協定指定医療機関, so agreements change ``has_infection_partner``."""
    facs = load_facilities(SAMPLE / "facilities.csv").items
    insts = load_institutions(SAMPLE / "institutions.csv").items
    insts[::3] = [replace(i, extra={**i.extra, INSTITUTION_KEY: "true"}) for i in insts[::3]]
    for k in range(0, len(facs) - 1, 40):
        a, b = facs[k], facs[k + 1]
        if a.municipality_code == b.municipality_code:
            extra = {"corporate_number": f"70000000{k:05d}"}
            facs[k] = replace(a, extra={**a.extra, **extra})
            facs[k + 1] = replace(b, address=a.address, extra={**b.extra, **extra})
    with store.write() as s:
        import_simple(s, facs, insts, 2025)
    run_plan(store, "39", actor="t")


def decide(other, proposals, steps) -> None:
    """Each proposal through ``steps`` (statuses), written by another engine."""
    for p in proposals:
        version = p.version
        for status in steps:
            with other.write() as s:
                version = set_status(s, p.id, status, version, "別のワーカー").version


def same_answers(store, cache, facility_ids) -> None:
    on = today_jp()
    with store.read() as s:
        for f in facility_ids:
            assert cached_facility_detail(cache, store, SCOPE, f) == facility_detail(s, f), f
        assert cached_institution_ledger(cache, store, on) == institution_ledger(s, None, on)
        assert cached_proposals(cache, store, SCOPE) == scoped_proposals(s, SCOPE)
        index, states = cached_facility_states(cache, store, SCOPE)
        fresh = scoped_states(s, SCOPE)
        assert [st.facility_id for st in states] == [st.facility_id for st in fresh]
        assert [st.status for st in states] == [st.status for st in fresh]
        assert [st.pending for st in states] == [st.pending for st in fresh]
        assert [index.dicts[st.facility_id] for st in states] == [facility_dict(st) for st in fresh]


def test_cached_pages_lists_and_ledger_equal_the_store(store, db_url) -> None:
    seed(store)
    other = open_store(db_url)
    cache = ReadCache(store.engine)
    try:
        with store.read() as s:
            ids = [st.facility_id for st in scoped_states(s, SCOPE)]
            live = list_proposals(s, "39", status="proposed")
        assert len(ids) == 704 and len(live) > 200
        shown = ids[::9]  # cold pages from the cached tables
        same_answers(store, cache, shown)
        P = ProposalStatus
        decide(other, live[0:12], [P.CONTACTED, P.AGREED])  # coverage changes
        decide(other, live[12:18], [P.CONTACTED])
        decide(other, live[18:24], [P.DECLINED])  # the ledger moves
        decide(other, live[24:30], [P.WITHDRAWN])
        touched = {p.facility_id for p in live[:30]}
        same_answers(store, cache, shown + sorted(touched))  # kept, patched and recomputed
        with store.read() as s:  # agreements now give some facilities an infection partner
            assert any(st.has_infection_partner for st in scoped_states(s, SCOPE))
        decide(other, live[30:34], [P.AGREED])
        same_answers(store, cache, ids[::5])
    finally:
        cache.close()
        other.dispose()


def test_cached_pages_follow_a_new_runs_ranges_and_a_site_mates_decline(store, db_url) -> None:
    """A run with other ranges changes every page's candidates (the page searches with the
    area's latest run's ranges); a pair declined for one registration of a building closes it on
    the page of the other registration (``facilities.closed_institutions``): the cached pages
    follow both, as the uncached ones do."""
    from matcher.params import MatchParams
    from matcher.store.facilities import municipality_sites
    from matcher.vocab import CAPABILITIES

    seed(store)
    other = open_store(db_url)
    cache = ReadCache(store.engine)
    try:
        with store.read() as s:
            ids = [st.facility_id for st in scoped_states(s, SCOPE)]
            codes = sorted({st.row.code5 for st in scoped_states(s, SCOPE)})
            mates = {f: m for c in codes for f, m in municipality_sites(s, c).items()}
        shown = ids[::7]
        same_answers(store, cache, shown)
        with store.read() as s:
            before = {f: facility_detail(s, f)["candidates"] for f in shown}
        run_plan(other, "39", MatchParams(max_km=dict.fromkeys(CAPABILITIES, 6.0)), actor="t")
        with store.read() as s:
            after = {f: facility_detail(s, f)["candidates"] for f in shown}
        assert before != after  # the narrower ranges leave candidates out
        same_answers(store, cache, shown)
        # a site mate's pair declined: the other registration's page closes it
        assert mates, "the seed makes sites"
        with store.read() as s:
            live = list_proposals(s, "39", status="proposed")
        mate_ids = {m for ms in mates.values() for m in ms}
        declined = [p for p in live if p.facility_id in mate_ids][:3]
        assert declined
        same_answers(store, cache, sorted(mates))
        decide(other, declined, [ProposalStatus.DECLINED])
        same_answers(store, cache, sorted(mates))
        with store.read() as s:
            for p in declined:
                for m in mates[p.facility_id]:
                    alternatives = facility_detail(s, m)["alternatives"]
                    assert p.institution_id not in {a["institution_id"] for a in alternatives}
    finally:
        cache.close()
        other.dispose()
