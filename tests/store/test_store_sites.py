"""A site (``matcher.sites``) in the store: one partner set, its contacted and agreed pairs count
once against the institution's capacity, so a re-plan keeps them."""

from __future__ import annotations

from dataclasses import replace

from store_fixtures import fac, inst

from matcher.store.imports import import_simple
from matcher.store.models import InstitutionRow
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.proposals import list_proposals
from matcher.store.state import institution_states
from matcher.vocab import ProposalStatus
from matcher.wareki import today as today_jp


def seed(store) -> None:
    corp = {"corporate_number": "7000000000002"}
    facs = [
        replace(fac("F1", "tokuyo"), extra=corp),
        replace(fac("F2", "tokuyo", covered=3, has_partner=True), extra=corp),
    ]
    insts = [inst("H1", capacity=1), inst("H2", dlat=0.05, capacity=1)]
    with store.write() as s:
        import_simple(s, facs, insts, 2025)


def test_site_gets_one_partner_and_counts_once_when_contacted(store) -> None:
    seed(store)
    report = run_plan(store, "39", actor="t")
    assert report.result.objective.partnerships == 1
    with store.read() as s:
        rows = {(p.facility_id, p.institution_id): p for p in list_proposals(s, "39")}
    assert set(rows) == {("F1", "H1"), ("F2", "H1")}
    with store.write() as s:
        for p in rows.values():
            set_status(s, p.id, ProposalStatus.CONTACTED, p.version, "t")
    with store.read() as s:
        h1 = s.get(InstitutionRow, "H1")

        assert institution_states(s, [h1], today_jp())["H1"].used == 1
    again = run_plan(store, "39", actor="t")
    assert not again.of("released")
    assert {(c.facility_id, c.institution_id) for c in again.of("kept")} == set(rows)
