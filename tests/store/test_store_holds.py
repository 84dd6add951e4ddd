"""The ``hold`` round strategy (issue 23 item 7, ``matcher.store.holds``) on SQLite and
PostgreSQL: a 義務 facility's 受入可 stays 打診中 (never coverage) until the next re-plan,
which takes the plan with the held answers released only when it completes more 義務
facilities; a held answer is agreed when its facility completes, in whatever order the answers
come; the ledger never exceeds a declared capacity on generated regions."""

from __future__ import annotations

import re

import pytest
from api_support import PASSWORD, login
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from store_fixtures import DATABASES, fac, fresh_store, inst
from test_store_round_strategy import (
    DEADLINE,
    _decides,
    answer,
    ledger_within_capacity,
    props,
)

from api.main import create_app
from api.users import add_user
from matcher.generate import generate
from matcher.model import FACILITY_KINDS
from matcher.params import MatchParams
from matcher.store import holds
from matcher.store.imports import import_simple
from matcher.store.models import FacilityRow, HoldRow, ProposalHistoryRow, ProposalRow, RunRow
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import propose, set_status
from matcher.store.replies import LetterAnswer, RowAnswer, issue_links, letter_view, record_answer
from matcher.store.state import facility_states
from matcher.vocab import Duty

HOLD = MatchParams(round_strategy="hold")
TOKUYO = FACILITY_KINDS["tokuyo"].required


def held(store) -> set[int]:
    with store.read() as s:
        return set(s.scalars(select(HoldRow.proposal_id)))


def missing(store, fid: str) -> int:
    with store.read() as s:
        (state,) = facility_states(s, [s.get(FacilityRow, fid)])
        return state.missing


def notes(store, pid: int) -> list[str]:
    with store.read() as s:
        return list(
            s.scalars(
                select(ProposalHistoryRow.note)
                .where(ProposalHistoryRow.proposal_id == pid)
                .order_by(ProposalHistoryRow.id)
            )
        )


def pair(store, fid: str, iid: str):
    (p,) = [
        p
        for p in props(store).values()
        if (p.facility_id, p.institution_id) == (fid, iid) and p.status != "withdrawn"
    ]
    return p


def test_a_held_answer_is_not_coverage_until_the_replan_agrees_it(store):
    with store.write() as s:
        import_simple(s, [fac("F1", "tokuyo")], [inst("H1", dlat=0.01, capacity=1)], 2025)
    report = run_plan(store, "39", HOLD, actor="t")
    out = answer(store, report.run_id, "H1", accept=True)
    assert "保留中" in out.items[0].message
    p = pair(store, "F1", "H1")
    assert p.status == "contacted" and held(store) == {p.id}
    assert missing(store, "F1") == TOKUYO  # a held yes is not coverage
    assert any(holds.HELD_LABEL_JA in n for n in notes(store, p.id))
    again = run_plan(store, "39", HOLD, actor="t")  # nothing better without it: agreed
    assert pair(store, "F1", "H1").status == "agreed" and not held(store) - {p.id}
    assert missing(store, "F1") == 0
    assert holds.AGREE_NOTE in notes(store, p.id)
    with store.read() as s:
        assert "1 件を合意、0 件を解除" in s.get(RunRow, again.run_id).message


def _lock_in(store, with_h3: bool) -> tuple[int, int]:
    """F1 and F2 (特養) 18 km apart; H1 (room for 1) between them, H2 near F1 only, H3 near
    F2 only. The first plan asks F1–H2 and F2–H1 (shortest); H2 declines, H1 says 受入可 (held).
    The ids of F2–H1 and of the re-plan's run."""
    facs = [fac("F1", "tokuyo", dlat=-0.08), fac("F2", "tokuyo", dlat=0.08)]
    insts = [inst("H1", capacity=1), inst("H2", dlat=-0.12, capacity=1)]
    if with_h3:
        insts.append(inst("H3", dlat=0.18, capacity=1))
    with store.write() as s:
        import_simple(s, facs, insts, 2025)
    first = run_plan(store, "39", HOLD, actor="t")
    assert {(c.facility_id, c.institution_id) for c in first.of("new")} == {
        ("F1", "H2"),
        ("F2", "H1"),
    }
    answer(store, first.run_id, "H2", accept=False)
    answer(store, first.run_id, "H1", accept=True)
    kept = pair(store, "F2", "H1")
    assert kept.status == "contacted" and held(store) == {kept.id}
    return kept.id, run_plan(store, "39", HOLD, actor="t").run_id


