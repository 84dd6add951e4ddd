"""The reply loop: a run's letters and their one-time links, a letter's page, answers typed by a
coordinator, held answers, returned Excel forms, the rounds and the declines that wait for a
re-plan — and the recipient's side of a link (its letter, its answer, the form's fields).

Coordinator actions take the acting user (``Actor``): a run's or a letter's area must lie in
the scope (else not found), changes need a writing role. The recipient's actions take nothing
but the letter a live token opened (``open_link``); how a token is throttled and a form
protected is the web's (``api.security.public``). The store does the work
(``matcher.store.replies``, ``reply_imports``); the forms are ``matcher.reports.replyform``'s.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from .._errors import InputError, RowIssue
from ..params import MatchParams
from ..reports.replyform import form_html, form_workbook
from ..sources.limits import ArchiveLimits
from ..store.areas import get_visible_area, visible_areas
from ..store.errors import NotFoundError
from ..store.models import AreaRow, RunRow
from ..store.replies import ANSWER_CODES as ANSWER_CODES
from ..store.replies import ANSWER_LABELS_JA as ANSWER_LABELS_JA
from ..store.replies import CHANNEL_LABELS_JA as CHANNEL_LABELS_JA
from ..store.replies import MAX_PARTNER_CHANGES as MAX_PARTNER_CHANGES
from ..store.replies import OUTCOME_LABELS_JA as OUTCOME_LABELS_JA
from ..store.replies import PARTNER_CHANGES_JA as PARTNER_CHANGES_JA
from ..store.replies import RECIPIENT_LABELS_JA as RECIPIENT_LABELS_JA
from ..store.replies import AnswerResult as AnswerResult
from ..store.replies import DeclineView as DeclineView
from ..store.replies import HeldItem as HeldItem
from ..store.replies import ItemResult as ItemResult
from ..store.replies import LetterAnswer as LetterAnswer
from ..store.replies import LetterLocked as LetterLocked
from ..store.replies import LetterSummary as LetterSummary
from ..store.replies import LetterView as LetterView
from ..store.replies import LinkRefused as LinkRefused
from ..store.replies import PartnerChange as PartnerChange
from ..store.replies import RoundView as RoundView
from ..store.replies import RowAnswer as RowAnswer
from ..store.replies import (
    batch_results,
    check_answer,
    declines_to_replan,
    held_items,
    issue_links,
    latest_answer,
    letter_answers,
    letter_for_token,
    letter_run_area,
    letter_summaries,
    letter_view,
    letters_of_areas,
    record_answer,
    reissue_link,
    resolve_item,
    revoke_links,
    round_of,
    rounds,
    set_locked,
    today_jst,
)
from ..store.reply_imports import ImportReport, import_returned_forms
from ..store.runs import get_run
from ..vocab import CAPABILITIES, ProposalStatus
from ..wareki import today as today_jp
from .actor import Actor
from .runs import run_area
from .unit import UnitOfWork

DEFAULT_DAYS = 14  # the issue form's default reply deadline, from today
FOREIGN_ROW = "この回答票にない行です"  # ``check_answer``'s issue for a row of another letter
LIVE = frozenset({ProposalStatus.PROPOSED.value, ProposalStatus.CONTACTED.value})


@dataclass(frozen=True)
class Download:
    """A file to hand out: its bytes, its name, its media type."""

    data: bytes
    name: str
    media: str


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = "text/html; charset=utf-8"


def _file_name(text: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", text)[:60] or "letter"


def default_deadline(letter: LetterView | None = None) -> dt.date:
    """The deadline a form offers: the letter's, else ``DEFAULT_DAYS`` from today."""
    if letter is not None and letter.deadline is not None:
        return letter.deadline
    return today_jst() + dt.timedelta(days=DEFAULT_DAYS)


# --- scope ------------------------------------------------------------------------------------


def _visible_run(s: Session, actor: Actor, run_id: int) -> tuple[RunRow, AreaRow]:
    """The run and its area, if the area lies in the actor's scope (else not found)."""
    try:
        run = get_run(s, run_id)
    except NotFoundError:
        raise NotFoundError(f"計算 {run_id} は見つかりません") from None
    return run, run_area(s, actor, run, overlapping=False)


def _visible_letter(s: Session, actor: Actor, letter_id: int) -> LetterView:
    try:
        get_visible_area(s, actor.scope, letter_run_area(s, letter_id))
    except NotFoundError:
        raise NotFoundError(f"回答票 L{letter_id} は見つかりません") from None
    return letter_view(s, letter_id)


