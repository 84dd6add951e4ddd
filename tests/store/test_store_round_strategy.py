"""The run option ``round_strategy`` (issue 23 item 7) end to end on SQLite and PostgreSQL:
``reserve`` holds back what completes no 義務 facility, ``backups`` adds 条件付き依頼 that the
answers settle (primary agreed → backup withdrawn; backup 受入可 first, primary 不可 → agreed),
``none`` is exactly the plan without the option; invariants on generated regions (the ledger
never exceeds a declared capacity, a backup is never a filed partner or a declined pair, the
same input gives the same backups)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from store_fixtures import DATABASES, fac, fresh_store, inst

from matcher.generate import generate
from matcher.match import match
from matcher.model import PARTNER_IDS_KEY, filed_partner_pairs
from matcher.params import MatchParams
from matcher.store import round_strategy as round_strategy_module
from matcher.store.backups import BackupRow
from matcher.store.imports import import_simple
from matcher.store.models import FacilityRow, InstitutionRow, ProposalRow, RunRow
from matcher.store.planner_input import load_state
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.replies import (
    AnswerResult,
    LetterAnswer,
    RowAnswer,
    issue_links,
    letter_view,
    record_answer,
)
from matcher.store.reply_models import ReplyLetterRow
from matcher.store.state import facility_states, institution_states
from matcher.wareki import today as today_jp

DEADLINE = today_jp() + dt.timedelta(days=14)


def seed(store) -> None:
    """A 特養 (義務) and two グループホーム near H1 (room for 1); H2 (room for 2) and H3 (room
    for 1) a little further: the plan gives the 特養 one institution, the others could back it."""
    facs = [fac("F1", "tokuyo", dlat=0.001), fac("F2", dlat=-0.001), fac("F3", dlon=0.002)]
    insts = [
        inst("H1", capacity=1),
        inst("H2", dlon=0.03, capacity=2),
        inst("H3", dlat=0.04, capacity=1),
    ]
    with store.write() as s:
        import_simple(s, facs, insts, 2025)


def props(store) -> dict[int, ProposalRow]:
    with store.read() as s:
        rows = {p.id: p for p in s.scalars(select(ProposalRow))}
        s.expunge_all()
    return rows


def backups(store) -> dict[int, int]:
    with store.read() as s:
        return {b.backup_id: b.primary_id for b in s.scalars(select(BackupRow))}


def answer(store, run_id: int, institution_id: str, accept: bool) -> AnswerResult:
    """The institution answers its letter of ``run_id`` as a whole (the letters are made on
    the first answer, as the coordinator sends them all at once)."""
    with store.write() as s:
        issue_links(s, run_id, DEADLINE, "t")
        letter_id = s.scalar(
            select(ReplyLetterRow.id).where(
                ReplyLetterRow.run_id == run_id,
                ReplyLetterRow.recipient_kind == "institution",
                ReplyLetterRow.recipient_id == institution_id,
            )
        )
        letter = letter_view(s, letter_id)
        rows = tuple(
            RowAnswer(r.proposal_id, "accept" if accept else "decline") for r in letter.rows
        )
        return record_answer(s, letter.id, LetterAnswer(rows), "link", "回答者")


def ledger_within_capacity(store) -> None:
    """Every declared institution's ledger (backups included) within its capacity."""
    with store.read() as s:
        rows = list(s.scalars(select(InstitutionRow)))
        for iid, state in institution_states(s, rows, today_jp()).items():
            if state.declared is not None:
                assert state.used <= state.declared, (iid, state.used, state.declared)


def test_reserve_and_backups_are_stored_with_the_run_and_shown(store, monkeypatch):
    # every held-back request waits here (``RESERVE_JOINS``, the product's default, asks one
    # whose institution is written to anyway: tests/store/test_round_strategy_hold.py)
    monkeypatch.setattr(round_strategy_module, "RESERVE_JOINS", False)
    seed(store)
    report = run_plan(store, "39", MatchParams(round_strategy="reserve+backups"), actor="t")
    rows, backs = props(store), backups(store)
    assert [rows[p].facility_id for p in rows] == ["F1"] * len(rows)  # the グループホーム wait
    assert len(backs) == 1
    ((backup, primary),) = backs.items()
    assert rows[backup].institution_id != rows[primary].institution_id
    assert rows[backup].covers == rows[primary].covers
    with store.read() as s:
        run = s.get(RunRow, report.run_id)
        assert run.params["round_strategy"] == "reserve+backups"
        assert MatchParams.from_dict(run.params).round_strategy == "reserve+backups"
        assert "次の回に回しました" in run.message and "条件付き依頼 1 件" in run.message
    assert {c.proposal_id for c in report.of("new")} == set(rows)
    ledger_within_capacity(store)
    with store.write() as s:
        link = next(
            x
            for x in issue_links(s, report.run_id, DEADLINE, "t")
            if x.recipient_id == rows[backup].institution_id
        )
        row = letter_view(s, link.letter_id).row(backup)
        assert row is not None and row.backup_for == primary
        assert "条件付き依頼" in row.backup_note


def test_primary_agreed_withdraws_the_backup(store):
    seed(store)
    report = run_plan(store, "39", MatchParams(round_strategy="reserve+backups"), actor="t")
    ((backup, primary),) = backups(store).items()
    rows = props(store)
    answer(store, report.run_id, rows[primary].institution_id, accept=True)
    after = props(store)
    assert after[primary].status == "agreed" and after[backup].status == "withdrawn"
    # the backup's institution answers 受入可 afterwards: moot, nothing held, nothing applied
    late = answer(store, report.run_id, rows[backup].institution_id, accept=True)
    assert late.outcome == "unchanged" and "不要" in late.items[0].message
    assert props(store)[backup].status == "withdrawn"
    ledger_within_capacity(store)


