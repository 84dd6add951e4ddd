"""The 相談窓口 in the store (SQLite and PostgreSQL): requests checked as a whole, placed by
municipality and seen only within a scope; the queue's lifecycle, version check, notes and
audit; a confirmed partner change written into the facility's filing with the request as its
source — and a reply form's partner changes arriving in the same queue."""

from __future__ import annotations

import datetime as dt

import pytest
from reply_support import planned_region
from store_fixtures import seed_small_region, snapshot

from matcher._errors import InputError
from matcher.store.db import Store
from matcher.store.errors import ConflictError, NotFoundError
from matcher.store.imports import Filing, FilingPartner, import_filings
from matcher.store.intake import (
    IntakeRequest,
    PartnerChange,
    confirm_partners,
    get_request,
    list_requests,
    submit,
    update_request,
)
from matcher.store.models import AuditRow, FacilityRow, FilingRow
from matcher.store.replies import LetterAnswer, record_answer
from matcher.store.state import facility_states
from matcher.vocab import CodeSet

KOCHI = CodeSet.of(["39201"])
MUROTO = CodeSet.of(["39202"])
TODAY = dt.date(2026, 5, 1)  # 年度 2026


def _submit(store: Store, req: IntakeRequest, facility_id: str | None = "F1") -> int:
    with store.write() as s:
        return submit(s, req, "link" if facility_id else "public", "x", facility_id=facility_id).id


def _filing(store: Store, facility_id: str) -> FilingRow:
    with store.read() as s:
        rows = s.query(FilingRow).filter_by(facility_id=facility_id).all()
        latest = max(rows, key=lambda r: r.filing_year)
        latest.partners  # noqa: B018  (loaded before the session ends)
        s.expunge_all()
        return latest


def test_a_request_lands_in_the_queue_of_its_municipality(store: Store) -> None:
    seed_small_region(store)
    known = _submit(store, IntakeRequest("partner_search", "夜間に相談できる先を探しています"))
    public = _submit(
        store,
        IntakeRequest(
            "other",
            "届出の書き方",
            facility_name="みなと荘",
            municipality_code="39202",
            person="田中",
            contact="088-000-0000",
        ),
        facility_id=None,
    )
    with store.read() as s:
        mine = list_requests(s, KOCHI)
        theirs = list_requests(s, MUROTO)
        with pytest.raises(NotFoundError, match="見つかりません"):
            get_request(s, public, KOCHI)
    assert [r.id for r in mine] == [known] and [r.id for r in theirs] == [public]
    (r,) = mine
    assert (r.facility_name, r.municipality_code) == ("施設F1", "392014")
    assert (r.status, r.status_ja, r.channel, r.version) == ("received", "受付", "link", 1)
    assert theirs[0].facility_id is None and theirs[0].facility_name == "みなと荘"


@pytest.mark.parametrize(
    "req, public, message",
    [
        (IntakeRequest("partner_search"), False, "相談の内容か協力医療機関の変更"),
        (IntakeRequest("nonsense", "x"), False, "相談の種類"),
        (IntakeRequest("other", "あ" * 2001), False, "2000 文字以内"),
        (IntakeRequest("other", "bad\x00text"), False, "使えない文字"),
        (IntakeRequest("other", "x", person="p", contact="c"), True, "施設名"),
        (IntakeRequest("other", "x", facility_name="f", person="p", contact="c"), True, "市区町村"),
        (IntakeRequest("other", "x", facility_name="f", municipality_code="39201"), True, "連絡先"),
        (
            IntakeRequest("partners", partner_changes=(PartnerChange("", "add"),)),
            False,
            "医療機関名",
        ),
        (
            IntakeRequest("partners", partner_changes=(PartnerChange("A", "maybe"),)),
            False,
            "「追加」か「終了」",
        ),
        (
            IntakeRequest("partners", partner_changes=(PartnerChange("A", "add"),) * 6),
            False,
            "多すぎます",
        ),
    ],
)
def test_a_wrong_request_is_refused_whole(
    store: Store, req: IntakeRequest, public: bool, message: str
) -> None:
    seed_small_region(store)
    before = snapshot(store)
    with store.write() as s:
        with pytest.raises(InputError, match=message):
            submit(
                s, req, "public" if public else "link", "x", facility_id=None if public else "F1"
            )
    assert snapshot(store) == before


