"""``run_plan(dry_run=True)``: the run page's preview computes the same changes as a real run,
with the history notes as reasons, and stores nothing."""

from __future__ import annotations

from api_support import fresh_store
from sqlalchemy import func, select

from matcher.store.db import open_store
from matcher.store.models import ProposalHistoryRow, ProposalRow, RunRow
from matcher.store.planning import run_plan


def _counts(store) -> tuple[int, int, int]:
    with store.read() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(t))
            for t in (RunRow, ProposalRow, ProposalHistoryRow)
        )


def test_dry_run_stores_nothing_and_matches_the_real_run(tmp_path):
    store = open_store(fresh_store(tmp_path))
    try:
        before = _counts(store)
        preview = run_plan(store, "area-a", actor="test", dry_run=True)
        assert _counts(store) == before
        new = [(c.facility_id, c.institution_id) for c in preview.of("new")]
        assert new and all(preview.notes[c.proposal_id] for c in preview.of("new"))
        real = run_plan(store, "area-a", actor="test")
        assert [(c.facility_id, c.institution_id) for c in real.of("new")] == new
        assert real.notes == {}
        # a second preview: the same plan is kept, nothing new, still nothing stored
        before = _counts(store)
        again = run_plan(store, "area-a", actor="test", dry_run=True)
        assert not again.of("new") and len(again.of("kept")) == len(new)
        assert _counts(store) == before
    finally:
        store.dispose()
