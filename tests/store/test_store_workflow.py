"""Re-planning honours decisions; status changes are version-checked; failures leave no trace."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from store_fixtures import fac, inst, seed_small_region, snapshot

from matcher._errors import SolverError
from matcher.store import planning, proposal_commands, run_write
from matcher.store.errors import ConflictError, NotFoundError, TransitionError
from matcher.store.imports import import_simple
from matcher.store.models import ProposalHistoryRow, RunRow
from matcher.store.planner_input import load_state
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import propose, set_status
from matcher.store.proposals import list_proposals, proposal_history
from matcher.store.runs import run_changes

seed = seed_small_region


def pairs(report, change):
    return {(c.facility_id, c.institution_id) for c in report.of(change)}


def replan(store, **kw):
    """Re-plan area 39."""
    return run_plan(store, "39", **kw)


def live(s, fid=None):
    return {(p.facility_id, p.institution_id): p for p in list_proposals(s, "39", facility_id=fid)}


def test_first_run_is_stored_with_objective_and_history(store):
    seed(store)
    r = replan(store, actor="山田")
    assert r.previous_run_id is None and r.of("new") and not r.of("kept")
    with store.read() as s:
        run = s.get(RunRow, r.run_id)
        assert run.partnerships == len(r.result.proposals) == run.n_new
        assert run.mandatory_full == r.result.objective.mandatory_full and run.proven_optimal
        assert len(run.input_hash) == 64 and run.params["max_new_partners"] == 2
        assert "total" in run.seconds and "load" in run.seconds
        hist = s.scalars(select(ProposalHistoryRow)).all()
        assert len(hist) == run.n_new and all(
            h.actor == "山田" and h.to_status == "proposed" for h in hist
        )


def test_same_state_replans_to_the_same_proposals(store):
    seed(store)
    r1 = replan(store)
    r2 = replan(store)
    assert r2.previous_run_id == r1.run_id
    assert not r2.of("new") and not r2.of("dropped")
    assert pairs(r2, "kept") == pairs(r1, "new")
    assert r2.state.input_hash == r1.state.input_hash
    with store.read() as s:
        assert {(c.facility_id, c.institution_id, c.change) for c in run_changes(s, r2.run_id)} == {
            (c.facility_id, c.institution_id, c.change) for c in r2.changes
        }


def test_agreed_becomes_coverage_and_consumes_capacity(store):
    seed(store)
    r1 = replan(store)
    h1 = next(c for c in r1.changes if c.institution_id == "H1")
    with store.write() as s:
        set_status(s, h1.proposal_id, "contacted", 1, "山田", "電話しました")
        set_status(s, h1.proposal_id, "agreed", 2, "山田", "合意")
    with store.read() as s:
        state = load_state(s, "39")
    f = next(f for f in state.instance.facilities if f.facility_id == h1.facility_id)
    h = next(i for i in state.instance.institutions if i.institution_id == "H1")
    assert f.covered & 3 == 3 and f.has_partner
    assert h.capacity == 0 and state.capacity_used["H1"] == 1 and state.capacity_declared["H1"] == 1
    r2 = replan(store)
    assert all(c.institution_id != "H1" for c in r2.of("new"))
    assert h1.facility_id not in {c.facility_id for c in r2.of("new")}


def test_declined_pairs_are_never_proposed_again(store):
    seed(store)
    r1 = replan(store)
    target = r1.of("new")[0]
    with store.write() as s:
        set_status(s, target.proposal_id, "declined", 1, "佐藤", "受入できないとのこと")
    for _ in range(2):
        r = replan(store)
        assert (target.facility_id, target.institution_id) not in pairs(r, "new") | pairs(r, "kept")
        assert (target.facility_id, target.institution_id) in r.state.declined


def test_contacted_is_kept_until_released(store):
    seed(store)
    r1 = replan(store)
    c = r1.of("new")[0]
    with store.write() as s:
        set_status(s, c.proposal_id, "contacted", 1, "山田")
    r2 = replan(store)
    kept = {k.proposal_id: k for k in r2.of("kept")}
    assert kept[c.proposal_id].status == "contacted"
    with store.read() as s:
        assert (
            len(
                [
                    p
                    for p in list_proposals(s, "39")
                    if (p.facility_id, p.institution_id) == (c.facility_id, c.institution_id)
                    and p.status in ("proposed", "contacted")
                ]
            )
            == 1
        )
    r3 = replan(store, release=[c.proposal_id], actor="山田", note="先方の返事がないため解放")
    assert c.proposal_id not in {k.proposal_id for k in r3.changes}
    with store.read() as s:
        hist = proposal_history(s, c.proposal_id)
    assert [h.to_status for h in hist] == ["proposed", "contacted", "withdrawn"]
    assert hist[-1].note == "先方の返事がないため解放"
    # released: the pair may be proposed again, as a new proposal
    again = [
        k
        for k in r3.of("new")
        if (k.facility_id, k.institution_id) == (c.facility_id, c.institution_id)
    ]
    assert not again or again[0].proposal_id != c.proposal_id


def test_proposals_no_longer_needed_are_dropped(store):
    seed(store)
    r1 = replan(store)
    f = r1.of("new")[0].facility_id
    with store.write() as s:  # the facility files full coverage for the next year
        import_simple(
            s, [fac(f, dlat=0.001 if f == "F1" else -0.001, covered=3, has_partner=True)], [], 2026
        )
    r2 = replan(store, actor="山田")
    assert {c.facility_id for c in r2.of("dropped")} == {f}
    with store.read() as s:
        assert all(p.status == "withdrawn" for p in list_proposals(s, "39", facility_id=f))
        h = proposal_history(s, r2.of("dropped")[0].proposal_id)[-1]
    assert (
        h.from_status == "proposed" and h.to_status == "withdrawn" and f"計算 {r2.run_id}" in h.note
    )


def test_stale_version_is_a_conflict(store):
    seed(store)
    pid = replan(store).of("new")[0].proposal_id
    with store.write() as s:
        set_status(s, pid, "contacted", 1, "山田")
    with pytest.raises(
        ConflictError, match="他の人が先に更新しました.*あなたの版: 1、現在の版: 2"
    ) as info:
        with store.write() as s:
            set_status(s, pid, "declined", 1, "佐藤")
    assert (info.value.expected, info.value.actual) == (1, 2)
    with store.read() as s:
        assert [h.actor for h in proposal_history(s, pid)] == ["", "山田"]


def test_concurrent_updates_cannot_overwrite_each_other(store):
    seed(store)
    pid = replan(store).of("new")[0].proposal_id
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        barrier.wait()
        try:
            with store.write() as s:
                set_status(s, pid, "contacted" if n % 2 else "withdrawn", 1, f"user{n}")
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    with store.read() as s:
        hist = proposal_history(s, pid)
    assert len(hist) == 2 and hist[-1].version == 2


def test_lifecycle_and_unknown_ids(store):
    seed(store)
    pid = replan(store).of("new")[0].proposal_id
    with store.write() as s:
        set_status(s, pid, "agreed", 1, "山田")
    with pytest.raises(TransitionError, match="「合意」から「打診中」に変更できません"):
        with store.write() as s:
            set_status(s, pid, "contacted", 2, "山田")
    with pytest.raises(TransitionError, match="不明な状態"):
        with store.write() as s:
            set_status(s, pid, "done", 2, "山田")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="提案 9999 は存在しません"):
        with store.write() as s:
            set_status(s, 9999, "contacted", 1, "山田")
    with pytest.raises(NotFoundError, match="地域「どこか」は登録されていません"):
        with store.read() as s:
            load_state(s, "どこか")


def test_manual_proposal(store):
    seed(store)
    with store.write() as s:
        p = propose(s, "F3", "H2", "山田", "近くの病院に相談")
    assert p.covers == 7 and p.run_id is None and p.distance_km > 4
    with pytest.raises(ConflictError, match="既に提案"):
        with store.write() as s:
            propose(s, "F3", "H2", "山田")


@pytest.mark.parametrize("where", ["solver", "late"])
def test_failing_run_leaves_the_store_unchanged(store, monkeypatch, where):
    seed(store)
    r1 = replan(store)
    pid = r1.of("new")[0].proposal_id
    with store.write() as s:
        set_status(s, pid, "contacted", 1, "山田")
    before = snapshot(store)
    if where == "solver":

        def boom(*args, **kwargs):
            raise SolverError("ソルバーが失敗しました (テスト)")

        monkeypatch.setattr(planning, "match", boom)
    else:
        real = proposal_commands.record_history
        calls = {"n": 0}

        def history(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                raise SolverError("途中で失敗しました (テスト)")
            return real(*args, **kwargs)

        # the run's history rows: its new proposals' (``add_proposal``) and the others'
        for module in (proposal_commands, run_write):
            monkeypatch.setattr(module, "record_history", history)
        # force a change so that the run writes several history rows
        with store.write() as s:
            import_simple(s, [fac("F4", dlat=0.002), fac("F5", dlat=0.003)], [], 2025)
        before = snapshot(store)
    with pytest.raises(SolverError, match="テスト"):
        replan(store, release=[pid])
    assert snapshot(store) == before


def test_area_of_several_municipalities(store):
    from matcher.store.areas import save_area

    with store.write() as s:
        import_simple(s, [fac("F1"), fac("G1", dlat=0.01, muni="392022")], [inst("H1")], 2025)
        save_area(s, "renkei-1", "中央圏域", "renkei", ["39202"])
    with store.read() as s:
        assert [f.facility_id for f in load_state(s, "renkei-1").instance.facilities] == ["G1"]
        assert [f.facility_id for f in load_state(s, "392014").instance.facilities] == ["F1"]
        assert len(load_state(s, "39").instance.facilities) == 2


def test_filed_partners_are_never_proposed_as_new(store):
    """Issue 15: the planner reads the latest filing's partners and leaves them out."""
    from matcher.store.imports import Filing, FilingPartner, import_filings

    seed(store)
    first = replan(store, actor="t")
    assert ("F3", "H1") in pairs(first, "new")
    with store.write() as s:  # F3 files H1 as its partner for ① only (H1 also offers ②③)
        import_filings(s, [Filing("F3", 2026, True, (FilingPartner("医療機関H1", 1, "H1"),))])
        state = load_state(s, "39")
        f3 = next(f for f in state.instance.facilities if f.facility_id == "F3")
        assert f3.partner_ids == ("H1",) and f3.covered == 1
    second = replan(store, actor="t")
    got = {p.institution_id for p in second.result.proposals if p.facility_id == "F3"}
    assert got == {"H2"}  # ②③ from the other hospital, never from its filed partner
    with store.read() as s:
        assert ("F3", "H1") not in {k for k, p in live(s).items() if p.status == "proposed"}