def test_the_replan_releases_a_held_answer_when_that_completes_more_mandatory(store):
    """Released, H1 goes to F1 and H3 to F2: two 義務 facilities instead of one."""
    kept, run_id = _lock_in(store, with_h3=True)
    rows = props(store)
    assert rows[kept].status == "withdrawn"
    assert holds.RELEASE_NOTE in notes(store, kept)
    live = {(p.facility_id, p.institution_id) for p in rows.values() if p.status == "proposed"}
    assert live == {("F1", "H1"), ("F2", "H3")}
    ledger_within_capacity(store)
    with store.read() as s:
        assert "0 件を合意、1 件を解除" in s.get(RunRow, run_id).message


def test_the_replan_keeps_a_held_answer_when_releasing_completes_no_more(store):
    """Without H3, releasing H1 completes F1 instead of F2: no more, so F2's yes is agreed."""
    kept, _ = _lock_in(store, with_h3=False)
    assert props(store)[kept].status == "agreed"
    assert missing(store, "F2") == 0 and not held(store) - {kept}


@pytest.mark.parametrize("agreed_first", [False, True])
def test_a_held_answer_is_agreed_at_once_when_another_answer_completes_its_facility(
    store, agreed_first
):
    """F1 (特養) is asked H1 (a clinic: ①②) by the run and H2 (③ only, 33 km: beyond the
    run's range) by hand: whichever
    answer comes first, once H2's agreement and H1's held yes complete F1, H1 is agreed."""
    with store.write() as s:
        import_simple(
            s,
            [fac("F1", "tokuyo")],
            [inst("H1", "clinic", dlat=0.01, offers=3), inst("H2", dlat=0.3, offers=4)],
            2025,
        )
    report = run_plan(store, "39", HOLD, actor="t")
    assert {c.institution_id for c in report.of("new")} == {"H1"}
    with store.write() as s:
        by_hand = propose(s, "F1", "H2", "t", override_reason="遠方だが入院を受ける").id

    def agree_by_hand() -> None:
        with store.write() as s:
            p = s.get(ProposalRow, by_hand)
            set_status(s, by_hand, "agreed", p.version, "t", "電話で受入可")

    if agreed_first:
        agree_by_hand()
    answer(store, report.run_id, "H1", accept=True)
    if not agreed_first:
        assert pair(store, "F1", "H1").status == "contacted" and held(store)
        agree_by_hand()
    assert pair(store, "F1", "H1").status == "agreed"
    assert missing(store, "F1") == 0


def test_a_non_mandatory_answer_and_a_run_without_hold_are_not_held(store):
    with store.write() as s:
        import_simple(s, [fac("F1", "gh")], [inst("H1", dlat=0.01)], 2025)
    report = run_plan(store, "39", HOLD, actor="t")
    answer(store, report.run_id, "H1", accept=True)
    assert pair(store, "F1", "H1").status == "agreed" and not held(store)


def _answer_all(store, run_id: int, seed_: int) -> set[int]:
    """Every institution answers its letter of ``run_id``, about 20 % declining (seeded); the
    proposals answered 受入可."""
    with store.write() as s:
        links = issue_links(s, run_id, DEADLINE, "t")
    accepted: set[int] = set()
    for link in links:
        if link.kind != "institution":
            continue
        with store.write() as s:
            view = letter_view(s, link.letter_id)
            rows = tuple(
                RowAnswer(
                    r.proposal_id,
                    "decline" if _decides(seed_, r.facility_id, r.institution_id) else "accept",
                )
                for r in view.rows
            )
            record_answer(s, link.letter_id, LetterAnswer(rows), "excel", "t")
        accepted |= {r.proposal_id for r in rows if r.answer == "accept"}
    return accepted


