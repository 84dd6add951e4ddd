"""The 相談窓口: facilities' requests in the coordinator's queue, and a confirmed change of a
facility's partners written into its filing.

A **request** arrives through a facility's letter link (``link``: the facility is known), the
public page a prefecture may switch on (``public``: the facility names itself and its
municipality, which places the request in the queue of the coordinators of that municipality),
or the partner changes of a reply form (``reply``); or a coordinator takes it by telephone, in
person or by mail (``phone``, ``visit``, ``mail``: ``TAKEN_CHANNELS``) and enters it with who
took it and when (``taken_by``, ``taken_at``), for a facility or a municipality of their scope.
It asks for help (``topic``, ``message``), reports a change of the facility's partners
(``partner_changes``), or both. Every request is checked as a whole (``check_request``,
``check_taken``): bounded texts, no control characters, known choices.

The **queue**: ``received`` (受付) → ``in_progress`` (対応中) → ``done`` (完了), reopened from
done to in progress; each change is version-checked (``ConflictError`` when someone else changed
the request since it was read), may set the assignee, the due date and the facility, appends a
note, and is audited.

A **partner change** changes nothing until the coordinator confirms it: ``confirm_partners``
writes the facility's filing for the current 年度 through ``imports.import_filings`` — the
latest filing's partners with the ended ones removed and the added ones added — with the
request as its ``source`` (``相談 R12 (回答リンクの相談窓口、確認: coord1)``), so that a
facility's state, every list and the next run see it with its provenance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from .._errors import InputError, RowIssue
from ..names import normalize_name
from ..text import clean_text, control_characters
from ..vocab import CAPABILITIES, CodeSet, code5_of
from ..wareki import today as today_jp
from .areas import member_filter
from .errors import ConflictError, NotFoundError
from .imports import Filing, FilingPartner, fiscal_year, import_filings
from .models import FacilityRow, InstitutionRow, utcnow
from .reply_models import IntakeRow
from .state import latest_filings
from .web_audit import record as audit

IntakeChannel = Literal["link", "public", "reply", "phone", "visit", "mail"]
IntakeStatus = Literal["received", "in_progress", "done"]

STATUS_LABELS_JA: dict[str, str] = {"received": "受付", "in_progress": "対応中", "done": "完了"}
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"in_progress", "done"}),
    "in_progress": frozenset({"received", "done"}),
    "done": frozenset({"in_progress"}),
}
CHANNEL_LABELS_JA: dict[str, str] = {
    "link": "回答リンクの相談窓口",
    "public": "相談窓口のページ",
    "reply": "回答票",
    "phone": "電話",
    "visit": "来所",
    "mail": "メール",
}
# The channels of a request a coordinator takes and enters (who took it and when).
TAKEN_CHANNELS: tuple[IntakeChannel, ...] = ("phone", "visit", "mail")
# How far ahead of the server's clock a taken request's time may be (clocks differ a little).
TAKEN_AHEAD = dt.timedelta(minutes=5)
TOPIC_LABELS_JA: dict[str, str] = {
    "partner_search": "協力医療機関が見つからない",
    "agreement": "協定の結び方・内容",
    "filing": "届出の方法",
    "partners": "協力医療機関の変更の報告",
    "other": "その他",
}
PARTNER_CHANGES_JA: dict[str, str] = {"add": "追加", "end": "終了"}

# Bounds of a request (the forms say the same).
MAX_MESSAGE = 2000
MAX_NAME = 200
MAX_PERSON = 100
MAX_CONTACT = 200
MAX_NOTE = 2000
MAX_PARTNER_CHANGES = 5


@dataclass(frozen=True)
class PartnerChange:
    """A change of a facility's partners it reports: ``add`` or ``end`` the partner ``name``,
    which meets ``covers`` (①②③ mask) for it; ``institution_id`` once the coordinator knows
    which institution it is."""

    name: str
    change: str  # add | end
    covers: int = 0
    institution_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if out["institution_id"] is None:
            del out["institution_id"]  # a reported change names no institution id
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PartnerChange:
        iid = d.get("institution_id")
        return cls(str(d["name"]), str(d["change"]), int(d.get("covers") or 0), iid or None)


@dataclass(frozen=True)
class IntakeRequest:
    """What a facility sends to the 相談窓口; ``facility_name`` and ``municipality_code`` only
    from the public page (a letter's link knows the facility)."""

    topic: str = ""
    message: str = ""
    partner_changes: tuple[PartnerChange, ...] = ()
    person: str = ""
    contact: str = ""
    facility_name: str = ""
    municipality_code: str = ""


@dataclass(frozen=True)
class IntakeNote:
    at: dt.datetime
    by: str
    text: str


@dataclass(frozen=True)
class PartnerChangeView:
    name: str
    change: str
    change_ja: str
    covers: int
    institution_id: str | None


@dataclass(frozen=True)
class IntakeView:
    """A request as the coordinator's queue shows it."""

    id: int
    code: str  # R12
    channel: str
    channel_ja: str
    letter_id: int | None
    facility_id: str | None
    facility_name: str
    municipality_code: str
    topic: str
    topic_ja: str
    message: str
    partner_changes: tuple[PartnerChangeView, ...]
    person: str
    contact: str
    status: str
    status_ja: str
    assignee: str
    due_date: dt.date | None
    notes: tuple[IntakeNote, ...]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str
    confirmed_at: dt.datetime | None
    confirmed_by: str
    filing_year: int | None
    taken_by: str  # a request taken by telephone, in person or by mail: who took it
    taken_at: dt.datetime | None  # and when (UTC, as every stored time)


def request_code(request_id: int) -> str:
    """A request's number as the pages and the filing's source print it (``R12``)."""
    return f"R{request_id}"


# --- checking --------------------------------------------------------------------------------


def partner_change_issues(changes: Sequence[PartnerChange], source: str = "相談") -> list[RowIssue]:
    """What is wrong with reported partner changes (a reply form's and a request's alike)."""
    issues: list[RowIssue] = []
    if len(changes) > MAX_PARTNER_CHANGES:
        issues.append(RowIssue(source, None, "協力医療機関の変更", str(len(changes)), "多すぎます"))
    for n, c in enumerate(changes, start=1):
        if not c.name.strip() or len(c.name) > MAX_NAME:
            issues.append(
                RowIssue(
                    source,
                    n,
                    "医療機関名",
                    c.name[:50],
                    "医療機関名を 200 文字以内で書いてください",
                )
            )
        if c.change not in PARTNER_CHANGES_JA:
            issues.append(
                RowIssue(source, n, "変更", c.change[:20], "「追加」か「終了」を選んでください")
            )
        if not 0 <= c.covers <= 7:
            issues.append(RowIssue(source, n, "要件", str(c.covers), "①②③ から選んでください"))
    return issues


def text_issues(fields: Iterable[tuple[str, str, int]], source: str = "相談") -> list[RowIssue]:
    """Each (column, text, limit) longer than its limit or holding a control character."""
    issues = []
    for column, text, limit in fields:
        if len(text) > limit:
            issues.append(RowIssue(source, None, column, None, f"{limit} 文字以内で書いてください"))
        elif control_characters(text.replace("\t", " ")):
            issues.append(RowIssue(source, None, column, None, "使えない文字が含まれています"))
    return issues


def check_request(req: IntakeRequest, public: bool) -> None:
    """Every problem of ``req`` at once (``InputError``), or nothing. A public request names its
    facility and a municipality."""
    issues = text_issues(
        [
            ("相談の内容", req.message, MAX_MESSAGE),
            ("ご担当者", req.person, MAX_PERSON),
            ("連絡先", req.contact, MAX_CONTACT),
            ("施設名", req.facility_name, MAX_NAME),
        ]
    )
    issues += partner_change_issues(req.partner_changes)
    if req.topic not in TOPIC_LABELS_JA:
        issues.append(RowIssue("相談", None, "相談の種類", None, "相談の種類を選んでください"))
    if public:
        if not req.facility_name.strip():
            issues.append(RowIssue("相談", None, "施設名", None, "施設名を書いてください"))
        if not code5_of(req.municipality_code):
            issues.append(RowIssue("相談", None, "市区町村", None, "市区町村を選んでください"))
        if not (req.person.strip() and req.contact.strip()):
            issues.append(
                RowIssue("相談", None, "連絡先", None, "ご担当者と連絡先を書いてください")
            )
    if not (req.message.strip() or req.partner_changes):
        issues.append(
            RowIssue(
                "相談", None, "相談の内容", None, "相談の内容か協力医療機関の変更を書いてください"
            )
        )
    if issues:
        raise InputError(issues)


# --- the queue -------------------------------------------------------------------------------


def _view(r: IntakeRow) -> IntakeView:
    changes = tuple(PartnerChange.from_dict(d) for d in r.partner_changes)
    return IntakeView(
        r.id,
        request_code(r.id),
        r.channel,
        CHANNEL_LABELS_JA.get(r.channel, r.channel),
        r.letter_id,
        r.facility_id,
        r.facility_name,
        r.municipality_code,
        r.topic,
        TOPIC_LABELS_JA.get(r.topic, r.topic),
        r.message,
        tuple(
            PartnerChangeView(
                c.name,
                c.change,
                PARTNER_CHANGES_JA.get(c.change, c.change),
                c.covers,
                c.institution_id,
            )
            for c in changes
        ),
        r.person,
        r.contact,
        r.status,
        STATUS_LABELS_JA.get(r.status, r.status),
        r.assignee,
        r.due_date,
        tuple(
            IntakeNote(dt.datetime.fromisoformat(n["at"]), str(n["by"]), str(n["text"]))
            for n in r.notes
        ),
        r.version,
        r.created_at,
        r.updated_at,
        r.updated_by,
        r.confirmed_at,
        r.confirmed_by,
        r.filing_year,
        r.taken_by,
        r.taken_at,
    )


def check_taken(
    channel: str, taken_by: str, taken_at: dt.datetime | None, now: dt.datetime
) -> None:
    """A request a coordinator takes (``TAKEN_CHANNELS``) names who took it (bounded text) and
    when (UTC, not after ``now``); any other names neither (``InputError``)."""
    if channel not in TAKEN_CHANNELS:
        if taken_by or taken_at is not None:
            raise InputError(
                f"経路「{CHANNEL_LABELS_JA.get(channel, channel)}」に受付者はありません"
            )
        return
    issues = text_issues([("受付者", taken_by, MAX_PERSON)])
    if not taken_by.strip():
        issues.append(RowIssue("相談", None, "受付者", None, "受け付けた人を書いてください"))
    if taken_at is None:
        issues.append(RowIssue("相談", None, "受付日時", None, "受け付けた日時を書いてください"))
    elif taken_at > now + TAKEN_AHEAD:
        issues.append(RowIssue("相談", None, "受付日時", None, "受付日時が未来になっています"))
    if issues:
        raise InputError(issues)


def submit(
    session: Session,
    req: IntakeRequest,
    channel: IntakeChannel,
    actor: str,
    *,
    letter_id: int | None = None,
    facility_id: str | None = None,
    taken_by: str = "",
    taken_at: dt.datetime | None = None,
    scope: CodeSet | None = None,
) -> IntakeView:
    """Check ``req`` and put it in the queue (status 受付). A known facility (``facility_id``)
    names and places the request; a public one is placed by its municipality. A request a
    coordinator took (``TAKEN_CHANNELS``) names who took it and when (``check_taken``) and must
    be placed in ``scope`` (the coordinator's)."""
    now = utcnow()
    issues: list[RowIssue] = []
    checks: tuple[Callable[[], None], ...] = (
        partial(check_request, req, public=facility_id is None),
        partial(check_taken, channel, taken_by, taken_at, now),
    )
    for check in checks:
        try:
            check()
        except InputError as exc:
            issues += exc.issues  # every problem at once
    if issues:
        raise InputError(issues)
    name, municipality = clean_text(req.facility_name), req.municipality_code
    if facility_id is not None:
        facility = session.get(FacilityRow, facility_id)
        if facility is None or (scope is not None and facility.code5 not in scope):
            raise NotFoundError(f"施設 {facility_id} は見つかりません")
        name, municipality = facility.name[:MAX_NAME], facility.municipality_code
    elif scope is not None and not scope.contains(municipality):
        raise InputError(
            [RowIssue("相談", None, "市区町村", None, "担当地域の市区町村を選んでください")]
        )
    topic = req.topic
    row = IntakeRow(
        channel=channel,
        letter_id=letter_id,
        facility_id=facility_id,
        facility_name=name,
        municipality_code=municipality[:8],
        code5=code5_of(municipality),
        topic=topic,
        message=req.message.strip(),
        partner_changes=[c.as_dict() for c in req.partner_changes],
        person=req.person.strip(),
        contact=req.contact.strip(),
        status="received",
        assignee="",
        notes=[],
        version=1,
        created_at=now,
        updated_at=now,
        updated_by=actor[:100],
        confirmed_by="",
        taken_by=taken_by.strip(),
        taken_at=taken_at,
    )
    session.add(row)
    session.flush()
    detail: dict[str, Any] = {
        "channel": channel,
        "topic": topic,
        "letter_id": letter_id,
        "partners": len(req.partner_changes),
    }
    if channel in TAKEN_CHANNELS:
        detail |= {"taken_by": row.taken_by, "taken_at": taken_at.isoformat() if taken_at else None}
    audit(session, actor[:100], "intake.submit", f"相談 {request_code(row.id)}", detail)
    return _view(row)


def _row(session: Session, request_id: int, scope: CodeSet | None = None) -> IntakeRow:
    row = session.get(IntakeRow, request_id, populate_existing=True)
    if row is None or (scope is not None and row.code5 not in scope):
        raise NotFoundError(f"相談 {request_code(request_id)} は見つかりません")
    return row


def get_request(session: Session, request_id: int, scope: CodeSet | None = None) -> IntakeView:
    """One request (``NotFoundError`` outside ``scope``)."""
    return _view(_row(session, request_id, scope))


def list_requests(
    session: Session, scope: CodeSet, status: str | None = None, facility_id: str | None = None
) -> list[IntakeView]:
    """The requests of ``scope``'s municipalities: open ones first (due date, then oldest)."""
    q = select(IntakeRow).where(member_filter(scope, IntakeRow.code5))
    if status:
        q = q.where(IntakeRow.status == status)
    if facility_id:
        q = q.where(IntakeRow.facility_id == facility_id)
    rows = list(session.scalars(q))
    far = dt.date.max
    rows.sort(key=lambda r: (r.status == "done", r.due_date or far, r.created_at, r.id))
    return [_view(r) for r in rows]


def _check_version(row: IntakeRow, version: int) -> None:
    if row.version != version:
        raise ConflictError(
            f"相談 {request_code(row.id)} は他の人が先に更新しました"
            f" (版 {version} → {row.version})。最新の内容を確認してから、もう一度操作してください",
            version,
            row.version,
        )


_UNSET: Any = object()


def update_request(
    session: Session,
    request_id: int,
    version: int,
    actor: str,
    *,
    status: str | None = None,
    assignee: str | None = None,
    due_date: dt.date | None = _UNSET,
    facility_id: str | None = _UNSET,
    note: str = "",
    scope: CodeSet | None = None,
) -> IntakeView:
    """Change the request's status (``TRANSITIONS``), assignee, due date or facility and append
    a note; version-checked, audited. A facility set here must lie in ``scope``."""
    row = _row(session, request_id, scope)
    _check_version(row, version)
    issues = text_issues([("担当者", assignee or "", 100), ("メモ", note, MAX_NOTE)], "相談")
    if issues:
        raise InputError(issues)
    changed: dict[str, Any] = {}
    if status is not None and status != row.status:
        if status not in TRANSITIONS.get(row.status, frozenset()):
            raise InputError(
                f"「{STATUS_LABELS_JA.get(row.status, row.status)}」から"
                f"「{STATUS_LABELS_JA.get(status, status)}」には変更できません"
            )
        changed["status"] = (row.status, status)
        row.status = status
    if assignee is not None and assignee.strip() != row.assignee:
        changed["assignee"] = (row.assignee, assignee.strip())
        row.assignee = assignee.strip()
    if due_date is not _UNSET and due_date != row.due_date:
        changed["due_date"] = (
            row.due_date.isoformat() if row.due_date else None,
            due_date.isoformat() if due_date else None,
        )
        row.due_date = due_date
    if facility_id is not _UNSET and facility_id != row.facility_id:
        if facility_id is not None:
            facility = session.get(FacilityRow, facility_id)
            if facility is None or (scope is not None and facility.code5 not in scope):
                raise NotFoundError(f"施設 {facility_id} は見つかりません")
        changed["facility_id"] = (row.facility_id, facility_id)
        row.facility_id = facility_id
    now = utcnow()
    if note.strip():
        row.notes = [*row.notes, {"at": now.isoformat(), "by": actor[:100], "text": note.strip()}]
        changed["note"] = True
    if not changed:
        return _view(row)
    row.version += 1
    row.updated_at, row.updated_by = now, actor[:100]
    session.flush()
    audit(session, actor[:100], "intake.update", f"相談 {request_code(row.id)}", changed)
    return _view(row)


# --- a confirmed partner change --------------------------------------------------------------


@dataclass(frozen=True)
class FilingPreview:
    """The filing a confirmation would write, and what the coordinator should know about it."""

    filing: Filing
    before: tuple[FilingPartner, ...]
    before_covered: int
    notes: tuple[str, ...]


def _matches(p: FilingPartner, c: PartnerChange) -> bool:
    if p.institution_id and c.institution_id:
        return p.institution_id == c.institution_id
    return normalize_name(p.partner_name) == normalize_name(c.name)


def filing_after(
    session: Session,
    facility_id: str,
    changes: Sequence[PartnerChange],
    source: str,
    today: dt.date,
    covered: int | None = None,
) -> FilingPreview:
    """The facility's filing for the 年度 of ``today`` after ``changes``: its latest filing's
    partners, the ended ones removed (an end that names no partner is an ``InputError``) and the
    added ones added (an added partner already named gains the requirements). ``covered`` (①②③
    filed as a union, without a partner) is kept unless a partner that carried no requirements
    of its own ends — the union cannot say what it covered, so it becomes 0 and ``notes`` says
    so — or the coordinator gives it."""
    old = latest_filings(session, [facility_id]).get(facility_id)
    before = tuple(
        FilingPartner(
            p.partner_name,
            p.covers,
            p.institution_id or p.filed_institution_id,  # the id as filed, linked or not yet
            p.infection_agreement,
        )
        for p in (old.partners if old else [])
    )
    union = old.covered if old else 0
    partners = list(before)
    notes: list[str] = []
    issues: list[RowIssue] = []
    for n, c in enumerate(changes, start=1):
        k = next((k for k, p in enumerate(partners) if _matches(p, c)), None)
        if c.change == "end":
            if k is None:
                issues.append(
                    RowIssue(
                        "確認",
                        n,
                        "医療機関名",
                        c.name[:50],
                        f"届出の協力医療機関に「{c.name}」がないため、終了にできません",
                    )
                )
                continue
            ended = partners.pop(k)
            if union and not ended.covers and covered is None:
                union = 0
                notes.append(
                    f"届出の要件は医療機関ごとに分かれていないため、「{ended.partner_name}」の"
                    "終了で届出の①②③を空にしました。残る協力医療機関の要件を確かめてください"
                )
        elif k is not None:
            p = partners[k]
            partners[k] = dataclasses.replace(
                p, covers=p.covers | c.covers, institution_id=p.institution_id or c.institution_id
            )
        else:
            partners.append(FilingPartner(c.name.strip(), c.covers, c.institution_id))
    if issues:
        raise InputError(issues)
    union = union if covered is None else covered
    year = fiscal_year(today)
    filing = Filing(
        facility_id, year, bool(partners) or union != 0, tuple(partners), union, source[:200]
    )
    return FilingPreview(filing, before, old.covered if old else 0, tuple(notes))


def confirm_partners(
    session: Session,
    request_id: int,
    version: int,
    changes: Sequence[PartnerChange],
    actor: str,
    *,
    covered: int | None = None,
    today: dt.date | None = None,
    scope: CodeSet | None = None,
) -> IntakeView:
    """Write the request's partner changes, as the coordinator confirmed them (``changes``: the
    reported ones, institution ids added, requirements corrected), into the facility's filing
    (``filing_after``, ``import_filings``) with the request as its source; a received request
    moves to 対応中. Audited with the partners before and after."""
    row = _row(session, request_id, scope)
    _check_version(row, version)
    if row.facility_id is None:
        raise InputError("施設が決まっていません。先にこの相談の施設を選んでください")
    if row.confirmed_at is not None:
        raise InputError(f"相談 {request_code(row.id)} の変更は既に届出に反映しています")
    issues = partner_change_issues(changes, "確認")
    if not changes:
        issues.append(RowIssue("確認", None, "協力医療機関の変更", None, "変更がありません"))
    ids = sorted({c.institution_id for c in changes if c.institution_id})
    known = set(
        session.scalars(
            select(InstitutionRow.institution_id).where(InstitutionRow.institution_id.in_(ids))
        )
    )
    issues += [
        RowIssue("確認", None, "医療機関 ID", i, f"医療機関 {i} は医療機関一覧にありません")
        for i in ids
        if i not in known
    ]
    if issues:
        raise InputError(issues)
    today = today or today_jp()
    channel = CHANNEL_LABELS_JA.get(row.channel, row.channel)
    source = f"相談 {request_code(row.id)} ({channel}、確認: {actor[:60]})"
    preview = filing_after(session, row.facility_id, changes, source, today, covered)
    import_filings(session, [preview.filing])
    now = utcnow()
    row.partner_changes = [c.as_dict() for c in changes]
    row.confirmed_at, row.confirmed_by = now, actor[:100]
    row.filing_year = preview.filing.filing_year
    if row.status == "received":
        row.status = "in_progress"
    row.notes = [
        *row.notes,
        {
            "at": now.isoformat(),
            "by": actor[:100],
            "text": "届出に反映: "
            + "; ".join(f"{c.name} {PARTNER_CHANGES_JA[c.change]}" for c in changes)
            + "".join(f" / {n}" for n in preview.notes),
        },
    ]
    row.version += 1
    row.updated_at, row.updated_by = now, actor[:100]
    session.flush()
    audit(
        session,
        actor[:100],
        "intake.confirm",
        f"相談 {request_code(row.id)}",
        {
            "facility_id": row.facility_id,
            "filing_year": preview.filing.filing_year,
            "before": [_partner_text(p) for p in preview.before],
            "before_covered": preview.before_covered,
            "after": [_partner_text(p) for p in preview.filing.partners],
            "covered": preview.filing.covered,
        },
    )
    return _view(row)


def _partner_text(p: FilingPartner) -> str:
    marks = "".join(c.mark for c in CAPABILITIES if p.covers & c)
    return f"{p.partner_name}{f' ({p.institution_id})' if p.institution_id else ''} {marks}".strip()


def institution_suggestions(
    session: Session, names: Iterable[str], prefecture: str = ""
) -> dict[str, str]:
    """Reported partner name → the id of the one institution (of ``prefecture``, a 2-digit
    code, when given) with that name (normalised), for the confirmation form; names matching
    none or several are left out."""
    wanted = {normalize_name(n): n for n in names if n.strip()}
    if not wanted:
        return {}
    found: dict[str, list[str]] = {}
    q = select(InstitutionRow.institution_id, InstitutionRow.name)
    if prefecture:
        q = q.where(InstitutionRow.code5.startswith(prefecture))
    for iid, name in session.execute(q):
        key = normalize_name(name)
        if key in wanted:
            found.setdefault(wanted[key], []).append(iid)
    return {n: ids[0] for n, ids in found.items() if len(ids) == 1}


def facilities_named(
    session: Session, scope: CodeSet, name: str, limit: int = 20
) -> list[tuple[str, str]]:
    """(id, name) of the facilities in ``scope`` whose name contains ``name`` (a public
    request's facility, for the coordinator to choose)."""
    text = name.strip()[:100]
    if not text:
        return []
    rows = session.execute(
        select(FacilityRow.facility_id, FacilityRow.name)
        .where(
            member_filter(scope, FacilityRow.code5),
            FacilityRow.name.contains(text, autoescape=True),
        )
        .order_by(FacilityRow.facility_id)
        .limit(limit)
    )
    return [(fid, fname) for fid, fname in rows]
