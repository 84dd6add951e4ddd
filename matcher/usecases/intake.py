"""The 相談窓口: a facility's request through its letter's link or the public page, the
coordinator's queue (受付 → 対応中 → 完了, assignee, due date, notes) and the confirmation that
writes a reported change of partners into the facility's filing (``matcher.store.intake``).

The public side takes no actor: a request through a link names the facility of the letter the
live token opened; a public request names its facility in words and one of the municipalities
of the stored areas, which places it in those coordinators' queue. Neither shows anything of
other facilities. The coordinator's side reads and changes only requests of municipalities in
the actor's scope; a request's facility must lie in it too. A coordinator also enters the
requests taken by telephone, in person or by mail (``take``): the channel, who took it and when,
for a facility or a municipality of their scope; they join the same queue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import InputError, RowIssue
from ..progress import municipality_names
from ..store.areas import area_codes, list_areas
from ..store.errors import NotFoundError
from ..store.intake import CHANNEL_LABELS_JA as CHANNEL_LABELS_JA
from ..store.intake import MAX_CONTACT as MAX_CONTACT
from ..store.intake import MAX_MESSAGE as MAX_MESSAGE
from ..store.intake import MAX_NAME as MAX_NAME
from ..store.intake import MAX_PERSON as MAX_PERSON
from ..store.intake import STATUS_LABELS_JA as STATUS_LABELS_JA
from ..store.intake import TAKEN_CHANNELS as TAKEN_CHANNELS
from ..store.intake import TOPIC_LABELS_JA as TOPIC_LABELS_JA
from ..store.intake import TRANSITIONS as TRANSITIONS
from ..store.intake import FilingPreview as FilingPreview
from ..store.intake import IntakeRequest as IntakeRequest
from ..store.intake import IntakeView as IntakeView
from ..store.intake import PartnerChange as PartnerChange
from ..store.intake import (
    check_request,
    confirm_partners,
    facilities_named,
    filing_after,
    get_request,
    institution_suggestions,
    list_requests,
    submit,
    update_request,
)
from ..store.models import FacilityRow
from ..store.replies import letter_view
from ..vocab import CAPABILITIES, code5_of
from ..wareki import JST
from ..wareki import today as today_jp
from .actor import Actor
from .replies import (
    contact_text,
    field_text,
    partner_changes_from_fields,
    partner_changes_text,
)
from .unit import UnitOfWork

# --- the public side ---------------------------------------------------------------------------


def public_municipalities(uow: UnitOfWork) -> tuple[tuple[str, str], ...]:
    """The public page's municipalities: those of the stored areas (a prefecture's: all of its
    municipalities), as (code5, name), by code."""
    with uow.read() as s:
        codes = [area_codes(a) for a in list_areas(s)]
    names = municipality_names()
    out = {m: names.get(m, m) for c in codes for m in c.municipalities}
    prefectures = {p for c in codes for p in c.prefectures}
    out |= {m: n for m, n in names.items() if m[:2] in prefectures}
    return tuple(sorted(out.items()))


def request_from_fields(fields: Mapping[str, Any], public: bool) -> IntakeRequest:
    """The request a 相談窓口 form sent (``topic``, ``message``, the partner changes' fields
    ``pc_…``, ``person``, ``contact``; public: ``facility_name``, ``municipality``)."""
    changes = partner_changes_from_fields(fields)
    topic = field_text(fields, "topic") or ("partners" if changes else "")
    return IntakeRequest(
        topic=topic,
        message=field_text(fields, "message"),
        partner_changes=changes,
        person=field_text(fields, "person"),
        contact=field_text(fields, "contact"),
        facility_name=field_text(fields, "facility_name") if public else "",
        municipality_code=field_text(fields, "municipality") if public else "",
    )


def checked_public(uow: UnitOfWork, req: IntakeRequest) -> IntakeRequest:
    """``req`` if it can go in the queue (``InputError`` with every problem): the store's
    checks, and a municipality the page offered."""
    issues: list[RowIssue] = []
    try:
        check_request(req, public=True)
    except InputError as exc:
        issues += exc.issues
    offered = dict(public_municipalities(uow))
    if req.municipality_code and req.municipality_code not in offered:
        issues.append(RowIssue("相談", None, "市区町村", None, "市区町村を一覧から選んでください"))
    if issues:
        raise InputError(issues)
    return req


def submit_public(uow: UnitOfWork, req: IntakeRequest) -> str:
    """Put a public request in the queue; its number (``R12``), the only thing shown back."""
    req = checked_public(uow, req)
    with uow.write() as s:
        return submit(s, req, "public", "相談窓口のページ").code


def link_facility(uow: UnitOfWork, letter_id: int) -> tuple[str, str, tuple[str, ...]]:
    """The facility of a facility's letter (id, name, its filed partners' names); a request
    letter to an institution has no 相談窓口 (not found)."""
    with uow.read() as s:
        letter = letter_view(s, letter_id)
    if letter.kind != "facility":
        raise NotFoundError("このリンクからは相談を受け付けていません")
    return letter.recipient_id, letter.recipient_name, letter.partners


def checked_by_link(req: IntakeRequest) -> IntakeRequest:
    """``req`` if it can go in the queue (``InputError``)."""
    check_request(req, public=False)
    return req


def submit_by_link(uow: UnitOfWork, letter_id: int, req: IntakeRequest) -> str:
    """Put a facility's request through its letter's link in the queue; its number."""
    facility_id, _, _ = link_facility(uow, letter_id)
    with uow.write() as s:
        view = submit(s, req, "link", "回答リンク", letter_id=letter_id, facility_id=facility_id)
    return view.code


def request_summary(req: IntakeRequest, municipality: str = "") -> list[tuple[str, str]]:
    """A request in plain words, for the confirmation page."""
    out = []
    if req.facility_name:
        out.append(("施設名", req.facility_name))
    if municipality:
        out.append(("市区町村", municipality))
    if req.topic:
        out.append(("相談の種類", TOPIC_LABELS_JA.get(req.topic, req.topic)))
    if req.message:
        out.append(("相談の内容", req.message))
    out += partner_changes_text(req.partner_changes)
    out += contact_text(req.person, req.contact)
    return out


# --- requests a coordinator takes --------------------------------------------------------------


def scope_municipalities(actor: Actor) -> tuple[tuple[str, str], ...]:
    """The municipalities of the actor's scope, as (code5, name), by code: where a request the
    coordinator takes may be placed."""
    return tuple(sorted((m, n) for m, n in municipality_names().items() if actor.scope.contains(m)))


def stored_time(moment: dt.datetime) -> dt.datetime:
    """A time as the store keeps it (naive UTC); a naive ``moment`` is Japan time (JST), as
    the pages show and take every time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def taken_time_from_text(text: str) -> dt.datetime | None:
    """A form's 受付日時 (``2026-12-06T10:30``, JST) as given (naive: ``take`` reads it as
    JST); ``None`` when empty (``InputError`` when it is not a time)."""
    if not text.strip():
        return None
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            [
                RowIssue(
                    "相談", None, "受付日時", text[:20], "日時ではありません (例 2026-12-06 10:30)"
                )
            ]
        ) from None