def _check_answers(store, accepted: set[int]) -> None:
    """A 受入可 of a 義務 facility's request is held (打診中, never coverage) unless an agreed
    answer completed its facility with it (then agreed); any other 受入可 is agreed."""
    rows = props(store)
    with store.read() as s:
        kinds = {f.facility_id: f.kind for f in s.scalars(select(FacilityRow))}
        live_held = holds.held_ids(s, list(rows))
    agreed_by = {p.facility_id for p in rows.values() if p.status == "agreed"}
    for pid in accepted:
        p = rows[pid]
        if FACILITY_KINDS[kinds[p.facility_id]].duty is not Duty.MANDATORY:
            assert p.status == "agreed" and pid not in live_held
        elif pid in live_held:
            assert p.status == "contacted"
        else:
            assert p.status == "agreed" and p.facility_id in agreed_by
            assert missing(store, p.facility_id) == 0


def _check(store) -> None:
    """Held answers are 打診中 requests of 義務 facilities (never coverage), the ledger within
    every declared capacity."""
    ledger_within_capacity(store)
    rows = props(store)
    with store.read() as s:
        kinds = {f.facility_id: f.kind for f in s.scalars(select(FacilityRow))}
        live_held = holds.held_ids(s, list(rows))
    for pid in live_held:
        assert rows[pid].status == "contacted"
        assert FACILITY_KINDS[kinds[rows[pid].facility_id]].duty is Duty.MANDATORY


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
    with fresh_store(kind, tmp_path) as store:
        with store.write() as s:
            import_simple(s, instance.facilities, instance.institutions, 2025)
        strategy = "reserve+hold"
        for _ in range(3):
            report = run_plan(store, "31", MatchParams(round_strategy=strategy), actor="t")
            _check(store)
            _check_answers(store, _answer_all(store, report.run_id, seed_))
            _check(store)
            strategy = "hold"
        declined = {
            (p.facility_id, p.institution_id)
            for p in props(store).values()
            if p.status == "declined"
        }
        run_plan(store, "31", MatchParams(round_strategy="none"), actor="t")  # the hold ends
        _check(store)
        rows = props(store).values()
        assert not held(store) & {p.id for p in rows if p.status == "contacted"}
        assert not declined & {
            (p.facility_id, p.institution_id)
            for p in rows
            if p.status in ("proposed", "contacted", "agreed")
        }


def test_the_proposal_page_shows_a_held_answer(store, db_url, tmp_path):
    with store.write() as s:
        import_simple(s, [fac("F1", "tokuyo")], [inst("H1", dlat=0.01, capacity=1)], 2025)
        add_user(s, "pref", PASSWORD, "coordinator", ["39"], "pref", actor="test")
    report = run_plan(store, "39", HOLD, actor="t")
    answer(store, report.run_id, "H1", accept=True)
    pid = pair(store, "F1", "H1").id
    app = create_app(db_url, secret_key="test-secret", tiles_url="", report_dir=tmp_path / "r")
    with TestClient(app, follow_redirects=False) as web:
        login(web, "pref")
        page = web.get(f"/proposals/{pid}").text
        assert 'data-held="1"' in page and 'id="proposal-held"' in page
        assert holds.HELD_LABEL_JA in page
        # the list and the JSON API say it too (``ProposalView.held``), the same field
        listed = web.get("/proposals").text
        row = re.search(rf'<tr data-proposal="{pid}".*?</tr>', listed, re.S)
        assert row is not None and 'data-held="1"' in row.group(0)
        assert web.get(f"/api/proposals/{pid}").json()["held"] is True
        assert {p["id"]: p["held"] for p in web.get("/api/proposals").json()}[pid] is True
    app.state.jobs.join_all()
    app.state.store.dispose()