def _visible_letter_ids(s: Session, actor: Actor) -> list[int]:
    return letters_of_areas(s, [a.id for a in visible_areas(s, actor.scope)])


# --- a run's letters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunLetters:
    """A run's letters and its round."""

    run_id: int
    letters: tuple[LetterSummary, ...]
    round: RoundView
    default_deadline: dt.date


def run_letters(uow: UnitOfWork, actor: Actor, run_id: int) -> RunLetters:
    with uow.read() as s:
        run, area = _visible_run(s, actor, run_id)
        letters = tuple(letter_summaries(s, run.id))
    return RunLetters(
        run.id, letters, round_of(run.id, area.code, area.name, letters), default_deadline()
    )


def issue_forms(
    uow: UnitOfWork, actor: Actor, run_id: int, deadline: dt.date, base_url: str, key: bytes
) -> Download:
    """Links for every letter of the run without a live one, and the ZIP to print and send: per
    letter the printable form with its link and QR code and the Excel form, and ``links.csv`` —
    the only copy of the tokens (``base_url``: the address recipients open)."""
    actor.require_writer()
    with uow.write() as s:
        _visible_run(s, actor, run_id)
        issued = issue_links(s, run_id, deadline, actor.username)
    out = io.BytesIO()
    listing = io.StringIO()
    w = csv.writer(listing)
    w.writerow(["回答票番号", "宛先の種類", "ID", "名称", "回答用アドレス", "回答期限"])
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z, uow.read() as s:
        for link in issued:
            letter = letter_view(s, link.letter_id)
            url = base_url + link.path()
            folder = "医療機関" if link.kind == "institution" else "施設"
            stem = f"{folder}/{letter.code}_{_file_name(link.recipient_name)}"
            z.writestr(f"回答票/{stem}.html", form_html(letter, url, today_jst()))
            z.writestr(
                f"回答票/{stem}.xlsx", form_workbook(letter, key, latest_answer(s, letter.id))
            )
            w.writerow(
                [
                    letter.code,
                    RECIPIENT_LABELS_JA[link.kind],
                    link.recipient_id,
                    link.recipient_name,
                    url,
                    link.deadline.isoformat(),
                ]
            )
        z.writestr("links.csv", "\ufeff" + listing.getvalue())
    name = f"回答票_計算{run_id}_{today_jp():%Y%m%d}.zip"
    return Download(out.getvalue(), name, "application/zip")


# --- one letter --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplanView:
    """Declines an area's latest run has not planned around yet, and the run whose parameters
    a re-plan's preview starts from (the coordinator may send the next request the same day)."""

    area_code: str
    area_name: str
    run_id: int
    mode: str
    params: MatchParams
    declines: tuple[DeclineView, ...]