def test_backup_yes_waits_for_the_primary_then_agrees_on_its_decline(store):
    seed(store)
    report = run_plan(store, "39", MatchParams(round_strategy="reserve+backups"), actor="t")
    ((backup, primary),) = backups(store).items()
    rows = props(store)
    answer(store, report.run_id, rows[backup].institution_id, accept=True)
    assert props(store)[backup].status == "contacted"  # a conditional yes
    answer(store, report.run_id, rows[primary].institution_id, accept=False)
    after = props(store)
    assert after[primary].status == "declined" and after[backup].status == "agreed"
    with store.read() as s:
        (f1,) = facility_states(s, [s.get(FacilityRow, "F1")])
        assert f1.missing == 0  # covered by the backup the same round
    ledger_within_capacity(store)


def test_backup_declined_is_declined_and_the_primary_decides_alone(store):
    seed(store)
    report = run_plan(store, "39", MatchParams(round_strategy="backups"), actor="t")
    backs = backups(store)
    assert backs
    backup, primary = min(backs.items())
    rows = props(store)
    answer(store, report.run_id, rows[backup].institution_id, accept=False)
    assert props(store)[backup].status == "declined"
    with store.write() as s:
        p = s.get(ProposalRow, primary)
        set_status(s, primary, "declined", p.version, "t")  # a coordinator's decision
    assert props(store)[backup].status == "declined"


def test_none_is_exactly_the_plan_without_the_option(store):
    seed(store)
    with store.read() as s:
        state = load_state(s, "39", MatchParams())
    expected = match(state.instance, MatchParams(), forbidden=state.forbidden)
    report = run_plan(store, "39", MatchParams(round_strategy="none"), actor="t")
    stored = {(p.facility_id, p.institution_id, p.covers) for p in props(store).values()}
    assert stored == {(p.facility_id, p.institution_id, p.covers) for p in expected.proposals}
    assert not backups(store)
    with store.read() as s:
        run = s.get(RunRow, report.run_id)
        assert "round_strategy" not in run.params
        assert run.message == expected.info.message


def _decides(seed_: int, f: str, i: str) -> bool:
    return hashlib.sha256(f"{seed_}|{f}|{i}".encode()).digest()[0] < 52  # about 20 % decline


def _backup_pairs(store) -> set[tuple[str, str, str]]:
    rows, backs = props(store), backups(store)
    return {
        (rows[b].facility_id, rows[b].institution_id, rows[p].institution_id)
        for b, p in backs.items()
    }


@pytest.mark.parametrize("kind", DATABASES)
@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed_=st.integers(1, 50))
def test_invariants_on_generated_regions(seed_, kind, tmp_path):
    instance = generate(
        "鳥取県",
        seed=seed_,
        n_facilities=40,
        n_institutions=12,
        capacity_factor=0.5,
        declared_share=1.0,
    )
    params = MatchParams(round_strategy="reserve+backups")
    made = []
    for _ in range(2):  # the same input twice: the same backups
        with fresh_store(kind, tmp_path) as store:
            with store.write() as s:
                import_simple(s, instance.facilities, instance.institutions, 2025)
            report = run_plan(store, "31", params, actor="t")
            ledger_within_capacity(store)
            made.append(_backup_pairs(store))
            filed = filed_partner_pairs(instance.facilities)
            assert not {(f, i) for f, i, _ in made[-1]} & filed
            # answers of the round (seeded), then the invariants again
            with store.write() as s:
                links = issue_links(s, report.run_id, DEADLINE, "t")
            for link in links:
                if link.kind != "institution":
                    continue
                with store.write() as s:
                    view = letter_view(s, link.letter_id)
                    rows = tuple(
                        RowAnswer(
                            r.proposal_id,
                            "decline"
                            if _decides(seed_, r.facility_id, r.institution_id)
                            else "accept",
                        )
                        for r in view.rows
                    )
                    record_answer(s, link.letter_id, LetterAnswer(rows), "excel", "t")
            ledger_within_capacity(store)
            rows = props(store)
            for b, p in backups(store).items():
                assert not (rows[b].status == "agreed" and rows[p].status == "agreed")
            # the next round never asks a declined pair, backups included
            run_plan(store, "31", params, actor="t")
            declined = {
                (r.facility_id, r.institution_id) for r in rows.values() if r.status == "declined"
            }
            live = {
                (r.facility_id, r.institution_id)
                for r in props(store).values()
                if r.status in ("proposed", "contacted")
            }
            assert not declined & live
    assert made[0] == made[1]


def test_a_backup_is_never_a_filed_partner(store):
    """F1 filed H1 (the nearest institution with room) as its partner for nothing it misses:
    the backup goes to H3 instead."""
    facs = [
        dataclasses.replace(
            fac("F1", "tokuyo", dlat=0.001, has_partner=True), extra={PARTNER_IDS_KEY: "H1"}
        ),
        fac("F2", dlat=-0.001),
    ]
    insts = [
        inst("H1", capacity=1),
        inst("H2", dlon=0.03, capacity=2),
        inst("H3", dlat=0.04, capacity=1),
    ]
    with store.write() as s:
        import_simple(s, facs, insts, 2025)
    run_plan(store, "39", MatchParams(round_strategy="reserve+backups"), actor="t")
    rows, backs = props(store), backups(store)
    assert backs
    assert {rows[b].institution_id for b in backs} == {"H3"}
    assert all(rows[p].institution_id != "H1" for p in rows)