def take(
    uow: UnitOfWork,
    actor: Actor,
    req: IntakeRequest,
    channel: str,
    taken_by: str,
    taken_at: dt.datetime | None,
    facility_id: str | None = None,
) -> IntakeView:
    """Put a request the coordinator took by telephone, in person or by mail in the queue
    (受付), for a facility of the actor's scope (``facility_id``) or one named with a
    municipality of it; ``taken_at`` as ``stored_time`` reads it. Audited."""
    actor.require_writer()
    if channel not in TAKEN_CHANNELS:
        known = "・".join(f"{c} ({CHANNEL_LABELS_JA[c]})" for c in TAKEN_CHANNELS)
        raise InputError(f"受付の経路「{channel[:20]}」は不明です ({known})")
    at = stored_time(taken_at) if taken_at is not None else None
    with uow.write() as s:
        return submit(
            s,
            req,
            channel,  # one of TAKEN_CHANNELS, checked above
            actor.username,
            facility_id=facility_id or None,
            taken_by=taken_by,
            taken_at=at,
            scope=actor.scope,
        )


# --- the coordinator's queue -------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeQueue:
    """The requests of the actor's municipalities (one status, or all), and how many are in
    each status."""

    status: str
    items: tuple[IntakeView, ...]
    counts: dict[str, int]


def requests(uow: UnitOfWork, actor: Actor, status: str = "") -> tuple[IntakeView, ...]:
    """The requests of the actor's municipalities (of one status), open ones first."""
    if status and status not in STATUS_LABELS_JA:
        raise InputError(f"状態「{status}」は不明です ({'・'.join(STATUS_LABELS_JA)})")
    with uow.read() as s:
        return tuple(list_requests(s, actor.scope, status or None))


