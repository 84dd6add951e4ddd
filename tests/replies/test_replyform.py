"""The reply form: printed with its link block, the Excel form (locked but for the answers,
lists, hidden id and checksum) read back, forged and oversized files refused, and returned
forms imported in bulk — each file all or nothing, nothing applied twice."""

from __future__ import annotations

import io
import zipfile

import pytest
from reply_support import KEY, Region, filled, planned_region
from store_fixtures import snapshot

from matcher._errors import InputError
from matcher.reports.replyform import (
    META_SHEET,
    SHEET,
    form_html,
    form_workbook,
    read_form,
    reply_block,
)
from matcher.sources.limits import ArchiveLimits
from matcher.store.db import Store
from matcher.store.models import ProposalRow
from matcher.store.replies import LetterAnswer, RowAnswer, letter_view, record_answer
from matcher.store.reply_imports import import_returned_forms

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _form(
    store: Store,
    region: Region,
    kind: str = "institution",
    rid: str = "C1",
) -> tuple[int, bytes]:
    letter_id = region.link(kind, rid).letter_id
    with store.read() as s:
        return letter_id, form_workbook(letter_view(s, letter_id), KEY)


def _status(store: Store, pid: int) -> str:
    with store.read() as s:
        p = s.get(ProposalRow, pid)
        assert p is not None
        return p.status


def test_the_printed_form_carries_the_link_block_and_every_row(store: Store) -> None:
    region = planned_region(store)
    link = region.link("institution", "C1")
    with store.read() as s:
        letter = letter_view(s, link.letter_id)
    url = "https://kyoryoku.example.lg.jp" + link.path()
    html = form_html(letter, url)
    assert url in html and html.count("<svg") == 1 and 'class="qr"' in html
    assert "施設F1" in html and "施設F2" in html and letter.code in html
    assert "受入可" in html and "条件付き" in html
    assert "<script" not in html
    block = reply_block(url, letter.deadline, "facility")
    assert "<svg" in block and "貴施設専用" in block and url in block
    assert url not in form_html(letter)  # without a link: no QR code
    assert "<svg" not in form_html(letter)


