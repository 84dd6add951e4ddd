"""Answers become decisions (SQLite and PostgreSQL): links stored as hashes only, expiry,
revocation and re-issue; accept / decline / conditional through the lifecycle; answers that meet
a changed proposal held with both versions; duplicates applied once; declarations from answers;
the whole answer refused when one part is wrong; locked letters; the audit."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from reply_support import DEADLINE, planned_region
from store_fixtures import snapshot

from matcher._errors import InputError
from matcher.store.db import Store
from matcher.store.errors import TransitionError
from matcher.store.intake import list_requests
from matcher.store.models import AuditRow, DeclarationRow, ProposalHistoryRow, ProposalRow
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.replies import (
    AnswerResult,
    Channel,
    LetterAnswer,
    LetterLocked,
    LinkRefused,
    PartnerChange,
    RowAnswer,
    held_items,
    issue_links,
    letter_for_token,
    letter_view,
    record_answer,
    reissue_link,
    resolve_item,
    revoke_links,
    set_locked,
    token_hash,
)
from matcher.store.reply_models import ReplyTokenRow
from matcher.vocab import CodeSet


def _status(store: Store, pid: int) -> str:
    with store.read() as s:
        p = s.get(ProposalRow, pid)
        assert p is not None
        return p.status


def _answer(
    store: Store,
    letter_id: int,
    answer: LetterAnswer,
    channel: Channel = "link",
    actor: str = "回答リンク",
) -> AnswerResult:
    with store.write() as s:
        return record_answer(s, letter_id, answer, channel, actor)


def test_letters_of_a_run_carry_their_own_rows(store: Store) -> None:
    region = planned_region(store)
    kinds = sorted((x.kind, x.recipient_id) for x in region.links)
    assert kinds == [
        ("facility", "F1"),
        ("facility", "F2"),
        ("facility", "F3"),
        ("institution", "C1"),
        ("institution", "H1"),
    ]
    with store.read() as s:
        c1 = letter_view(s, region.link("institution", "C1").letter_id)
        f3 = letter_view(s, region.link("facility", "F3").letter_id)
    assert [r.facility_id for r in c1.rows] == ["F1", "F2"]
    assert {r.institution_id for r in c1.rows} == {"C1"}
    assert [(r.facility_id, r.institution_id) for r in f3.rows] == [("F3", "H1")]
    assert c1.link == "active" and c1.deadline == DEADLINE


def test_tokens_are_stored_as_hashes_only(store: Store) -> None:
    region = planned_region(store)
    dump = json.dumps(snapshot(store), default=str, ensure_ascii=False)
    for link in region.links:
        assert len(link.token) == 43
        assert link.token not in dump
        assert token_hash(link.token) in dump
        with store.read() as s:
            assert letter_for_token(s, link.token) == link.letter_id


def test_guessed_expired_revoked_and_reissued_tokens_open_nothing(store: Store) -> None:
    region = planned_region(store)
    link = region.link("institution", "C1")
    with store.read() as s:
        for guess in ("", "x" * 43, link.token[:-1] + ("A" if link.token[-1] != "A" else "B")):
            with pytest.raises(LinkRefused, match="無効です") as exc:
                letter_for_token(s, guess)
            assert exc.value.reason == "unknown"
        after = link.expires_at + dt.timedelta(seconds=1)
        with pytest.raises(LinkRefused, match="回答期限を過ぎた"):
            letter_for_token(s, link.token, now=after)
    with store.write() as s:
        new = reissue_link(s, link.letter_id, "coord")
    with store.read() as s:
        with pytest.raises(LinkRefused, match="使えなくなりました"):
            letter_for_token(s, link.token)
        assert letter_for_token(s, new.token) == link.letter_id
    with store.write() as s:
        assert revoke_links(s, link.letter_id, "coord") == 1
    with store.read() as s:
        with pytest.raises(LinkRefused) as exc:
            letter_for_token(s, new.token)
        assert exc.value.reason == "revoked"
        assert letter_view(s, link.letter_id).link == "revoked"


def test_a_deadline_in_the_past_is_refused(store: Store) -> None:
    region = planned_region(store)
    with store.write() as s:
        with pytest.raises(InputError, match="過ぎています"):
            issue_links(s, region.run_id, dt.date(2020, 1, 1), "coord", reissue=True)


def test_issuing_again_leaves_live_links_alone(store: Store) -> None:
    region = planned_region(store)
    with store.write() as s:
        assert issue_links(s, region.run_id, DEADLINE, "coord") == []
        again = issue_links(s, region.run_id, DEADLINE, "coord", reissue=True)
    assert len(again) == len(region.links)
    with store.read() as s:
        assert s.query(ReplyTokenRow).filter(ReplyTokenRow.revoked_at.is_(None)).count() == 5


def test_institution_answers_become_decisions_with_the_letter_in_the_history(store: Store) -> None:
    region = planned_region(store)
    c1 = region.link("institution", "C1").letter_id
    res = _answer(
        store,
        c1,
        LetterAnswer(
            rows=(
                RowAnswer(1, "accept", from_date=dt.date(2026, 4, 1)),
                RowAnswer(2, "conditional", "夜間の往診は月2回まで"),
            )
        ),
    )
    # 2 was already 打診中 (its letter was sent): the condition changes no status
    assert [(i.proposal_id, i.outcome) for i in res.items] == [(1, "applied"), (2, "unchanged")]
    assert (_status(store, 1), _status(store, 2)) == ("agreed", "contacted")
    with store.read() as s:
        notes = {
            h.proposal_id: (h.note, h.actor)
            for h in s.query(ProposalHistoryRow).filter(ProposalHistoryRow.from_status.is_not(None))
        }
    assert notes[1][0].startswith(f"回答リンクで回答 (回答票 L{c1}): 受入可")
    assert "開始日: 2026-04-01" in notes[1][0]
    assert "理由・条件: 夜間の往診は月2回まで" in notes[2][0]
    with store.read() as s:
        conditional = [h for h in held_items(s) if h.answer == "conditional"]
    assert [(h.proposal_id, h.detail["reason"]) for h in conditional] == [
        (2, "夜間の往診は月2回まで")
    ]


def test_decline_is_final_and_a_facility_wish_is_not_an_agreement(store: Store) -> None:
    region = planned_region(store)
    _answer(
        store,
        region.link("institution", "H1").letter_id,
        LetterAnswer((RowAnswer(3, "decline", "満床"),)),
    )
    assert _status(store, 3) == "declined"
    _answer(store, region.link("facility", "F1").letter_id, LetterAnswer((RowAnswer(1, "accept"),)))
    assert _status(store, 1) == "contacted"
    # the institution's yes after the facility's wish: applied, the facility's answer was ours
    res = _answer(
        store, region.link("institution", "C1").letter_id, LetterAnswer((RowAnswer(1, "accept"),))
    )
    assert res.items[0].outcome == "applied" and _status(store, 1) == "agreed"


def test_an_answer_meeting_a_changed_proposal_is_held_with_both_versions(store: Store) -> None:
    region = planned_region(store)
    with store.write() as s:
        set_status(s, 3, "declined", 2, "coord", "電話で辞退")  # v2: issuing asked it
    h1 = region.link("institution", "H1").letter_id
    res = _answer(store, h1, LetterAnswer((RowAnswer(3, "accept"),)))
    assert res.outcome == "held" and res.items[0].outcome == "held"
    assert _status(store, 3) == "declined"  # never applied blind
    with store.read() as s:
        (held,) = held_items(s)
    assert held.versions["letter"]["status"] == "contacted"  # as the letter asked it
    assert held.versions["now"]["status"] == "declined"
    assert held.versions["now"]["updated_by"] == "coord"
    with store.write() as s:
        with pytest.raises(TransitionError, match="変更できません"):
            resolve_item(s, held.id, "apply", "coord")
    with store.write() as s:
        resolve_item(s, held.id, "dismiss", "coord", "辞退のまま")
    with store.read() as s:
        assert held_items(s) == []


def test_a_withdrawn_proposal_holds_the_answer_and_a_phoned_one_does_not(store: Store) -> None:
    region = planned_region(store)
    with store.write() as s:
        set_status(s, 1, "withdrawn", 2, "coord", "計画から外した")  # v2: issuing asked it
        # 2 is 打診中 already: issuing the letter asked it (the coordinator's phone call)
    res = _answer(
        store,
        region.link("institution", "C1").letter_id,
        LetterAnswer((RowAnswer(1, "accept"), RowAnswer(2, "accept"))),
    )
    assert [i.outcome for i in res.items] == ["held", "applied"]
    assert (_status(store, 1), _status(store, 2)) == ("withdrawn", "agreed")


def test_a_correction_the_lifecycle_refuses_is_held_and_applied_by_the_coordinator(
    store: Store,
) -> None:
    region = planned_region(store)
    c1 = region.link("institution", "C1").letter_id
    _answer(store, c1, LetterAnswer((RowAnswer(1, "conditional", "週1回まで"),)))
    res = _answer(store, c1, LetterAnswer((RowAnswer(1, "accept"),)))  # corrected: applied
    assert res.items[0].outcome == "applied" and _status(store, 1) == "agreed"
    res = _answer(store, c1, LetterAnswer((RowAnswer(1, "decline", "やはり難しい"),)))
    assert res.items[0].outcome == "held" and _status(store, 1) == "agreed"
    assert "変更できません" in res.items[0].message


def test_a_held_answer_is_applied_by_the_coordinator_on_the_proposal_as_it_is(store: Store) -> None:
    region = planned_region(store)
    with store.write() as s:
        p = s.get(ProposalRow, 3)  # 打診中: issuing the letter asked it
        assert p is not None
        p.covers = 3  # a re-plan changed what it covers
    res = _answer(
        store, region.link("institution", "H1").letter_id, LetterAnswer((RowAnswer(3, "accept"),))
    )
    assert res.items[0].outcome == "held"
    with store.read() as s:
        (held,) = held_items(s)
    with store.write() as s:
        resolve_item(s, held.id, "apply", "coord", "電話で確認済み")
    assert _status(store, 3) == "agreed"
    with store.read() as s:
        last = s.query(ProposalHistoryRow).order_by(ProposalHistoryRow.id.desc()).first()
    assert last is not None and "保留していた回答を担当者が反映" in last.note


def test_the_same_answer_twice_applies_nothing_twice(store: Store) -> None:
    region = planned_region(store)
    c1 = region.link("institution", "C1").letter_id
    answer = LetterAnswer((RowAnswer(1, "accept"),), capacity=2)
    first = _answer(store, c1, answer, "excel", "coord")
    before = snapshot(store)
    second = _answer(store, c1, answer, "excel", "coord")
    assert {i.outcome for i in first.items} == {"applied"}
    assert [i.outcome for i in second.items] == ["duplicate", "duplicate"]
    after = snapshot(store)
    for table in ("proposals", "proposal_history", "declarations"):
        assert after[table] == before[table]


def test_capacity_and_offers_become_a_declaration_naming_the_letter(store: Store) -> None:
    region = planned_region(store)
    h1 = region.link("institution", "H1").letter_id
    same = _answer(store, h1, LetterAnswer(capacity=1))
    assert same.items[0].outcome == "unchanged"  # the declaration in force already says 1
    res = _answer(
        store, h1, LetterAnswer(capacity=3, offers=3, infection_agreement=True), "excel", "c"
    )
    assert res.items[0].outcome == "applied"
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).date()
    with store.read() as s:
        decl = (
            s.query(DeclarationRow)
            .filter(DeclarationRow.institution_id == "H1", DeclarationRow.valid_from == today)
            .one()
        )
        view = letter_view(s, h1)
    assert (decl.capacity, decl.offers, decl.infection_agreement) == (3, 3, True)
    assert decl.source == f"回答票 L{h1} (Excel の回答票)"
    assert (view.capacity, view.offers, view.infection_agreement) == (3, 3, True)


def test_a_wrong_part_refuses_the_whole_answer(store: Store) -> None:
    region = planned_region(store)
    c1 = region.link("institution", "C1").letter_id
    before = snapshot(store)
    wrong = [
        (LetterAnswer((RowAnswer(1, "accept"), RowAnswer(3, "accept"))), "この回答票にない行"),
        (LetterAnswer((RowAnswer(1, "accept"), RowAnswer(2, "conditional"))), "条件を書いて"),
        (LetterAnswer((RowAnswer(1, "maybe"),)), "いずれかを選んで"),
        (LetterAnswer((RowAnswer(1, "accept"),), capacity=5000), "0 から 999"),
        (LetterAnswer(partner_changes=(PartnerChange("X", "add"),)), "施設の項目は書けません"),
        (LetterAnswer(), "回答がありません"),
        (LetterAnswer((RowAnswer(1, "accept", "あ" * 501),)), "500 文字以内"),
    ]
    for answer, message in wrong:
        with store.write() as s:
            with pytest.raises(InputError, match=message):
                record_answer(s, c1, answer, "link", "回答リンク")
    assert snapshot(store) == before


def test_a_locked_letter_takes_answers_only_from_the_coordinator(store: Store) -> None:
    region = planned_region(store)
    f1 = region.link("facility", "F1").letter_id
    with store.write() as s:
        set_locked(s, f1, True, "coord")
    for channel in ("link", "excel"):
        with store.write() as s:
            with pytest.raises(LetterLocked, match="締め切られています"):
                record_answer(s, f1, LetterAnswer((RowAnswer(1, "decline"),)), channel, "x")
    res = _answer(store, f1, LetterAnswer((RowAnswer(1, "decline"),)), "coordinator", "coord")
    assert res.items[0].outcome == "applied" and _status(store, 1) == "declined"


def test_partner_changes_wait_for_the_coordinator(store: Store) -> None:
    region = planned_region(store)
    f2 = region.link("facility", "F2").letter_id
    res = _answer(
        store,
        f2,
        LetterAnswer(partner_changes=(PartnerChange("山田医院", "add", 3),), person="佐藤"),
    )
    assert [(i.item, i.outcome) for i in res.items] == [("partners", "held")]
    assert "相談窓口の受付 R" in res.items[0].message
    with store.read() as s:
        assert held_items(s) == []  # they wait in one place: the 相談窓口's queue
        (request,) = list_requests(s, CodeSet.of(["39"]))
    assert (request.channel, request.letter_id, request.facility_id) == ("reply", f2, "F2")
    assert [(c.name, c.change, c.covers) for c in request.partner_changes] == [
        ("山田医院", "add", 3)
    ]
    assert request.person == "佐藤" and request.status == "received"
    again = _answer(
        store,
        f2,
        LetterAnswer(partner_changes=(PartnerChange("山田医院", "add", 3),), person="佐藤"),
    )
    assert again.items[0].outcome == "duplicate"
    with store.read() as s:
        assert len(list_requests(s, CodeSet.of(["39"]))) == 1


def test_every_answer_and_link_is_audited_without_the_token(store: Store) -> None:
    region = planned_region(store)
    link = region.link("institution", "C1")
    _answer(store, link.letter_id, LetterAnswer((RowAnswer(1, "accept"),)))
    with store.read() as s:
        rows = s.query(AuditRow).order_by(AuditRow.id).all()
    answer = [r for r in rows if r.action == "reply.answer"]
    assert [(r.target, r.detail["channel"]) for r in answer] == [
        (f"回答票 L{link.letter_id}", "link")
    ]
    assert sum(r.action == "reply.link" for r in rows) == len(region.links)
    text = json.dumps([(r.target, r.detail) for r in rows], ensure_ascii=False)
    assert all(x.token not in text for x in region.links)


def test_the_next_round_asks_only_what_is_new(store: Store) -> None:
    region = planned_region(store)
    _answer(
        store, region.link("institution", "H1").letter_id, LetterAnswer((RowAnswer(3, "decline"),))
    )
    second = run_plan(store, "area-k", actor="テスト")
    assert second.run_id is not None
    with store.write() as s:
        links = issue_links(s, second.run_id, DEADLINE, "coord")
    asked = {}
    with store.read() as s:
        for x in links:
            asked[(x.kind, x.recipient_id)] = [
                (r.facility_id, r.institution_id) for r in letter_view(s, x.letter_id).rows
            ]
    # F3 gets a new partner instead of H1; F1 and F2's kept proposals are not asked again
    assert asked
    assert all(pairs and ("F3", "H1") not in pairs for pairs in asked.values())
    assert not {("F1", "C1"), ("F2", "C1")} & {p for pairs in asked.values() for p in pairs}