def queue(uow: UnitOfWork, actor: Actor, status: str = "") -> IntakeQueue:
    every = requests(uow, actor)
    counts = {k: sum(r.status == k for r in every) for k in STATUS_LABELS_JA}
    return IntakeQueue(status, tuple(r for r in every if r.status == status or not status), counts)


def request(uow: UnitOfWork, actor: Actor, request_id: int) -> IntakeView:
    with uow.read() as s:
        return get_request(s, request_id, actor.scope)


@dataclass(frozen=True)
class IntakePage:
    """A request, and for its partner changes the filing a confirmation would write."""

    request: IntakeView
    next_statuses: tuple[str, ...]
    facility_name: str  # the store's name of the request's facility ("" when none yet)
    suggestions: dict[str, str]  # reported partner name → institution id (one exact match)
    preview: FilingPreview | None
    preview_error: str
    facility_choices: tuple[tuple[str, str], ...]  # public request: facilities of that name


def request_page(uow: UnitOfWork, actor: Actor, request_id: int) -> IntakePage:
    with uow.read() as s:
        view = get_request(s, request_id, actor.scope)
        facility = s.get(FacilityRow, view.facility_id) if view.facility_id else None
        names = [c.name for c in view.partner_changes if c.change == "add"]
        suggestions = institution_suggestions(s, names, code5_of(view.municipality_code)[:2])
        preview, error = None, ""
        changes = _with_suggestions(view, suggestions)
        if facility is not None and changes and view.confirmed_at is None:
            try:
                preview = filing_after(
                    s, facility.facility_id, changes, f"相談 {view.code}", today_jp()
                )
            except InputError as exc:
                error = "; ".join(i.message for i in exc.issues)
        choices: tuple[tuple[str, str], ...] = ()
        if facility is None and view.facility_name:
            choices = tuple(facilities_named(s, actor.scope, view.facility_name))
    return IntakePage(
        view,
        tuple(s for s in STATUS_LABELS_JA if s in TRANSITIONS.get(view.status, ())),
        facility.name if facility is not None else "",
        suggestions,
        preview,
        error,
        choices,
    )


def _with_suggestions(view: IntakeView, suggestions: Mapping[str, str]) -> list[PartnerChange]:
    return [
        PartnerChange(c.name, c.change, c.covers, c.institution_id or suggestions.get(c.name))
        for c in view.partner_changes
    ]


_UNSET: Any = object()


def update(
    uow: UnitOfWork,
    actor: Actor,
    request_id: int,
    version: int,
    *,
    status: str | None = None,
    assignee: str | None = None,
    due_date: dt.date | None = _UNSET,
    facility_id: str | None = _UNSET,
    note: str = "",
) -> IntakeView:
    """Change a request's status, assignee, due date or facility and add a note."""
    actor.require_writer()
    kwargs: dict[str, Any] = {}
    if due_date is not _UNSET:
        kwargs["due_date"] = due_date
    if facility_id is not _UNSET:
        kwargs["facility_id"] = facility_id
    with uow.write() as s:
        return update_request(
            s,
            request_id,
            version,
            actor.username,
            status=status,
            assignee=assignee,
            note=note,
            scope=actor.scope,
            **kwargs,
        )


def confirm(
    uow: UnitOfWork,
    actor: Actor,
    request_id: int,
    version: int,
    changes: Sequence[PartnerChange],
    covered: int | None = None,
) -> IntakeView:
    """Write the request's partner changes, as the coordinator confirmed them, into the
    facility's filing (its source names the request)."""
    actor.require_writer()
    with uow.write() as s:
        return confirm_partners(
            s, request_id, version, changes, actor.username, covered=covered, scope=actor.scope
        )


def confirmed_changes(fields: Mapping[str, Any]) -> tuple[list[PartnerChange], int | None]:
    """The confirmation form's changes (``c_name_k``, ``c_change_k``, ``c_iid_k``,
    ``c_<capability>_k``; ``c_skip_k`` leaves one out) and the filed union (``u_<capability>``
    when ``u_shown``)."""
    out = []
    for k in range(20):
        name = field_text(fields, f"c_name_{k}")
        if not name or field_text(fields, f"c_skip_{k}"):
            continue
        covers = sum(int(c) for c in CAPABILITIES if field_text(fields, f"c_{c.code}_{k}"))
        iid = field_text(fields, f"c_iid_{k}") or None
        out.append(PartnerChange(name, field_text(fields, f"c_change_{k}"), covers, iid))
    covered = None
    if field_text(fields, "u_shown"):
        covered = sum(int(c) for c in CAPABILITIES if field_text(fields, f"u_{c.code}"))
    return out, covered
