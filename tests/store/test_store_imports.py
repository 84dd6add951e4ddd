"""Imports into the store: idempotent, newer filing year supersedes older with history kept,
a failing import leaves the store as it was."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from store_fixtures import fac, inst, snapshot

from matcher._errors import InputError
from matcher.match import match
from matcher.model import Instance
from matcher.sources.simple_csv import load_facilities, load_institutions
from matcher.store.imports import (
    Declaration,
    Filing,
    FilingPartner,
    fiscal_year,
    import_declarations,
    import_facilities,
    import_filings,
    import_institutions,
    import_simple,
)
from matcher.store.models import DeclarationRow, FilingRow
from matcher.store.planner_input import load_state
from matcher.store.planning import run_plan

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
D1 = dt.date(2025, 4, 1)


def small():
    return (
        [
            fac("F1", covered=1, has_partner=True),
            fac("F2", "tokuyo", 0.01),
            fac("F3", has_partner=None),
        ],
        [inst("H1", capacity=2), inst("C1", "clinic", 0.02, offers=3)],
    )


def test_reimporting_the_same_data_changes_nothing(store):
    facs, insts = small()
    with store.write() as s:
        first = import_simple(s, facs, insts, 2025, D1)
    assert first["facilities"].inserted == 3 and first["filings"].inserted == 2
    assert first["declarations"].inserted == 1  # C1 declared nothing
    before = snapshot(store)
    with store.write() as s:
        again = import_simple(s, facs, insts, 2025, D1 + dt.timedelta(days=40))
    assert not any(st.changed for st in again.values())
    assert again["facilities"].unchanged == 3
    assert snapshot(store) == before


def test_changed_rows_are_updated(store):
    facs, insts = small()
    with store.write() as s:
        import_simple(s, facs, insts, 2025, D1)
    with store.write() as s:
        st = import_facilities(s, [fac("F1", covered=1, has_partner=True, dlat=0.001)] + facs[1:])
    assert (st.inserted, st.updated, st.unchanged) == (0, 1, 2)


def test_newer_filing_year_supersedes_older_and_keeps_history(store):
    with store.write() as s:
        import_institutions(s, [inst("H1")])
        import_facilities(s, [fac("F1", "tokuyo")])
        import_filings(s, [Filing("F1", 2024, True, (FilingPartner("昔の病院", 1),))])
    with store.write() as s:
        st = import_filings(s, [Filing("F1", 2025, True, (FilingPartner("医療機関H1", 7, "H1"),))])
    assert st.superseded == 1 and st.inserted == 1
    with store.write() as s:  # an older year read late stays history
        st = import_filings(s, [Filing("F1", 2023, False)])
    assert st.superseded == 0
    with store.read() as s:
        years = sorted(s.scalars(select(FilingRow.filing_year)))
        f = load_state(s, "39").instance.facilities[0]
    assert years == [2023, 2024, 2025]
    assert f.covered == 7 and f.has_partner is True


def test_same_year_filing_revised_in_place(store):
    with store.write() as s:
        import_facilities(s, [fac("F1", "tokuyo")])
        import_filings(s, [Filing("F1", 2025, True, (FilingPartner("A病院", 1),))])
    with store.write() as s:
        st = import_filings(s, [Filing("F1", 2025, True, (FilingPartner("A病院", 3),))])
        again = import_filings(s, [Filing("F1", 2025, True, (FilingPartner("A病院", 3),))])
    assert (st.updated, again.unchanged) == (1, 1)
    with store.read() as s:
        assert load_state(s, "39").instance.facilities[0].covered == 3


def test_filing_partner_unknown_institution_is_kept_by_name(store):
    with store.write() as s:
        import_facilities(s, [fac("F1")])
        st = import_filings(s, [Filing("F1", 2025, True, (FilingPartner("どこか病院", 3, "X9"),))])
    assert st.warnings and "X9" in st.warnings[0]


def _partners(s, facility_id: str) -> list[tuple]:
    return [
        (p.position, p.partner_name, p.institution_id, p.filed_institution_id, p.covers)
        for f in s.scalars(select(FilingRow).where(FilingRow.facility_id == facility_id))
        for p in sorted(f.partners, key=lambda p: p.position)
    ]


def test_filed_partner_is_linked_when_its_institution_is_imported_later(store):
    """Regression (audit: facilities uploaded before institutions): a partner filed under an id
    the store lacks keeps that id; importing the institution later links it
    (``link_filed_partners``, called by ``import_institutions`` on every path), and the filing
    is then what importing in the other order stores: F1 (institutions later) == F2 (first)."""
    filed = (FilingPartner("", 1, "H1"), FilingPartner("どこか病院", 2, "X9"))
    with store.write() as s:
        import_facilities(s, [fac("F1"), fac("F2")])
        import_filings(s, [Filing("F1", 2025, True, filed)])
        assert _partners(s, "F1") == [(0, "H1", None, "H1", 1), (1, "どこか病院", None, "X9", 2)]
        linked = import_institutions(s, [inst("H1"), inst("X9")])
        import_filings(s, [Filing("F2", 2025, True, filed)])
    assert linked.linked == 2 and linked.changed
    assert "結び付け 2 件" in linked.summary_ja()
    with store.read() as s:
        assert _partners(s, "F1") == [
            (0, "医療機関H1", "H1", "H1", 1),  # named by id only: now by the registry's name
            (1, "どこか病院", "X9", "X9", 2),  # named as filed
        ]
        assert _partners(s, "F2") == _partners(s, "F1")
    before = snapshot(store)
    with store.write() as s:  # nothing left to link; the same filing again changes nothing
        again = import_institutions(s, [inst("H1"), inst("X9")])
        same = import_filings(s, [Filing("F1", 2025, True, filed)])
    assert (again.linked, again.changed, same.unchanged) == (0, False, 1)
    assert snapshot(store) == before


def test_run_never_proposes_a_filed_partner_imported_after_the_filing(store):
    """The planner reads the linked partner: F1's own partner H1 is not proposed to it."""
    f1 = dataclasses.replace(fac("F1", covered=1, has_partner=True), extra={"partner_ids": "H1"})
    with store.write() as s:
        import_simple(s, [f1], [], 2025, D1)
    with store.write() as s:
        import_simple(s, [], [inst("H1", capacity=2)], 2025, D1)
    report = run_plan(store, "39", warm_start=False)
    assert [(p.facility_id, p.institution_id) for p in report.result.proposals] == []


