"""Runs under concurrency, on SQLite and PostgreSQL: one run of an area at a time, decisions made
while a run solves are honoured at its commit (driven deterministically through ``before_commit``),
impossible contacted proposals are released, every change of a kept proposal is audited."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select
from store_fixtures import fac, inst, seed_small_region

from matcher.model import Capability
from matcher.params import MatchParams
from matcher.store.errors import NotFoundError, RunInProgressError
from matcher.store.imports import (
    Declaration,
    import_declarations,
    import_institutions,
    import_simple,
)
from matcher.store.models import AreaRow, ProposalRow, RunRow
from matcher.store.planning import ensure_area, run_plan
from matcher.store.proposal_commands import set_status
from matcher.store.proposals import list_proposals, proposal_history
from matcher.wareki import today as today_jp

SINCE = dt.date(2025, 4, 1)


def seed(store):
    """Three facilities, a hospital with room for one, two clinics, a second hospital."""
    seed_small_region(store, declared_on=SINCE)


def first_new_proposal(store):
    """Seed and plan once: the run's first new proposal and its (facility, institution) pair."""
    seed(store)
    target = run_plan(store, "39").of("new")[0]
    return target, (target.facility_id, target.institution_id)


def pairs(report, *changes):
    return {(c.facility_id, c.institution_id) for c in report.changes if c.change in changes}


def active(store, pair):
    with store.read() as s:
        return [
            p
            for p in list_proposals(s, "39")
            if (p.facility_id, p.institution_id) == pair
            and p.status in ("proposed", "contacted", "agreed")
        ]


def change_in_own_transaction(store, proposal_id, *statuses):
    with store.read() as s:
        version = s.get(ProposalRow, proposal_id).version
    for status in statuses:
        with store.write() as s:
            version = set_status(s, proposal_id, status, version, "佐藤", "計算中に変更").version


def test_pair_declined_during_the_solve_is_replanned_not_proposed(store):
    seed(store)
    r1 = run_plan(store, "39", actor="山田")
    target = r1.of("new")[0]
    pair = (target.facility_id, target.institution_id)
    calls = []

    def decline(attempt):
        calls.append(attempt)
        if attempt == 0:
            change_in_own_transaction(store, target.proposal_id, "declined")

    r2 = run_plan(store, "39", actor="山田", before_commit=decline)
    assert calls == [0, 1]  # solved again from the new decisions
    assert pair not in pairs(r2, "new", "kept") and not r2.unplanned
    assert pair in r2.state.declined and not active(store, pair)
    with store.read() as s:
        assert s.get(RunRow, r2.run_id).seconds["replans"] == 1
        assert [h.to_status for h in proposal_history(s, target.proposal_id)] == [
            "proposed",
            "declined",
        ]


def test_pair_declined_during_the_last_solve_is_replanned_inside_the_commit(store):
    """With the re-plans used up, the run solves once more inside its commit transaction (under
    the ledger lock): the declined pair is not proposed and its facility is planned again, not
    left for another run."""
    target, pair = first_new_proposal(store)
    r2 = run_plan(
        store,
        "39",
        replans=0,
        before_commit=lambda _: change_in_own_transaction(store, target.proposal_id, "declined"),
    )
    assert pair not in pairs(r2, "new", "kept")
    assert r2.unplanned == ()
    assert not active(store, pair)
    assert pair not in {(p.facility_id, p.institution_id) for p in r2.result.proposals}
    assert r2.state.forbidden >= {pair}


@pytest.mark.parametrize("replans", [0, 2])
def test_pair_agreed_during_the_solve_is_honoured_without_a_crash(store, replans):
    target, pair = first_new_proposal(store)
    r2 = run_plan(
        store,
        "39",
        replans=replans,
        before_commit=lambda a: (
            a == 0 and change_in_own_transaction(store, target.proposal_id, "contacted", "agreed")
        ),
    )
    rows = active(store, pair)
    assert [(p.id, p.status) for p in rows] == [(target.proposal_id, "agreed")]
    assert pair not in pairs(r2, "new")
    with store.read() as s:
        dup = s.scalar(
            select(func.count())
            .select_from(ProposalRow)
            .where(
                ProposalRow.facility_id == pair[0],
                ProposalRow.institution_id == pair[1],
            )
        )
    assert dup == 1


def test_status_change_during_a_run_does_not_wait_for_it(store):
    seed(store)
    r1 = run_plan(store, "39")
    target = r1.of("new")[0]
    took = []

    def contact(_attempt):
        t = time.perf_counter()
        change_in_own_transaction(store, target.proposal_id, "contacted")
        took.append(time.perf_counter() - t)

    r2 = run_plan(store, "39", replans=0, before_commit=contact)
    assert took[0] < 2.0  # the run holds no transaction while it solves
    kept = {c.proposal_id: c for c in r2.of("kept")}
    assert kept[target.proposal_id].status == "contacted"


