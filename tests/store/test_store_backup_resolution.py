"""A backup request (条件付き依頼) is settled whichever path closes the request it backs: a
coordinator's decision or a recorded answer (``set_status``), a re-plan that withdraws the
request (``run_write``'s dropped proposals), a ``--release`` before a run (its releases). On
SQLite and PostgreSQL; then the invariants after generated sequences of runs, decisions,
answers, re-plans and releases: no open backup of a closed request, never a backup and its
request both agreed, the capacity ledger within every declared capacity."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from store_fixtures import DATABASES, fresh_store
from test_store_round_strategy import answer, backups, ledger_within_capacity, props, seed

from matcher.generate import generate
from matcher.params import MatchParams
from matcher.store.backups import BackupRow
from matcher.store.errors import TransitionError
from matcher.store.imports import import_simple
from matcher.store.models import ProposalHistoryRow, ProposalRow
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import TRANSITIONS, set_status
from matcher.store.replies import LetterAnswer, RowAnswer, issue_links, letter_view, record_answer
from matcher.wareki import today as today_jp

OPEN = ("proposed", "contacted")
BACKUPS = MatchParams(round_strategy="reserve+backups")


def backups_settled(store) -> None:
    """No open backup of a request that is no longer open; never both agreed."""
    rows = props(store)
    for b, p in backups(store).items():
        assert not (rows[b].status in OPEN and rows[p].status not in OPEN), (b, p, rows[p].status)
        assert not (rows[b].status == "agreed" and rows[p].status == "agreed"), (b, p)


def history(store, proposal_id: int) -> list[str]:
    with store.read() as s:
        return list(
            s.scalars(
                select(ProposalHistoryRow.note)
                .where(ProposalHistoryRow.proposal_id == proposal_id)
                .order_by(ProposalHistoryRow.id)
            )
        )


def first_round(store) -> tuple[int, int, int]:
    """The seeded region's first run with backups: (run id, backup, the request it backs)."""
    seed(store)
    report = run_plan(store, "39", BACKUPS, actor="t")
    ((backup, primary),) = backups(store).items()
    return report.run_id, backup, primary


def test_a_replan_keeps_the_asked_request_and_its_decline_agrees_the_accepted_backup(store):
    """The backup said 受入可 (打診中, its coverage counted). The request it backs went out in
    its institution's letter too (issued with the run's letters: 打診中), so the next run keeps
    it instead of withdrawing it; its institution's 不可 then agrees the backup."""
    run_id, backup, primary = first_round(store)
    answer(store, run_id, props(store)[backup].institution_id, accept=True)
    assert props(store)[backup].status == "contacted"
    assert props(store)[primary].status == "contacted"  # asked by its letter
    report = run_plan(store, "39", MatchParams(), actor="t")
    after = props(store)
    assert after[primary].status == "contacted" and after[backup].status == "contacted"
    assert primary not in {c.proposal_id for c in report.of("dropped")}
    answer(store, run_id, after[primary].institution_id, accept=False)
    after = props(store)
    assert after[primary].status == "declined" and after[backup].status == "agreed"
    assert any(f"提案 {primary} が辞退" in n for n in history(store, backup))
    backups_settled(store)
    ledger_within_capacity(store)


def test_a_release_of_the_request_agrees_its_accepted_backup(store):
    run_id, backup, primary = first_round(store)
    answer(store, run_id, props(store)[backup].institution_id, accept=True)
    run_plan(store, "39", MatchParams(), actor="t", release=[primary], note="担当者が解放")
    after = props(store)
    assert after[primary].status == "withdrawn" and after[backup].status == "agreed"
    backups_settled(store)
    ledger_within_capacity(store)


def test_a_release_of_the_request_makes_an_unanswered_backup_an_ordinary_request(store):
    """Nothing to wait for any more: the backup is no longer conditional (its row goes, its
    history says why); whatever the run then does with it, it is no backup of a closed request."""
    _, backup, primary = first_round(store)
    run_plan(store, "39", MatchParams(), actor="t", release=[primary])
    assert backup not in backups(store)
    assert any("通常の依頼" in n for n in history(store, backup))
    backups_settled(store)


