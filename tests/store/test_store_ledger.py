"""One capacity ledger (issue 21): an institution's declared capacity is used by its agreed and
live (proposed, contacted) partnerships from every run of every area and by hand; overlapping
areas never promise more than it; every reader of 使用/残り reads the same numbers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from store_fixtures import DATABASES, fac, fresh_store, inst

from matcher.store.areas import save_area
from matcher.store.export import state_frames
from matcher.store.imports import import_simple
from matcher.store.manual import LimitExceeded, remaining_capacity
from matcher.store.models import InstitutionRow, ProposalRow
from matcher.store.planning import run_plan
from matcher.store.proposal_commands import propose, set_status
from matcher.store.state import LEDGER_STATUSES, current_declarations, institution_states
from matcher.wareki import today as today_jp

MUNIS = ("392014", "392022", "392031")  # 高知市, 室戸市, 安芸市 (codes only; points are ours)


def _live_count(session, institution_id: str) -> int:
    """An independent count: distinct facilities with a live or agreed proposal (no sites here)."""
    return len(
        set(
            session.scalars(
                select(ProposalRow.facility_id).where(
                    ProposalRow.institution_id == institution_id,
                    ProposalRow.status.in_(LEDGER_STATUSES),
                )
            )
        )
    )


def _check_ledger(store) -> None:
    with store.read() as s:
        rows = list(s.scalars(select(InstitutionRow)))
        states = institution_states(s, rows, today_jp())
        decls = current_declarations(s, None, today_jp())
        for iid, ist in states.items():
            count = _live_count(s, iid)
            # every institution's line counts its partnerships, a declared capacity or not
            assert ist.used == count, (iid, ist.used, count)
            if iid not in decls or decls[iid].capacity is None:  # unlimited
                assert ist.remaining is None, (iid, ist.remaining)
                continue
            if decls[iid].capacity is not None:
                assert count <= decls[iid].capacity, (iid, count, decls[iid].capacity)
                assert remaining_capacity(s, iid, today_jp()) == ist.remaining


@st.composite
def regions(draw):
    """Facilities spread over three municipalities and hospitals with small capacities."""
    coord = st.floats(-0.08, 0.08, allow_nan=False)
    facilities = [
        fac(
            f"F{k:02d}",
            draw(st.sampled_from(["gh", "tokuyo", "keihi"])),
            draw(coord),
            draw(coord),
            has_partner=draw(st.sampled_from([None, False])),
            muni=draw(st.sampled_from(MUNIS)),
        )
        for k in range(draw(st.integers(2, 9)))
    ]
    institutions = [
        inst(
            f"H{k}",
            draw(st.sampled_from(["hospital", "clinic"])),
            draw(coord),
            draw(coord),
            draw(st.integers(1, 7)),
            draw(st.one_of(st.none(), st.integers(0, 3))),
            muni=draw(st.sampled_from(MUNIS)),
        )
        for k in range(draw(st.integers(1, 4)))
    ]
    return facilities, institutions


@pytest.mark.parametrize("db", DATABASES)
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example is a whole store
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=regions(), decide=st.lists(st.sampled_from(["contacted", "agreed", "declined"])))
def test_overlapping_areas_never_promise_more_than_the_capacity(db, tmp_path_factory, data, decide):
    facilities, institutions = data
    with fresh_store(db, tmp_path_factory.mktemp("ledger")) as store:
        with store.write() as s:
            import_simple(s, facilities, institutions, 2025)
            save_area(s, "K1", "拠点1", "renkei", [m[:5] for m in MUNIS[:2]])
            save_area(s, "K2", "拠点2", "renkei", [m[:5] for m in MUNIS[1:]])
        run_plan(store, "39")
        _check_ledger(store)
        # some decisions on the prefecture's proposals, then both 拠点 areas re-plan
        with store.read() as s:
            live = list(s.scalars(select(ProposalRow).order_by(ProposalRow.id)))
        with store.write() as s:
            for p, status in zip(live, decide, strict=False):
                set_status(s, p.id, status, p.version, "test")  # type: ignore[arg-type]
        run_plan(store, "K1", replace_other_areas=True)
        _check_ledger(store)
        run_plan(store, "K2", replace_other_areas=True)
        _check_ledger(store)
        run_plan(store, "39", replace_other_areas=True)
        _check_ledger(store)


def test_every_view_reads_the_same_ledger(store):
    """After a prefecture run and an area run sharing one hospital, the export, the planner's
    view and the manual-proposal check all say the same 使用/残り."""
    facs = [fac(f"F{k}", dlat=0.001 * k, muni=MUNIS[k % 2]) for k in range(5)]
    with store.write() as s:
        import_simple(s, facs, [inst("H1", capacity=3)], 2025)
        save_area(s, "K1", "拠点1", "renkei", [MUNIS[1][:5]])
    run_plan(store, "39")
    run_plan(store, "K1", replace_other_areas=True)
    _check_ledger(store)
    with store.read() as s:
        frame = state_frames(s, "39")["institutions"].set_index("institution_id")
        assert int(frame.loc["H1", "used"]) == 3
        assert int(frame.loc["H1", "remaining"]) == 0
        assert remaining_capacity(s, "H1", today_jp()) == 0


def test_a_hand_proposal_says_which_rule_blocks_and_counts_in_the_ledger(store):
    facs = [fac("F1", dlat=0.001), fac("F2", dlat=-0.001), fac("F3", dlat=0.3)]
    with store.write() as s:
        import_simple(s, facs, [inst("H1", capacity=1), inst("C1", "clinic", offers=3)], 2025)
    with store.write() as s:
        propose(s, "F1", "H1", "test")
    with store.write() as s, pytest.raises(LimitExceeded, match="受入枠: 医療機関H1 の受入枠 1"):
        propose(s, "F2", "H1", "test")
    with store.write() as s, pytest.raises(LimitExceeded, match="距離: ①相談対応"):
        propose(s, "F3", "C1", "test")
    with store.write() as s, pytest.raises(LimitExceeded, match="提供: 医療機関C1 は③"):
        propose(s, "F2", "C1", "test", covers=7)
    with store.write() as s:  # the documented override, with the reason kept
        p = propose(s, "F2", "H1", "test", override_reason="院長了承済み")
        assert p.status == "proposed"
    with store.read() as s:
        assert remaining_capacity(s, "H1", today_jp()) == 0


def _notes(store, run_id: int) -> dict[tuple[str, str], str]:
    from matcher.store.models import ProposalHistoryRow

    with store.read() as s:
        rows = s.execute(
            select(ProposalRow.facility_id, ProposalRow.institution_id, ProposalHistoryRow.note)
            .join(ProposalHistoryRow, ProposalHistoryRow.proposal_id == ProposalRow.id)
            .where(ProposalHistoryRow.run_id == run_id, ProposalHistoryRow.to_status == "withdrawn")
        )
        return {(f, i): n for f, i, n in rows}


def test_an_area_run_over_another_areas_proposals_needs_confirmation(store):
    from matcher.store.errors import OtherAreaProposalsError

    facs = [fac(f"F{k}", dlat=0.001 * k, muni=MUNIS[k % 2]) for k in range(4)]
    with store.write() as s:
        import_simple(s, facs, [inst("H1", capacity=4), inst("H2", dlat=0.002)], 2025)
        save_area(s, "K1", "拠点1", "renkei", [MUNIS[1][:5]])
    first = run_plan(store, "39")
    assert first.of("new")
    from matcher.params import MatchParams

    narrow = MatchParams(max_km={1: 0.01, 2: 0.01, 4: 0.01})  # type: ignore[dict-item]
    # the same plan is kept without a question
    assert run_plan(store, "K1", dry_run=True).other_area_count == 0
    preview = run_plan(store, "K1", narrow, dry_run=True)  # the preview computes and says so
    assert preview.other_area_count >= 1
    assert list(preview.other_areas) == [first.run_id]
    with pytest.raises(OtherAreaProposalsError, match="高知県」の計算 1 の提案"):
        run_plan(store, "K1", narrow)
    with store.read() as s:  # nothing was stored
        assert _live_count(s, "H1") + _live_count(s, "H2") == len(first.result.proposals)
    done = run_plan(store, "K1", narrow, replace_other_areas=True)
    notes = _notes(store, done.run_id)
    assert notes and all(
        n.startswith("地域「高知県」の計算 1 の提案を、地域「拠点1」の計算 ")
        for n in notes.values()
    )


def test_a_withdrawal_says_why(store):
    facs = [fac("F1", "gh"), fac("F2", "gh", dlat=0.05)]
    insts = [inst("H1", dlat=0.001), inst("H2", dlat=0.003), inst("C9", "clinic", dlat=0.2)]
    with store.write() as s:
        import_simple(s, facs, insts, 2025)
    run_plan(store, "39")
    with store.read() as s:
        planned = {
            (p.facility_id, p.institution_id): p
            for p in s.scalars(select(ProposalRow).where(ProposalRow.status == "proposed"))
        }
    assert ("F1", "H1") in planned
    # a partner agreed by hand covers F1 fully: its proposal is withdrawn for that reason
    with store.write() as s:
        p = propose(s, "F1", "H2", "test", override_reason="既に話がついている")
        set_status(s, p.id, "agreed", p.version, "test")
    again = run_plan(store, "39")
    notes = _notes(store, again.run_id)
    assert "合意・打診中の協力医療機関で" in notes[("F1", "H1")]
    # a narrower range puts F2's partner out of reach
    from matcher.params import MatchParams

    narrow = MatchParams(max_km={1: 0.5, 2: 0.5, 4: 0.5})  # type: ignore[dict-item]
    third = run_plan(store, "39", narrow)
    notes = _notes(store, third.run_id)
    assert notes and all("新しい距離の上限を超えた" in n for n in notes.values()), notes