def test_second_run_waits_then_says_a_run_is_in_progress(store):
    seed(store)
    inside, go_on = threading.Event(), threading.Event()
    out = {}

    def hold(_attempt):
        inside.set()
        go_on.wait(30)

    first = threading.Thread(
        target=lambda: out.setdefault("a", run_plan(store, "39", before_commit=hold))
    )
    first.start()
    assert inside.wait(30)
    t = time.perf_counter()
    with pytest.raises(RunInProgressError, match="地域「39」は別の計算が実行中です"):
        run_plan(store, "39", lock_wait=0.5)
    assert 0.4 < time.perf_counter() - t < 5
    # a run that waits long enough follows the first one in the chain
    waiting = threading.Thread(
        target=lambda: out.setdefault("b", run_plan(store, "39", lock_wait=30))
    )
    waiting.start()
    time.sleep(0.3)
    go_on.set()
    first.join(30)
    waiting.join(30)
    a, b = out["a"], out["b"]
    assert a.previous_run_id is None and b.previous_run_id == a.run_id
    c = run_plan(store, "39")
    assert c.previous_run_id == b.run_id
    with store.read() as s:
        chain = s.execute(select(RunRow.id, RunRow.previous_run_id).order_by(RunRow.id)).all()
    assert [tuple(r) for r in chain] == [
        (a.run_id, None),
        (b.run_id, a.run_id),
        (c.run_id, b.run_id),
    ]


def test_two_runs_creating_a_new_area_at_once_both_succeed(store):
    """Fresh database, area not stored: both inserts of ``areas`` meet (PostgreSQL: the second
    waits on the first's unique key) and neither fails on ``areas_code_key``."""
    seed(store)
    first_in, release = threading.Event(), threading.Event()
    out, errors = [], []

    def first():
        try:
            with store.write() as s:
                out.append(ensure_area(s, "39"))
                first_in.set()
                release.wait(30)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def second():
        try:
            with store.write() as s:
                out.append(ensure_area(s, "39"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_in.wait(30)
    t2 = threading.Thread(target=second)
    t2.start()
    time.sleep(0.3)
    release.set()
    t1.join(30)
    t2.join(30)
    assert not errors and out == ["39", "39"]
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(AreaRow)) == 1


def test_unknown_area_is_refused_and_not_created(store):
    seed(store)
    for code in ("99", "13999", "どこか"):
        with pytest.raises(NotFoundError, match="登録されて"):
            run_plan(store, code)
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(AreaRow)) == 0


def _contacted_pair(store, institution_id):
    r1 = run_plan(store, "39")
    c = next(c for c in r1.of("new") if c.institution_id == institution_id)
    change_in_own_transaction(store, c.proposal_id, "contacted")
    return c


@pytest.mark.parametrize(
    "change, reason",
    [
        ("capacity0", "受入枠が0"),
        ("unwilling", "受入枠が0"),
        ("no_offer", "提供しなくなった"),
        ("moved", "上限を超えた"),
    ],
)
def test_impossible_contacted_proposal_is_released_and_facility_replanned(store, change, reason):
    seed(store)
    c = _contacted_pair(store, "H1")
    today = today_jp()
    with store.write() as s:
        if change == "capacity0":
            import_declarations(s, [Declaration("H1", today, 0)])
        elif change == "unwilling":
            import_declarations(s, [Declaration("H1", today, 5, willing=False)])
        elif change == "no_offer":
            import_declarations(s, [Declaration("H1", today, 5, offers=0)])
        else:
            import_institutions(s, [inst("H1", dlat=1.0, capacity=1)])
    r = run_plan(store, "39", actor="山田")
    released = [x for x in r.of("released") if x.proposal_id == c.proposal_id]
    assert released and released[0].status == "withdrawn"
    assert (c.facility_id, "H1") not in pairs(r, "new", "kept")
    assert c.facility_id in {x.facility_id for x in r.of("new")}  # re-planned elsewhere
    with store.read() as s:
        hist = proposal_history(s, c.proposal_id)
        assert [h.to_status for h in hist] == ["proposed", "contacted", "withdrawn"]
        assert reason in hist[-1].note and hist[-1].run_id == r.run_id
        assert s.get(ProposalRow, c.proposal_id).version == hist[-1].version


def test_possible_contacted_proposal_is_kept(store):
    seed(store)
    c = _contacted_pair(store, "H1")
    r = run_plan(store, "39")
    assert not r.of("released")
    assert c.proposal_id in {x.proposal_id for x in r.of("kept")}


def test_changed_covers_of_a_kept_proposal_write_a_history_row(store):
    with store.write() as s:
        import_simple(s, [fac("F1")], [inst("H1", dlat=0.05)], 2025, declared_on=SINCE)
    r1 = run_plan(store, "39")
    (target,) = r1.of("new")
    with store.read() as s:
        version0 = s.get(ProposalRow, target.proposal_id).version
    # ② now only within 3 km: the same pair (5.6 km) still covers ①, no longer ②
    near = MatchParams(max_km={Capability.CONSULT: 30, Capability.CARE: 3, Capability.ADMIT: 30})
    r2 = run_plan(store, "39", near)
    assert [c.proposal_id for c in r2.of("kept")] == [target.proposal_id]
    with store.read() as s:
        p = s.get(ProposalRow, target.proposal_id)
        hist = proposal_history(s, target.proposal_id)
    assert p.covers == 1 and p.version == version0 + 1
    assert [h.version for h in hist] == [version0, p.version]
    assert "内容を変更" in hist[-1].note and "consult+care → consult" in hist[-1].note
    assert hist[-1].run_id == r2.run_id and hist[-1].from_status == hist[-1].to_status == "proposed"