def test_a_backup_is_not_agreed_while_its_request_is_open(store):
    """A coordinator agreeing a backup before its request is decided would leave both agreed
    once the request is: refused, with what to do instead."""
    _, backup, primary = first_round(store)
    with store.write() as s:
        b = s.get(ProposalRow, backup)
        with pytest.raises(TransitionError, match=f"提案 {primary}"):
            set_status(s, backup, "agreed", b.version, "t")
    with store.write() as s:  # decided first: then the backup may be agreed by hand
        p = s.get(ProposalRow, primary)
        set_status(s, primary, "declined", p.version, "t")
    with store.write() as s:
        b = s.get(ProposalRow, backup)
        set_status(s, backup, "agreed", b.version, "t")
    assert props(store)[backup].status == "agreed"
    backups_settled(store)


# --- generated sequences --------------------------------------------------------------------

STEPS = ("run", "replan", "release", "decide", "answer")


def _open(store) -> list[ProposalRow]:
    return sorted((p for p in props(store).values() if p.status in OPEN), key=lambda p: p.id)


def _step(store, step: str, pick: int, last_run: list[int]) -> None:
    """One thing that happens to the area, choosing among what exists by ``pick``."""
    live = _open(store)
    if step in ("run", "replan"):
        strategy = ("backups", "reserve+backups", "none")[pick % 3] if step == "run" else "none"
        last_run.append(
            run_plan(store, "31", MatchParams(round_strategy=strategy), actor="t").run_id
        )
    elif step == "release" and live:
        p = live[pick % len(live)]
        last_run.append(run_plan(store, "31", BACKUPS, actor="t", release=[p.id]).run_id)
    elif step == "decide" and live:
        p = live[pick % len(live)]
        allowed = sorted(TRANSITIONS[p.status])
        to = allowed[(pick // 7) % len(allowed)]
        with store.write() as s:
            try:
                set_status(s, p.id, to, p.version, "t")  # type: ignore[arg-type]
            except TransitionError:
                pass  # a refused decision changes nothing
    elif step == "answer" and last_run:
        with store.write() as s:
            links = [
                x for x in issue_links(s, last_run[-1], DEADLINE, "t") if x.kind == "institution"
            ]
        if not links:
            return
        link = links[pick % len(links)]
        with store.write() as s:
            view = letter_view(s, link.letter_id)
            rows = tuple(
                RowAnswer(r.proposal_id, "accept" if (pick >> k) & 1 else "decline")
                for k, r in enumerate(view.rows)
            )
            record_answer(s, link.letter_id, LetterAnswer(rows), "excel", "t")


DEADLINE = today_jp() + dt.timedelta(days=14)


@pytest.mark.parametrize("kind", DATABASES)
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed_=st.integers(1, 30),
    steps=st.lists(
        st.tuples(st.sampled_from(STEPS), st.integers(0, 2**16)), min_size=2, max_size=7
    ),
)
def test_backups_stay_settled_through_any_sequence(seed_, steps, kind, tmp_path):
    instance = generate(
        "鳥取県",
        seed=seed_,
        n_facilities=16,
        n_institutions=6,
        capacity_factor=0.6,
        declared_share=1.0,
    )
    with fresh_store(kind, tmp_path) as store:
        with store.write() as s:
            import_simple(s, instance.facilities, instance.institutions, 2025)
        last_run = [run_plan(store, "31", BACKUPS, actor="t").run_id]
        for step, pick in steps:
            _step(store, step, pick, last_run)
            backups_settled(store)
            ledger_within_capacity(store)
        with store.read() as s:  # every backup row names a backup and a request of the store
            for row in s.scalars(select(BackupRow)):
                assert s.get(ProposalRow, row.primary_id) is not None


# --- one place --------------------------------------------------------------------------------

STATUS_WRITE = re.compile(r"\b\w+\.status(?:, [\w.]+)* = |values\(status=")
# Modules that write a status but settle nothing, and why.
NOT_PROPOSALS = {
    "intake.py": "受付の状態 (IntakeRow), not a proposal's",
    "planner_input.py": "a what-if in a savepoint rolled back at once (``prepare``)",
}


def test_every_path_that_changes_a_proposals_status_settles_its_backups():
    """A module that writes a proposal's status calls ``settle_backups`` (the one place backups
    are settled): a new path that forgets it fails here."""
    root = Path(__file__).parents[2]
    writers = {
        path.name: text
        for folder in ("matcher", "api")
        for path in sorted((root / folder).rglob("*.py"))
        if STATUS_WRITE.search(text := path.read_text(encoding="utf-8"))
    }
    assert {"proposal_commands.py", "run_write.py"} <= set(writers)
    for name, text in sorted(writers.items()):
        if name not in NOT_PROPOSALS:
            assert "settle_backups(" in text, f"{name} changes a proposal's status, settles nothing"
