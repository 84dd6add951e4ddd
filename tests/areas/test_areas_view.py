"""The picture of one area against figures worked out by hand (see ``areas_support``), through the
store (``store.area_report``) as the pages, the CLI and the reports read it."""

from __future__ import annotations

import pytest
from areas_support import TODAY, scenario_fixture  # noqa: F401  (the ``scenario`` fixture)

from matcher.store.area_report import area_report
from matcher.store.errors import NotFoundError
from matcher.vocab import CodeSet, Duty, Status

CONSULT, CARE, ADMIT = 1, 2, 4
KOCHI_TOKUSHIMA = CodeSet.of(["39", "36"])


def _view(scenario, code="kousou-3901", whatif=False, scope=KOCHI_TOKUSHIMA):
    store, _ = scenario
    with store.read() as s:
        return area_report(s, scope, code, today=TODAY, whatif=whatif)


def test_status_table_and_what_is_short(scenario) -> None:
    v = _view(scenario)
    assert v.area.name == "安芸(構想区域)" and v.area.kind == "kousou"
    assert v.days_left == 364  # 2026-04-01 → 2027-03-31
    rows = {r.kind: r.counts for r in v.status_rows}
    order = list(Status)
    assert rows["tokuyo"] == tuple(
        {Status.PARTIAL: 2, Status.NO_PARTNER: 2}.get(s, 0) for s in order
    )
    assert rows["roken"] == tuple(int(s is Status.ALL) for s in order)
    assert rows["keihi"] == tuple(int(s is Status.UNKNOWN) for s in order)
    assert rows["gh"] == tuple(2 * (s is Status.NO_PARTNER) for s in order)
    assert rows["total"] == (1, 2, 0, 4, 1) and v.n_facilities == 8
    assert [f.facility_id for f in v.short] == ["F1", "F5", "F6", "F8", "F2", "F4", "F7"]
    assert v.short_by_duty() == {Duty.MANDATORY: 4, Duty.EFFORT: 3}
    need = v.short_by_requirement()
    assert list(need[Duty.MANDATORY].values()) == [2, 3, 4]
    assert list(need[Duty.EFFORT].values()) == [3, 3, 0]
    f1 = next(f for f in v.short if f.facility_id == "F1")
    assert (f1.missing, f1.pending, f1.uncoverable) == (CARE | ADMIT, CARE | ADMIT, 0)
    assert f1.proposals == (("contacted", 1),)
    f5 = next(f for f in v.short if f.facility_id == "F5")
    assert (f5.missing, f5.coverable, f5.uncoverable) == (ADMIT, 0, ADMIT)


def test_institutions_declared_against_needed(scenario) -> None:
    v = _view(scenario)
    got = [
        (h.institution_id, h.inside, h.declared, h.used, h.remaining, h.needed)
        for h in v.institutions
    ]
    assert got == [
        ("C1", True, None, 1, None, 2),  # F2, F4; undeclared, its live proposal counted (MODEL.md)
        ("T1", False, 1, 0, 1, 2),  # F6, F8 (徳島県)
        ("H1", True, 1, 1, 0, 1),  # F4 only: F2–H1 was declined; F1's contact uses the unit
        ("H2", False, None, 0, None, 1),  # F7
    ]
    h1 = next(h for h in v.institutions if h.institution_id == "H1")
    assert h1.proposals == (("contacted", 1), ("declined", 1))
    assert v.needed == 5  # F2, F4, F6, F7, F8 (F1 is being contacted, F5 has nobody in range)
    assert (v.declared_remaining, v.undeclared) == (1, 2)


def test_proposals_answers_uncoverable_and_cross_border(scenario) -> None:
    _, ids = scenario
    v = _view(scenario)
    assert v.proposal_counts == (("proposed", 1), ("contacted", 1), ("declined", 1))
    assert [p.id for p in v.answers] == [ids["F2-H1"]]
    assert [(r.facility_id, r.capability, r.nearest_institution_id) for r in v.uncoverable] == [
        ("F5", ADMIT, "H1")
    ]
    assert v.uncoverable[0].nearest_km == pytest.approx(100.02, abs=0.2)
    assert [(r.capability, r.range_km, r.km, r.facilities) for r in v.ranges] == [
        (ADMIT, 30.0, pytest.approx(100.1, abs=0.2), 1)
    ]
    cross = {c.facility_id: (c.institution_id, c.other_side, c.other_prefecture) for c in v.cross}
    assert cross == {
        "F6": ("T1", "徳島県 県南(構想区域)", True),
        "F7": ("H2", "中央(構想区域)", False),
        "F8": ("T1", "徳島県 県南(構想区域)", True),
    }
    assert len(v.neighbour_prefecture_dependent) == 2
    assert [(d.institution_id, d.nearest_for) for d in v.discuss] == [("H1", ("施設F5",))]


def test_whatif_restricted_to_the_area_is_ranked(scenario) -> None:
    v = _view(scenario, whatif=True)
    # One unit more at T1 completes the second 特養 of 東洋町; nothing else gains anything.
    assert [(c.change, c.target, c.gain_mandatory, c.gain_effort) for c in v.changes] == [
        ("capacity", "T1", 1, 0)
    ]
    assert [(d.institution_id, len(d.nearest_for), d.capacity_gain) for d in v.discuss] == [
        ("H1", 1, 0),
        ("T1", 0, 1),
    ]


def test_the_other_prefecture_has_its_own_table(scenario) -> None:
    v = _view(scenario, "kousou-36-県南")
    assert v.area.name == "県南(構想区域)"
    assert [f.facility_id for f in v.short] == ["FT1"]
    assert [(h.institution_id, h.inside) for h in v.institutions] == [("T1", True)]
    assert v.cross == ()


def test_an_area_outside_the_scope_is_not_found(scenario) -> None:
    with pytest.raises(NotFoundError, match="見つかりません"):
        _view(scenario, scope=CodeSet.of(["39202"]))