def test_the_queue_moves_with_versions_notes_and_audit(store: Store) -> None:
    seed_small_region(store)
    rid = _submit(store, IntakeRequest("agreement", "協定書のひな形がほしい"))
    with store.write() as s:
        v = update_request(
            s,
            rid,
            1,
            "coord",
            status="in_progress",
            assignee="coord",
            note="電話した",
            due_date=dt.date(2026, 6, 1),
            scope=KOCHI,
        )
    assert (v.status, v.assignee, v.due_date, v.version) == (
        "in_progress",
        "coord",
        dt.date(2026, 6, 1),
        2,
    )
    assert [(n.by, n.text) for n in v.notes] == [("coord", "電話した")]
    with store.write() as s:
        with pytest.raises(ConflictError, match="他の人が先に更新しました"):
            update_request(s, rid, 1, "other", status="done", scope=KOCHI)
        with pytest.raises(NotFoundError):
            update_request(s, rid, 2, "b", status="done", scope=MUROTO)  # not theirs
        with pytest.raises(NotFoundError, match="施設 F9"):
            update_request(s, rid, 2, "coord", facility_id="F9", scope=KOCHI)
    with store.write() as s:
        done = update_request(s, rid, 2, "coord", status="done", scope=KOCHI)
        with pytest.raises(InputError, match="「完了」から「受付」には変更できません"):
            update_request(s, rid, 3, "coord", status="received", scope=KOCHI)
    with store.write() as s:
        reopened = update_request(s, rid, 3, "coord", status="in_progress", scope=KOCHI)
    assert (done.status, reopened.status, reopened.version) == ("done", "in_progress", 4)
    with store.read() as s:
        audit = [(a.action, a.target) for a in s.query(AuditRow).order_by(AuditRow.id)]
    assert ("intake.submit", f"相談 R{rid}") in audit
    assert sum(a == ("intake.update", f"相談 R{rid}") for a in audit) == 3


def test_a_confirmed_change_updates_the_filing_with_its_source(store: Store) -> None:
    seed_small_region(store)
    with store.write() as s:
        import_filings(
            s, [Filing("F1", 2025, True, (FilingPartner("医療機関C1", 3, "C1"),), 0, "届出")]
        )
    rid = _submit(
        store,
        IntakeRequest(
            "partners",
            partner_changes=(PartnerChange("医療機関H2", "add", 4), PartnerChange("C1", "end")),
        ),
    )
    with store.write() as s:
        with pytest.raises(InputError, match="「C1」がない"):  # a name the filing does not have
            confirm_partners(s, rid, 1, [PartnerChange("C1", "end")], "coord", today=TODAY)
    changes = [PartnerChange("医療機関H2", "add", 4, "H2"), PartnerChange("医療機関C1", "end")]
    with store.write() as s:
        view = confirm_partners(s, rid, 1, changes, "coord", today=TODAY, scope=KOCHI)
    assert (view.status, view.filing_year, view.confirmed_by, view.version) == (
        "in_progress",
        2026,
        "coord",
        2,
    )
    filing = _filing(store, "F1")
    assert filing.filing_year == 2026 and filing.source.startswith(f"相談 R{rid} (")
    assert "確認: coord" in filing.source
    assert [(p.partner_name, p.institution_id, p.covers) for p in filing.partners] == [
        ("医療機関H2", "H2", 4)
    ]
    with store.read() as s:
        (state,) = facility_states(s, [s.get(FacilityRow, "F1")])
        assert state.covered_filed == 4 and state.filing_year == 2026
        older = s.query(FilingRow).filter_by(facility_id="F1", filing_year=2025).one()
        assert older.source == "届出"  # the earlier year stays as history
    with store.write() as s:
        with pytest.raises(InputError, match="既に届出に反映"):
            confirm_partners(s, rid, 2, changes, "coord", today=TODAY)
        audit = s.query(AuditRow).filter_by(action="intake.confirm").one()
    assert audit.detail["before"] == ["医療機関C1 (C1) ①②"] and audit.detail["covered"] == 0


