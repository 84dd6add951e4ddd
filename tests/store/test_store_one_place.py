"""One proposal query and one lock key (issue 22): every list of proposals is
``proposals.list_proposals``'s query in its one order, and the advisory-lock SQL is written once,
in ``matcher.store.locks``, for the area lock and the transaction locks alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from store_fixtures import fac, inst

from matcher.store.cache import NO_CACHE
from matcher.store.export import state_frames
from matcher.store.imports import import_simple
from matcher.store.locks import area_lock, xact_lock
from matcher.store.models import ProposalRow
from matcher.store.proposal_commands import propose
from matcher.store.proposals import (
    all_proposals,
    cached_proposals,
    list_proposals,
    scoped_proposals,
)
from matcher.vocab import CodeSet

ROOT = Path(__file__).resolve().parents[2]


def test_every_proposal_list_comes_in_the_one_order(store) -> None:
    with store.write() as s:
        import_simple(
            s,
            [fac("F1"), fac("F2", dlat=0.002)],
            [inst("HB", dlat=0.01), inst("HA", dlat=-0.01), inst("H3", dlon=0.02)],
            2025,
        )
        for f, i in [("F2", "H3"), ("F1", "HB"), ("F1", "HA"), ("F2", "HA")]:
            propose(s, f, i, "t", override_reason="テスト")
        # A tie: F1's two proposals at the same distance, HB proposed first (smaller id).
        s.execute(update(ProposalRow).where(ProposalRow.facility_id == "F1").values(distance_km=1))
    scope = CodeSet.of(["39"])
    with store.read() as s:
        views = list_proposals(s)
        want = [(v.facility_id, v.institution_id) for v in views]
        ids = [v.id for v in views]
        assert want[:2] == [("F1", "HA"), ("F1", "HB")]  # facility, distance, institution, id
        assert [v.id for v in list_proposals(s, "39")] == ids
        assert [d["id"] for d in scoped_proposals(s, scope)] == ids
        assert [d["id"] for _, d in all_proposals(s)] == ids
        exported = state_frames(s, "39")["proposals"]
    assert [d["id"] for d in cached_proposals(NO_CACHE, store, scope)] == ids
    assert list(exported["proposal_id"]) == ids


def test_the_advisory_lock_sql_is_written_once() -> None:
    found = sorted(
        str(p.relative_to(ROOT))
        for pkg in ("matcher", "api")
        for p in (ROOT / pkg).rglob("*.py")
        if "pg_advisory" in p.read_text("utf-8") or "hashtextextended" in p.read_text("utf-8")
    )
    assert found == ["matcher/store/locks.py"]


def test_the_area_lock_and_a_transaction_lock_share_the_key(store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's (SQLite's write transaction excludes)")

    def take() -> None:
        with Session(store.engine) as s, s.begin():
            s.execute(text("SET LOCAL lock_timeout = '200ms'"))
            xact_lock(s, "39")

    with area_lock(store, "39", 1.0):
        with pytest.raises(OperationalError, match="lock timeout"):
            take()
    take()  # released with the area lock: taken at once