def test_declarations_supersede_with_history(store):
    with store.write() as s:
        import_institutions(s, [inst("H1")])
        import_facilities(s, [fac("F1")])
        import_declarations(s, [Declaration("H1", D1, 3)])
    with store.write() as s:
        same = import_declarations(s, [Declaration("H1", D1 + dt.timedelta(days=30), 3)])
        newer = import_declarations(s, [Declaration("H1", dt.date(2025, 10, 1), 1, willing=True)])
    assert not same.changed
    assert newer.inserted == 1 and newer.superseded == 1
    with store.read() as s:
        rows = s.scalars(select(DeclarationRow).order_by(DeclarationRow.valid_from)).all()
        assert [(r.capacity, r.valid_to) for r in rows] == [(3, dt.date(2025, 9, 30)), (1, None)]
        assert load_state(s, "39", on=dt.date(2025, 6, 1)).instance.institutions[0].capacity == 3
        assert load_state(s, "39", on=dt.date(2025, 11, 1)).instance.institutions[0].capacity == 1


def test_unwilling_institution_has_no_capacity(store):
    with store.write() as s:
        import_institutions(s, [inst("H1")])
        import_declarations(s, [Declaration("H1", D1, 5, willing=False)])
    with store.read() as s:
        assert (
            load_state(s, "39", on=D1).instance.institutions == ()
        )  # no facilities: nothing loaded
    with store.write() as s:
        import_facilities(s, [fac("F1")])
    with store.read() as s:
        assert load_state(s, "39", on=D1).instance.institutions[0].capacity == 0


def test_failing_import_leaves_the_store_unchanged(store):
    facs, insts = small()
    with store.write() as s:
        import_simple(s, facs, insts, 2025, D1)
    before = snapshot(store)
    with pytest.raises(InputError, match="施設一覧にありません"):
        with store.write() as s:
            import_facilities(
                s, [fac("F9"), fac("F1", dlat=0.05)]
            )  # written, then the filing fails
            import_filings(s, [Filing("F9", 2025, True), Filing("NOPE", 2025, False)])
    assert snapshot(store) == before
    # a constraint of the database itself failing half-way
    with pytest.raises(IntegrityError):
        with store.write() as s:
            import_institutions(s, [inst("H7"), inst("H8", kind="薬局")])  # type: ignore[arg-type]
    assert snapshot(store) == before


def test_unknown_kind_and_duplicates_are_refused(store):
    with pytest.raises(InputError, match="種別が不明"):
        with store.write() as s:
            import_facilities(s, [fac("F1", kind="xyz")])
    with pytest.raises(InputError, match="重複"):
        with store.write() as s:
            import_facilities(s, [fac("F1"), fac("F1")])


def test_fiscal_year():
    assert fiscal_year(dt.date(2026, 3, 31)) == 2025
    assert fiscal_year(dt.date(2026, 4, 1)) == 2026


def test_sample_region_round_trip_gives_the_same_optimum(store):
    facs = load_facilities(SAMPLE / "facilities.csv").items
    insts = load_institutions(SAMPLE / "institutions.csv").items
    with store.write() as s:
        import_simple(s, facs, insts, 2025, D1)
    with store.read() as s:
        state = load_state(s, "39", on=D1)
    direct = Instance.of(facs, insts)
    assert [f.facility_id for f in state.instance.facilities] == [
        f.facility_id for f in direct.facilities
    ]
    assert [(f.covered, f.status) for f in state.instance.facilities] == [
        (f.covered, f.status) for f in direct.facilities
    ]
    assert [(i.institution_id, i.offers, i.capacity) for i in state.instance.institutions] == [
        (i.institution_id, i.offers, i.capacity) for i in direct.institutions
    ]
    expected = match(direct).objective
    report = run_plan(store, "39", on=D1, actor="テスト")
    with store.read() as s:
        n = s.scalar(select(func.count()).select_from(FilingRow))
    assert report.result.objective == expected
    assert n == sum(not (f.covered == 0 and f.has_partner is None) for f in facs)