def test_a_confirmed_change_keeps_a_partner_filed_under_an_id_not_yet_imported(
    store: Store,
) -> None:
    """The filing named X9, an institution not imported yet (kept by name, with the id it was
    filed under); re-filing through the queue keeps that id, so importing X9 later still links
    it (``imports.link_filed_partners``) — it was dropped to a bare name."""
    from matcher.model import Institution
    from matcher.store.imports import import_institutions

    seed_small_region(store)
    with store.write() as s:
        import_filings(s, [Filing("F1", 2025, True, (FilingPartner("X9", 3, "X9"),), 0, "届出")])
    rid = _submit(
        store,
        IntakeRequest("partners", partner_changes=(PartnerChange("医療機関H2", "add", 4),)),
    )
    with store.write() as s:
        confirm_partners(
            s, rid, 1, [PartnerChange("医療機関H2", "add", 4, "H2")], "coord", today=TODAY
        )
    kept = {p.partner_name: p for p in _filing(store, "F1").partners}
    assert kept["X9"].institution_id is None and kept["X9"].filed_institution_id == "X9"
    with store.write() as s:
        import_institutions(
            s, [Institution("X9", "新病院", "hospital", 33.56, 133.53, offers=7, capacity=2)]
        )
    linked = {p.filed_institution_id: p for p in _filing(store, "F1").partners}
    assert linked["X9"].institution_id == "X9"


def test_ending_a_partner_of_a_union_only_filing_clears_the_union(store: Store) -> None:
    seed_small_region(store)
    with store.write() as s:
        import_filings(
            s, [Filing("F2", 2026, True, (FilingPartner("山田医院", 0),), 3, "simple_csv")]
        )
    rid = _submit(
        store,
        IntakeRequest("partners", partner_changes=(PartnerChange("山田 医院", "end"),)),
        facility_id="F2",
    )
    with store.write() as s:
        view = confirm_partners(
            s, rid, 1, [PartnerChange("山田 医院", "end")], "coord", today=TODAY
        )
    filing = _filing(store, "F2")
    assert (filing.filing_year, filing.covered, filing.has_partner, list(filing.partners)) == (
        2026,
        0,
        False,
        [],
    )
    assert "届出の①②③を空にしました" in view.notes[-1].text
    # the coordinator may say what the union still covers instead
    rid2 = _submit(
        store,
        IntakeRequest("partners", partner_changes=(PartnerChange("X", "add", 1),)),
        facility_id="F2",
    )
    with store.write() as s:
        confirm_partners(s, rid2, 1, [PartnerChange("X", "add", 1)], "c", covered=2, today=TODAY)
    filing = _filing(store, "F2")
    assert (filing.covered, [p.partner_name for p in filing.partners]) == (2, ["X"])


def test_a_public_request_needs_its_facility_before_confirming(store: Store) -> None:
    seed_small_region(store)
    rid = _submit(
        store,
        IntakeRequest(
            "partners",
            partner_changes=(PartnerChange("医療機関H1", "add", 7),),
            facility_name="施設F3",
            municipality_code="392014",
            person="p",
            contact="c",
        ),
        facility_id=None,
    )
    change = [PartnerChange("医療機関H1", "add", 7, "H1")]
    with store.write() as s:
        with pytest.raises(InputError, match="施設が決まっていません"):
            confirm_partners(s, rid, 1, change, "coord", today=TODAY)
    with store.write() as s:
        update_request(s, rid, 1, "coord", facility_id="F3", scope=KOCHI)
    with store.write() as s:
        with pytest.raises(InputError, match="医療機関 ZZ"):
            confirm_partners(s, rid, 2, [PartnerChange("A", "add", 1, "ZZ")], "coord", today=TODAY)
    with store.write() as s:
        confirm_partners(s, rid, 2, change, "coord", today=TODAY, scope=KOCHI)
    assert [p.institution_id for p in _filing(store, "F3").partners] == ["H1"]


def test_a_reply_forms_partner_changes_are_confirmed_in_the_queue(store: Store) -> None:
    region = planned_region(store)
    f2 = region.link("facility", "F2").letter_id
    with store.write() as s:
        record_answer(
            s,
            f2,
            LetterAnswer(partner_changes=(PartnerChange("医療機関C2", "add", 3),)),
            "link",
            "回答リンク",
        )
        (request,) = list_requests(s, KOCHI)
        confirm_partners(
            s, request.id, 1, [PartnerChange("医療機関C2", "add", 3, "C2")], "coord", today=TODAY
        )
    filing = _filing(store, "F2")
    assert filing.source.startswith(f"相談 R{request.id} (回答票、")
    assert [p.institution_id for p in filing.partners] == ["C2"]
