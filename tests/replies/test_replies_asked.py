"""Issuing an institution letter asks its requests (SQLite and PostgreSQL): they become 打診中
with the letter in their history, so a re-plan keeps them and their answer applies instead of
being held; the letter's snapshot is taken after the move; issuing again changes nothing; a
facility notice moves nothing; a request withdrawn by hand still holds its answer."""

from __future__ import annotations

from reply_support import DEADLINE, planned_region

from matcher.store.db import Store
from matcher.store.imports import Declaration, import_declarations
from matcher.store.models import AuditRow, ProposalHistoryRow, ProposalRow
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.replies import (
    LetterAnswer,
    LetterRow,
    RowAnswer,
    issue_links,
    letter_view,
    record_answer,
    reissue_link,
)
from matcher.store.reply_models import ReplyLetterRow
from matcher.wareki import today as today_jp


def _proposals(store: Store) -> dict[int, tuple[str, int]]:
    with store.read() as s:
        return {p.id: (p.status, p.version) for p in s.query(ProposalRow)}


def _rows(store: Store, letter_id: int) -> tuple[LetterRow, ...]:
    with store.read() as s:
        return letter_view(s, letter_id).rows


def _history(store: Store) -> list[tuple[int, str | None, str, str]]:
    with store.read() as s:
        return [
            (h.proposal_id, h.from_status, h.to_status, h.note)
            for h in s.query(ProposalHistoryRow).order_by(ProposalHistoryRow.id)
        ]


def test_issuing_asks_the_institutions_requests_and_snapshots_them_after(store: Store) -> None:
    region = planned_region(store)
    institution = [x for x in region.links if x.kind == "institution"]
    assert institution and any(x.kind == "facility" for x in region.links)
    asked: dict[int, int] = {}  # proposal → the institution letter that asked it
    with store.read() as s:
        for x in institution:
            for r in letter_view(s, x.letter_id).rows:
                assert (r.status, r.asked_status) == ("contacted", "contacted")
                assert r.asked_version == r.version  # the snapshot is taken after the move
                asked[r.proposal_id] = x.letter_id
    assert asked and all(st == "contacted" for st, _ in _proposals(store).values())
    moves = [(pid, a, b, note) for pid, a, b, note in _history(store) if a is not None]
    assert sorted(moves) == sorted(
        (pid, "proposed", "contacted", f"回答票 L{lid} を送付") for pid, lid in asked.items()
    )  # once each, by its institution letter: a facility notice moves nothing
    with store.read() as s:
        links = {r.target: r.detail for r in s.query(AuditRow).filter_by(action="reply.link")}
    for x in region.links:
        moved = links[f"回答票 L{x.letter_id}"].get("contacted")
        expected = [p for p, lid in asked.items() if lid == x.letter_id] or None
        assert (sorted(moved) if moved else None) == expected


def test_a_replan_keeps_every_sent_request_and_its_answer_applies(store: Store) -> None:
    """H1 now has room for three: without the rule the re-plan moves F1 and F2 from C1 to the
    nearer H1, withdrawing the requests C1 was sent, and C1's answers come back held."""
    region = planned_region(store)
    with store.write() as s:
        import_declarations(
            s,
            [Declaration("H1", valid_from=today_jp(), capacity=3, offers=7, source="t")],
        )
    sent = {
        x.letter_id: [r.proposal_id for r in _rows(store, x.letter_id)]
        for x in region.links
        if x.kind == "institution"
    }
    report = run_plan(store, "area-k", actor="テスト")
    assert not report.of("dropped")
    now = _proposals(store)
    assert all(now[pid][0] == "contacted" for pids in sent.values() for pid in pids)
    for letter_id, pids in sent.items():
        with store.write() as s:
            res = record_answer(
                s,
                letter_id,
                LetterAnswer(tuple(RowAnswer(pid, "accept") for pid in pids)),
                "link",
                "回答リンク",
            )
        assert [i.outcome for i in res.items] == ["applied"] * len(pids), res
    assert all(_proposals(store)[pid][0] == "agreed" for pids in sent.values() for pid in pids)


def test_issuing_again_changes_nothing(store: Store) -> None:
    region = planned_region(store)
    with store.read() as s:
        letters = {x.id: list(x.rows) for x in s.query(ReplyLetterRow)}
    before = (_proposals(store), _history(store))
    with store.write() as s:
        assert issue_links(s, region.run_id, DEADLINE, "coord") == []  # all live: none issued
        again = issue_links(s, region.run_id, DEADLINE, "coord", reissue=True)
        reissue_link(s, region.link("institution", "C1").letter_id, "coord")
    assert len(again) == len(region.links)
    assert (_proposals(store), _history(store)) == before
    with store.read() as s:
        assert {x.id: list(x.rows) for x in s.query(ReplyLetterRow)} == letters


def test_a_request_withdrawn_by_hand_still_holds_its_answer(store: Store) -> None:
    region = planned_region(store)
    c1 = region.link("institution", "C1").letter_id
    with store.write() as s:
        (first, second) = letter_view(s, c1).rows
        set_status(s, first.proposal_id, "withdrawn", first.version, "coord", "計画から外した")
        reissue_link(s, c1, "coord")  # a withdrawn request is not asked again
    with store.write() as s:
        res = record_answer(
            s,
            c1,
            LetterAnswer(
                (RowAnswer(first.proposal_id, "accept"), RowAnswer(second.proposal_id, "accept"))
            ),
            "link",
            "回答リンク",
        )
    assert [i.outcome for i in res.items] == ["held", "applied"]
    now = _proposals(store)
    assert (now[first.proposal_id][0], now[second.proposal_id][0]) == ("withdrawn", "agreed")


def test_a_condition_to_an_asked_request_is_in_its_history(store: Store) -> None:
    region = planned_region(store)
    c1 = region.link("institution", "C1").letter_id
    with store.write() as s:
        pid = letter_view(s, c1).rows[0].proposal_id
        res = record_answer(
            s, c1, LetterAnswer((RowAnswer(pid, "conditional", "週1回まで"),)), "link", "x"
        )
    assert res.items[0].outcome == "unchanged"  # 打診中 already: its letter asked it
    notes = [note for p, _, to, note in _history(store) if p == pid and to == "contacted"]
    assert notes[-1] == f"回答リンクで回答 (回答票 L{c1}): 条件付き / 理由・条件: 週1回まで"