def test_only_the_answer_cells_are_open_and_the_id_is_hidden(store: Store) -> None:
    from openpyxl import load_workbook

    region = planned_region(store)
    letter_id, data = _form(store, region)
    wb = load_workbook(io.BytesIO(data))
    ws, meta = wb[SHEET], wb[META_SHEET]
    assert ws.protection.sheet and wb.security.lockStructure
    assert meta.sheet_state == "veryHidden"
    values = {str(r[0].value): r[1].value for r in meta.iter_rows()}
    assert values["letter_id"] == letter_id and values["rows"] == "1,2"
    assert len(values["checksum"]) == 64
    unlocked = {c.coordinate for row in ws.iter_rows() for c in row if not c.protection.locked}
    assert {"G8", "H8", "I8", "G9", "H9", "I9"} <= unlocked
    assert not {"A8", "B8", "E8", "A9"} & unlocked
    lists = [dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert '"受入可,不可,条件付き"' in lists and '"はい,いいえ"' in lists
    assert ws["A8"].value == 1 and ws["B8"].value == "施設F1"


def test_a_filled_form_reads_back_as_its_answer(store: Store) -> None:
    region = planned_region(store)
    letter_id, data = _form(store, region)
    back = read_form(
        filled(data, {"G8": "受入可", "I8": "2026/4/1", "G9": "条件付き", "H9": "週1回まで"}),
        "返送.xlsx",
        KEY,
    )
    assert back.letter_id == letter_id and back.kind == "institution"
    rows = [(r.proposal_id, r.answer, r.reason, str(r.from_date)) for r in back.answer.rows]
    assert rows == [(1, "accept", "", "2026-04-01"), (2, "conditional", "週1回まで", "None")]


def test_a_facility_form_reads_partner_changes(store: Store) -> None:
    region = planned_region(store)
    _, data = _form(store, region, "facility", "F1")
    back = read_form(
        filled(data, {"G8": "希望しない", "B15": "山田医院", "C15": "追加", "D15": "はい"}),
        "f.xlsx",
        KEY,
    )
    assert [(r.answer) for r in back.answer.rows] == ["decline"]
    assert [(c.name, c.change, c.covers) for c in back.answer.partner_changes] == [
        ("山田医院", "add", 1)
    ]


def test_forged_and_foreign_files_are_refused(store: Store) -> None:
    from openpyxl import load_workbook

    region = planned_region(store)
    _, data = _form(store, region)
    # the hidden id pointed at another letter's rows: the checksum no longer matches
    wb = load_workbook(io.BytesIO(data))
    wb[META_SHEET]["B3"] = region.link("institution", "H1").letter_id
    forged = io.BytesIO()
    wb.save(forged)
    with pytest.raises(InputError, match="識別情報が一致しません"):
        read_form(forged.getvalue(), "forged.xlsx", KEY)
    with pytest.raises(InputError, match="識別情報が一致しません"):
        read_form(data, "other-key.xlsx", b"another service's key")
    # rows moved: the visible key column no longer matches the hidden rows
    with pytest.raises(InputError, match="整理番号が違います"):
        read_form(filled(data, {"A8": 2, "A9": 1}), "moved.xlsx", KEY)
    with pytest.raises(InputError, match="いずれかを選んで"):
        read_form(filled(data, {"G8": "たぶん"}), "choice.xlsx", KEY)
    # a formula is never evaluated: without a cached value the cell is blank (not answered)
    assert read_form(filled(data, {"G8": '="受入"&"可"'}), "formula.xlsx", KEY).answer.rows == ()
    with pytest.raises(InputError, match="日付として読めません"):
        read_form(filled(data, {"G8": "受入可", "I8": "来月"}), "date.xlsx", KEY)
    with pytest.raises(InputError, match="回答票としては大きすぎます"):
        read_form(data + b"\0" * (3 * 1024 * 1024), "big.xlsx", KEY)
    with pytest.raises(InputError, match=r"Excel ファイル \(.xlsx\) ではありません"):
        read_form(b"%PDF-1.4 hello", "letter.pdf", KEY)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", b"\0" * (30 * 1024 * 1024))
    with pytest.raises(InputError, match="展開後の大きさが上限を超えます"):
        read_form(bomb.getvalue(), "bomb.xlsx", KEY)
    with pytest.raises(InputError, match="このサービスの回答票ではありません"):
        from openpyxl import Workbook

        plain = io.BytesIO()
        Workbook().save(plain)
        read_form(plain.getvalue(), "plain.xlsx", KEY)


def test_returned_forms_import_file_by_file_all_or_nothing(store: Store) -> None:
    region = planned_region(store)
    _, c1 = _form(store, region, "institution", "C1")
    _, h1 = _form(store, region, "institution", "H1")
    good = filled(h1, {"G8": "受入可"})
    bad = filled(c1, {"G8": "受入可", "G9": "条件付き"})  # the condition's text is missing
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("返送/H1.xlsx", good)
        z.writestr("返送/C1.xlsx", bad)
        z.writestr("返送/メモ.pdf", b"%PDF")
    with store.write() as s:
        report = import_returned_forms(s, [("回答.zip", archive.getvalue())], KEY, "coord")
    outcomes = {f.file_name: f.outcome for f in report.files}
    assert outcomes["回答.zip/返送/H1.xlsx"] == "applied"
    assert outcomes["回答.zip/返送/C1.xlsx"] == "rejected"
    (refused,) = [f for f in report.files if f.file_name.endswith("C1.xlsx")]
    assert "条件を書いてください" in refused.message
    assert any("9 行目" in i.message for i in refused.items)
    assert _status(store, 3) == "agreed"
    # the bad file's valid row was not applied either (打診中: as issuing left it)
    assert _status(store, 1) == "contacted"
    # the same ZIP again applies nothing; the fixed file alone then applies
    before = snapshot(store)
    with store.write() as s:
        again = import_returned_forms(s, [("回答.zip", archive.getvalue())], KEY, "coord")
    assert {f.file_name: f.outcome for f in again.files}["回答.zip/返送/H1.xlsx"] == "duplicate"
    for table in ("proposals", "proposal_history", "declarations"):
        assert snapshot(store)[table] == before[table]
    fixed = filled(bad, {"H9": "夜間は電話相談のみ"})
    with store.write() as s:
        report = import_returned_forms(s, [("C1.xlsx", fixed)], KEY, "coord")
    assert [f.outcome for f in report.files] == ["applied"]
    assert (_status(store, 1), _status(store, 2)) == ("agreed", "contacted")


def test_a_resaved_copy_of_the_same_answers_applies_nothing(store: Store) -> None:
    region = planned_region(store)
    _, h1 = _form(store, region, "institution", "H1")
    first = filled(h1, {"G8": "不可", "H8": "満床"})
    copy = filled(first, {"H20": None})  # saved again: other bytes, same answers
    assert copy != first
    with store.write() as s:
        import_returned_forms(s, [("a.xlsx", first)], KEY, "coord")
    with store.write() as s:
        report = import_returned_forms(s, [("b.xlsx", copy)], KEY, "coord")
    assert {i.outcome for f in report.files for i in f.items} == {"duplicate"}


def test_forms_of_letters_outside_the_scope_and_oversized_uploads_are_refused(store: Store) -> None:
    region = planned_region(store)
    _, h1 = _form(store, region, "institution", "H1")
    with store.write() as s:
        report = import_returned_forms(
            s, [("h1.xlsx", filled(h1, {"G8": "受入可"}))], KEY, "coord", visible=lambda _: False
        )
    assert [(f.outcome, f.message) for f in report.files] == [
        ("rejected", "担当地域の回答票ではありません")
    ]
    tiny = ArchiveLimits(max_total_bytes=1000)
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.xlsx", h1)
    with store.write() as s:
        report = import_returned_forms(s, [("many.zip", many.getvalue())], KEY, "c", limits=tiny)
    assert report.files[0].outcome == "rejected"
    assert "上限" in report.files[0].message
    assert _status(store, 3) == "contacted"  # as issuing left it


def test_a_form_filled_again_shows_the_previous_answer(store: Store) -> None:
    region = planned_region(store)
    letter_id = region.link("institution", "C1").letter_id
    with store.write() as s:
        record_answer(
            s,
            letter_id,
            LetterAnswer((RowAnswer(1, "conditional", "週1回"),), person="高橋"),
            "link",
            "x",
        )
    with store.read() as s:
        from matcher.store.replies import latest_answer

        data = form_workbook(letter_view(s, letter_id), KEY, latest_answer(s, letter_id))
    back = read_form(data, "again.xlsx", KEY)
    assert [(r.answer, r.reason) for r in back.answer.rows] == [("conditional", "週1回")]
    assert back.answer.person == "高橋"