def _replans(declines: Iterable[DeclineView]) -> tuple[ReplanView, ...]:
    by_area: dict[str, list[DeclineView]] = {}
    for d in declines:
        by_area.setdefault(d.area_code, []).append(d)
    out = []
    for code, items in sorted(by_area.items()):
        last = max(items, key=lambda d: d.run_id)
        out.append(
            ReplanView(
                code,
                last.area_name,
                last.run_id,
                last.mode,
                MatchParams.from_dict(last.params),
                tuple(items),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class LetterPage:
    """A letter, its answers, what waits for the coordinator, and the typed answer's form."""

    letter: LetterView
    answers: tuple[AnswerResult, ...]
    held: tuple[HeldItem, ...]
    values: dict[str, str]
    default_deadline: dt.date
    replans: tuple[ReplanView, ...]


def letter_page(uow: UnitOfWork, actor: Actor, letter_id: int) -> LetterPage:
    with uow.read() as s:
        letter = _visible_letter(s, actor, letter_id)
        answers = tuple(letter_answers(s, letter))
        held = tuple(held_items(s, [letter_id]))
        before = latest_answer(s, letter_id)
        declines = declines_to_replan(s, [letter_id])
    return LetterPage(
        letter,
        answers,
        held,
        form_values(letter, before),
        default_deadline(letter),
        _replans(declines),
    )


def letter_workbook(uow: UnitOfWork, actor: Actor, letter_id: int, key: bytes) -> Download:
    """The letter's Excel form, filled with its last answer."""
    with uow.read() as s:
        letter = _visible_letter(s, actor, letter_id)
        data = form_workbook(letter, key, latest_answer(s, letter_id))
    return Download(data, f"回答票_{letter.code}_{_file_name(letter.recipient_name)}.xlsx", XLSX)


def letter_form(uow: UnitOfWork, actor: Actor, letter_id: int) -> Download:
    """The printable form without a link (the link exists only when it is issued)."""
    with uow.read() as s:
        letter = _visible_letter(s, actor, letter_id)
    name = f"回答票_{letter.code}_{_file_name(letter.recipient_name)}.html"
    return Download(form_html(letter, "", today_jst()).encode(), name, HTML)


def reissue(
    uow: UnitOfWork, actor: Actor, letter_id: int, deadline: dt.date, base_url: str
) -> Download:
    """A new link for one letter (the earlier ones stop working): its printable form with the
    new QR code."""
    actor.require_writer()
    with uow.write() as s:
        _visible_letter(s, actor, letter_id)
        link = reissue_link(s, letter_id, actor.username, deadline)
    with uow.read() as s:
        letter = letter_view(s, letter_id)
    html = form_html(letter, base_url + link.path(), today_jst())
    name = f"回答票_{letter.code}_{_file_name(letter.recipient_name)}_リンク付き.html"
    return Download(html.encode(), name, HTML)


def _letter_action(
    uow: UnitOfWork, actor: Actor, letter_id: int, act: Callable[[Session], object]
) -> None:
    actor.require_writer()
    with uow.write() as s:
        _visible_letter(s, actor, letter_id)
        act(s)


def revoke(uow: UnitOfWork, actor: Actor, letter_id: int) -> None:
    """End the letter's live links."""
    _letter_action(uow, actor, letter_id, lambda s: revoke_links(s, letter_id, actor.username))


def lock(uow: UnitOfWork, actor: Actor, letter_id: int, locked: bool) -> None:
    """Close (or reopen) the letter's answers."""
    _letter_action(
        uow, actor, letter_id, lambda s: set_locked(s, letter_id, locked, actor.username)
    )


def typed_answer(
    uow: UnitOfWork, actor: Actor, letter_id: int, fields: Mapping[str, str]
) -> AnswerResult:
    """An answer the coordinator types in (received by phone, FAX or on paper), from the
    form's fields (``answer_from_fields``)."""
    actor.require_writer()
    with uow.write() as s:
        letter = _visible_letter(s, actor, letter_id)
        return record_answer(
            s, letter_id, answer_from_fields(letter, fields), "coordinator", actor.username
        )


# --- held answers, returned forms --------------------------------------------------------------


def held(uow: UnitOfWork, actor: Actor) -> tuple[HeldItem, ...]:
    """The answer parts waiting for the coordinator, of the letters the actor sees."""
    with uow.read() as s:
        return tuple(held_items(s, _visible_letter_ids(s, actor)))


def resolve(
    uow: UnitOfWork,
    actor: Actor,
    item_id: int,
    action: Literal["apply", "dismiss"],
    note: str = "",
) -> ItemResult:
    """The coordinator's decision on a held part (``store.replies.resolve_item``)."""
    actor.require_writer()
    with uow.write() as s:
        if item_id not in {h.id for h in held_items(s, _visible_letter_ids(s, actor))}:
            raise NotFoundError(f"確認待ちの回答 {item_id} は見つかりません")
        return resolve_item(s, item_id, action, actor.username, note)


@dataclass(frozen=True)
class QueuePage:
    """The held answers, the results of one upload, and the declines waiting for a re-plan."""

    held: tuple[HeldItem, ...]
    results: tuple[AnswerResult, ...]
    replans: tuple[ReplanView, ...]


def queue_page(uow: UnitOfWork, actor: Actor, batch: str = "") -> QueuePage:
    with uow.read() as s:
        ids = _visible_letter_ids(s, actor)
        visible = set(ids)
        results = tuple(
            r
            for r in (batch_results(s, batch) if batch else [])
            if r.letter_id is None or r.letter_id in visible
        )
        return QueuePage(tuple(held_items(s, ids)), results, _replans(declines_to_replan(s, ids)))


@dataclass(frozen=True)
class ReplyImport:
    """One upload of returned forms: its batch, each file's result, counts by outcome."""

    batch: str
    files: tuple[AnswerResult, ...]
    counts: dict[str, int]


def import_forms(
    uow: UnitOfWork,
    actor: Actor,
    uploads: Sequence[tuple[str, bytes]],
    key: bytes,
    limits: ArchiveLimits,
) -> ReplyImport:
    """Returned Excel forms (files or ZIPs), each all or nothing; letters outside the actor's
    areas are refused as not theirs."""
    actor.require_writer()
    with uow.write() as s:
        visible = set(_visible_letter_ids(s, actor))
        report: ImportReport = import_returned_forms(
            s, uploads, key, actor.username, limits=limits, visible=visible.__contains__
        )
    return ReplyImport(report.batch, report.files, {o: report.count(o) for o in OUTCOME_LABELS_JA})


def letters_of_run(uow: UnitOfWork, actor: Actor, run_id: int) -> tuple[LetterSummary, ...]:
    """The run's letters (JSON)."""
    return run_letters(uow, actor, run_id).letters


# --- rounds (the dashboard) --------------------------------------------------------------------


@dataclass(frozen=True)
class Rounds:
    """The latest rounds of the actor's areas and the declines waiting for a re-plan."""

    rounds: tuple[RoundView, ...]
    replans: tuple[ReplanView, ...]


def rounds_of(uow: UnitOfWork, actor: Actor) -> Rounds:
    with uow.read() as s:
        areas = [a.id for a in visible_areas(s, actor.scope)]
        return Rounds(
            tuple(rounds(s, areas)),
            _replans(declines_to_replan(s, letters_of_areas(s, areas))),
        )


# --- the recipient's side ----------------------------------------------------------------------


def open_link(uow: UnitOfWork, token: str) -> int:
    """The letter a live token opens (``LinkRefused``: unknown, expired, revoked)."""
    with uow.read() as s:
        return letter_for_token(s, token)


@dataclass(frozen=True)
class PublicLetter:
    """What a recipient sees of their letter: its rows and their last answer."""

    letter: LetterView
    answer: LetterAnswer | None
    values: dict[str, str]
    summary: tuple[tuple[str, str], ...]
    last: AnswerResult | None  # the last answer through the link


def public_letter(uow: UnitOfWork, letter_id: int) -> PublicLetter:
    with uow.read() as s:
        letter = letter_view(s, letter_id)
        before = latest_answer(s, letter_id)
        last = next((a for a in letter_answers(s, letter) if a.channel == "link"), None)
    return PublicLetter(
        letter,
        before,
        form_values(letter, before),
        tuple(summary(letter, before)) if before else (),
        last,
    )


def answer_by_link(uow: UnitOfWork, letter_id: int, answer: LetterAnswer) -> AnswerResult:
    """The recipient's answer through their link (checked again, ``LetterLocked`` when the
    coordinator closed the letter)."""
    with uow.write() as s:
        return record_answer(s, letter_id, answer, "link", CHANNEL_LABELS_JA["link"])


# --- the form's fields -------------------------------------------------------------------------


def form_values(letter: LetterView, answer: LetterAnswer | None) -> dict[str, str]:
    """An answer as the form's field values (to correct it); none: the institution's data now."""
    v: dict[str, str] = {}
    if answer is None:
        if letter.kind == "institution":
            v["capacity"] = "" if letter.capacity is None else str(letter.capacity)
            v["infection"] = "yes" if letter.infection_agreement else ""
            for c in CAPABILITIES:
                v[f"offer_{c.code}"] = "on" if letter.offers & c else ""
        return v
    for r in answer.rows:
        v[f"a_{r.proposal_id}"] = r.answer
        v[f"reason_{r.proposal_id}"] = r.reason
        v[f"from_{r.proposal_id}"] = r.from_date.isoformat() if r.from_date else ""
    if letter.kind == "institution":
        v["capacity"] = "" if answer.capacity is None else str(answer.capacity)
        offers = letter.offers if answer.offers is None else answer.offers
        for c in CAPABILITIES:
            v[f"offer_{c.code}"] = "on" if offers & c else ""
        inf = answer.infection_agreement
        v["infection"] = "" if inf is None else ("yes" if inf else "no")
    v |= partner_change_values(answer.partner_changes)
    v |= {"person": answer.person, "contact": answer.contact, "note": answer.note}
    return v


def field_text(fields: Mapping[str, Any], name: str) -> str:
    """A form field's text (line ends unified, stripped; "" when absent or a file)."""
    value = fields.get(name)
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


def partner_changes_from_fields(fields: Mapping[str, Any]) -> tuple[PartnerChange, ...]:
    """The partner changes of a form (``pc_name_k``, ``pc_change_k``, ``pc_<capability>_k``)."""
    changes = []
    for k in range(MAX_PARTNER_CHANGES):
        name, change = field_text(fields, f"pc_name_{k}"), field_text(fields, f"pc_change_{k}")
        if not name and not change:
            continue
        covers = sum(int(c) for c in CAPABILITIES if field_text(fields, f"pc_{c.code}_{k}"))
        changes.append(PartnerChange(name, change, covers))
    return tuple(changes)


def partner_change_values(changes: Sequence[PartnerChange]) -> dict[str, str]:
    """Partner changes as the form's field values."""
    v: dict[str, str] = {}
    for k, pc in enumerate(changes):
        v[f"pc_name_{k}"] = pc.name
        v[f"pc_change_{k}"] = pc.change
        for c in CAPABILITIES:
            v[f"pc_{c.code}_{k}"] = "on" if pc.covers & c else ""
    return v


def answer_from_fields(letter: LetterView, fields: Mapping[str, Any]) -> LetterAnswer:
    """The answer a reply form sent (``InputError`` for what cannot be read: a row of another
    letter or an unknown choice is left to ``check_answer``, which refuses the whole answer)."""
    issues: list[RowIssue] = []
    rows = []
    for name in fields:
        m = re.fullmatch(r"a_(\d{1,10})", str(name))
        if not m:
            continue
        pid, choice = int(m.group(1)), field_text(fields, name)
        if not choice:
            continue
        when = field_text(fields, f"from_{pid}")
        from_date = None
        if when:
            try:
                from_date = dt.date.fromisoformat(when)
            except ValueError:
                issues.append(RowIssue("回答", None, "受入開始日", when[:20], "日付が読めません"))
        rows.append(RowAnswer(pid, choice, field_text(fields, f"reason_{pid}"), from_date))
    capacity = offers = infection = None
    if letter.kind == "institution":
        text = field_text(fields, "capacity")
        if text:
            if text.isdigit() and len(text) <= 4:
                capacity = int(text)
            else:
                issues.append(
                    RowIssue("回答", None, "受入可能な施設数", text[:20], "整数で書いてください")
                )
        if field_text(fields, "offers_shown"):
            offers = sum(int(c) for c in CAPABILITIES if field_text(fields, f"offer_{c.code}"))
        infection = {"yes": True, "no": False}.get(field_text(fields, "infection"))
    if issues:
        raise InputError(issues)
    return LetterAnswer(
        rows=tuple(sorted(rows, key=lambda r: r.proposal_id)),
        capacity=capacity,
        offers=offers,
        infection_agreement=infection,
        partner_changes=partner_changes_from_fields(fields),
        person=field_text(fields, "person"),
        contact=field_text(fields, "contact"),
        note=field_text(fields, "note"),
    )


def checked_answer(letter: LetterView, fields: Mapping[str, Any]) -> LetterAnswer:
    """The answer of ``fields``, checked against the letter as a whole (``InputError``)."""
    answer = answer_from_fields(letter, fields)
    check_answer(letter, answer)
    return answer


def is_probe(exc: InputError) -> bool:
    """Whether a refused answer named another letter's rows (a probe, not a slip)."""
    return any(i.message == FOREIGN_ROW for i in exc.issues)


def partner_changes_text(changes: Sequence[PartnerChange]) -> list[tuple[str, str]]:
    """Partner changes in plain words (confirmation pages)."""
    out = []
    for pc in changes:
        caps = "".join(c.mark for c in CAPABILITIES if pc.covers & c)
        change = PARTNER_CHANGES_JA.get(pc.change, pc.change)
        out.append(("協力医療機関の変更", f"{pc.name}: {change} {caps}".strip()))
    return out


def summary(letter: LetterView, answer: LetterAnswer) -> list[tuple[str, str]]:
    """The answer in plain words, for the confirmation page."""
    out = []
    for r in answer.rows:
        row = letter.row(r.proposal_id)
        name = (
            str(r.proposal_id)
            if row is None
            else row.facility_name
            if letter.kind == "institution"
            else row.institution_name
        )
        text = letter.answer_label(r.answer)
        if r.reason:
            text += f" (理由・条件: {r.reason})"
        if r.from_date:
            text += f" {r.from_date.year}年{r.from_date.month}月{r.from_date.day}日から"
        out.append((name, text))
    if answer.capacity is not None:
        out.append(("受入可能な施設数", f"{answer.capacity} 施設"))
    if answer.offers is not None:
        marks = "・".join(c.label_ja for c in CAPABILITIES if answer.offers & c)
        out.append(("対応できる要件", marks or "なし"))
    if answer.infection_agreement is not None:
        out.append(("第二種協定指定医療機関", "はい" if answer.infection_agreement else "いいえ"))
    out += partner_changes_text(answer.partner_changes)
    out += contact_text(answer.person, answer.contact, answer.note)
    return out


def contact_text(person: str, contact: str, note: str = "") -> list[tuple[str, str]]:
    """The contact fields given, in plain words."""
    return [
        (label, value)
        for label, value in (("ご担当者", person), ("連絡先", contact), ("備考", note))
        if value
    ]
