"""``reserve`` with ``round_strategy.RESERVE_JOINS`` (issue 23 item 7) on SQLite and PostgreSQL:
a held-back request whose institution the run writes to anyway joins that letter; one to an
institution the run does not write to still waits; the ledger stays within capacity."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from store_fixtures import fac, inst

from matcher.params import MatchParams
from matcher.store import round_strategy
from matcher.store.imports import import_simple
from matcher.store.models import InstitutionRow, ProposalRow
from matcher.store.planning import run_plan
from matcher.store.state import institution_states
from matcher.wareki import today as today_jp


def seed(store) -> None:
    """A 特養 (義務) and a グループホーム next to H1 (room for 2); a グループホーム next to H2
    (room for 1), out of H1's 往診 range: the plan gives each its nearest."""
    facs = [
        fac("F1", "tokuyo", dlat=0.001),
        fac("F2", dlat=-0.001),
        fac("F3", dlon=0.4),
    ]
    insts = [inst("H1", capacity=2), inst("H2", dlon=0.401, capacity=1)]
    with store.write() as s:
        import_simple(s, facs, insts, 2025)


def asked(store) -> set[tuple[str, str]]:
    with store.read() as s:
        return {(p.facility_id, p.institution_id) for p in s.scalars(select(ProposalRow))}


def ledger_within_capacity(store) -> None:
    with store.read() as s:
        rows = list(s.scalars(select(InstitutionRow)))
        for iid, state in institution_states(s, rows, today_jp()).items():
            if state.declared is not None:
                assert state.used <= state.declared, (iid, state.used, state.declared)


@pytest.mark.parametrize("joins", [False, True])
def test_reserve_joins_only_letters_that_go_anyway(store, monkeypatch, joins):
    monkeypatch.setattr(round_strategy, "RESERVE_JOINS", joins)
    seed(store)
    plain = run_plan(store, "39", MatchParams(), dry_run=True)
    assert {(p.facility_id, p.institution_id) for p in plain.result.proposals} == {
        ("F1", "H1"),
        ("F2", "H1"),
        ("F3", "H2"),
    }
    run_plan(store, "39", MatchParams(round_strategy="reserve"), actor="t")
    # H1 is written to for the 特養 anyway: the グループホーム's request joins that letter only
    # with joins; H2 would get a letter for the グループホーム alone, so it waits either way
    expected = {("F1", "H1"), ("F2", "H1")} if joins else {("F1", "H1")}
    assert asked(store) == expected
    ledger_within_capacity(store)
