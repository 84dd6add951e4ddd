"""Answers to the letters: one-time links, answers turned into decisions, and held answers.

A **letter** is (run, recipient kind, recipient id): the run's live proposals of one institution
(a request) or of one facility (a notice). It is made when its first link is issued and keeps
the rows it asked, each with the status, covers and version the proposal had then.

A **link** carries a token of 256 random bits (``secrets.token_urlsafe(32)``); only its SHA-256 is
stored. It expires at the end of the reply deadline (JST), is revoked by the coordinator or by a
re-issue, and reads nothing but its own letter. Until the coordinator locks the letter, the
recipient may answer again to correct. Issuing an institution letter's link asks its requests:
those still 提案中 become 打診中 (``_ask``), so a re-plan keeps them until the answer comes; a
facility notice asks nothing and changes no status.

An **answer** (through the link, a returned Excel form, or typed by a coordinator) is checked as a
whole first — nothing of it is applied when one part is wrong — and then each part becomes a
decision through the store's own ``set_status`` and ``import_declarations``:

============  ==========================  ==========================
answer        institution (request)       facility (notice)
============  ==========================  ==========================
accept        受入可 → agreed             希望する → contacted
decline       不可 → declined             希望しない → declined
conditional   条件付き → contacted        相談したい → contacted
============  ==========================  ==========================

(A facility's wish alone does not make a partnership: the institution's yes does. A 条件付き依頼's
受入可 is 打診中 until the request it backs is decided: ``matcher.store.backups``.) The
condition or reason goes into the proposal's history note and stays on the answer's item for the
coordinator. Capacity, offers (①②③) and 第二種協定指定医療機関 become a declaration whose
source names the letter, when they differ from the one in force. A facility's changes of its
partners become a request in the 相談窓口's queue (``matcher.store.intake``), where the
coordinator confirms them into its filing.

A row meets a **changed proposal** when someone else changed it since the letter (or since the
last answer the reply system applied to it) and it is no longer a live proposal with the same
covers — decided, withdrawn, re-planned. It is then **held** with both versions for the
coordinator, never applied blind; so is an answer the lifecycle does not allow from the current
state (a correction from 受入可 to 不可 after it was agreed). A proposal merely moved from
proposed to contacted (the coordinator phoned) is not a conflict.

Each part has a hash of its content: when the latest item of the same part of the same letter
has the same hash, the answer is a **duplicate** and nothing is applied (the same Excel file
twice, the link form sent again unchanged).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .._errors import InputError, RowIssue
from ..model import FACILITY_KINDS
from ..vocab import BACKUP_LABEL_JA, Duty, admissible_offers
from ..vocab import ProposalStatus as Status
from ..wareki import JST
from ..wareki import today as today_jp
from .backups import answer_target, backups_of, settled_note
from .errors import NotFoundError, StoreError
from .holds import HELD_NOTE
from .imports import Declaration, import_declarations
from .intake import MAX_PARTNER_CHANGES as MAX_PARTNER_CHANGES
from .intake import PARTNER_CHANGES_JA as PARTNER_CHANGES_JA
from .intake import IntakeRequest, partner_change_issues, request_code, submit, text_issues
from .intake import PartnerChange as PartnerChange
from .models import (
    AreaRow,
    FacilityRow,
    InstitutionRow,
    ProposalRow,
    RunProposalRow,
    RunRow,
    utcnow,
)
from .proposal_commands import TRANSITIONS, record_history, set_status
from .proposal_commands import ProposalStatus as StatusCode
from .reply_models import ReplyAnswerRow, ReplyItemRow, ReplyLetterRow, ReplyTokenRow
from .state import current_declarations, institution_states, latest_filings
from .web_audit import record as audit

RecipientKind = Literal["institution", "facility"]
Channel = Literal["link", "excel", "coordinator"]
AnswerCode = Literal["accept", "decline", "conditional"]
LinkState = Literal["none", "active", "expired", "revoked"]

RECIPIENT_KINDS: tuple[RecipientKind, ...] = ("institution", "facility")
ANSWER_CODES: tuple[AnswerCode, ...] = ("accept", "decline", "conditional")
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
# Letters are asked about proposals still waiting for a decision.
LIVE = (Status.PROPOSED.value, Status.CONTACTED.value)

ANSWER_LABELS_JA: dict[str, dict[str, str]] = {
    "institution": {"accept": "受入可", "decline": "不可", "conditional": "条件付き"},
    "facility": {"accept": "希望する", "decline": "希望しない", "conditional": "相談したい"},
}
# What each answer asks of the proposal (module docstring).
ANSWER_STATUS: dict[str, dict[str, str]] = {
    "institution": {
        "accept": Status.AGREED.value,
        "decline": Status.DECLINED.value,
        "conditional": Status.CONTACTED.value,
    },
    "facility": {
        "accept": Status.CONTACTED.value,
        "decline": Status.DECLINED.value,
        "conditional": Status.CONTACTED.value,
    },
}
CHANNEL_LABELS_JA = {"link": "回答リンク", "excel": "Excel の回答票", "coordinator": "担当者の入力"}
OUTCOME_LABELS_JA = {
    "applied": "反映しました",
    "held": "保留 (担当者が確認します)",
    "unchanged": "変更なし",
    "duplicate": "前回と同じ回答 (取り込み済み)",
    "rejected": "受け付けませんでした",
}
DECLARATION_LABEL_JA = "受入枠・対応できる要件"
PARTNERS_LABEL_JA = "協力医療機関の変更"
RECIPIENT_LABELS_JA = {"institution": "医療機関への依頼", "facility": "施設へのお知らせ"}

# Bounds of an answer's free text and numbers (the forms say the same).
MAX_REASON = 500
MAX_PERSON = 100
MAX_CONTACT = 200
MAX_NOTE = 1000
MAX_CAPACITY = 999


class LinkRefused(StoreError):
    """A token that opens nothing: unknown (guessed), expired or revoked."""

    MESSAGES = {
        "unknown": "このリンクは無効です。アドレスを確かめてください。",
        "expired": "回答期限を過ぎたため、このリンクは使えません。"
        "回答が必要な場合は、依頼文書に記載の担当までご連絡ください。",
        "revoked": "このリンクは使えなくなりました (新しいリンクが発行された可能性があります)。"
        "依頼文書に記載の担当までご連絡ください。",
    }

    def __init__(self, reason: Literal["unknown", "expired", "revoked"]) -> None:
        self.reason = reason
        super().__init__(self.MESSAGES[reason])


class LetterLocked(StoreError):
    """The coordinator closed the letter's answers."""

    def __init__(self, letter_id: int) -> None:
        super().__init__(
            f"回答票 L{letter_id} の受付は締め切られています。"
            "修正が必要な場合は、依頼文書に記載の担当までご連絡ください。"
        )


# --- views ---------------------------------------------------------------------------------


def letter_code(letter_id: int) -> str:
    """A letter's number as the forms, pages and audit print it (``L12``)."""
    return f"L{letter_id}"


@dataclass(frozen=True)
class LetterRow:
    """One asked proposal as the letter asked it (``asked_*``) and as it is now."""

    proposal_id: int
    facility_id: str
    facility_name: str
    facility_kind: str
    facility_address: str
    institution_id: str
    institution_name: str
    institution_kind: str
    institution_address: str
    covers: int
    km: float
    status: str
    version: int
    asked_status: str
    asked_version: int
    asked_covers: int
    backup_for: int | None = None  # a 条件付き依頼: the proposal it backs (``round_strategy``)

    @property
    def backup_note(self) -> str:
        """What the row is when it is a backup request, for the form and the coordinator."""
        if self.backup_for is None:
            return ""
        return f"{BACKUP_LABEL_JA} (提案 {self.backup_for} が不可のときだけ合意になります)"

    @property
    def duty(self) -> str:
        """The facility's duty code (``mandatory``/``effort``; "" for an unknown kind)."""
        kind = FACILITY_KINDS.get(self.facility_kind)
        return kind.duty.value if kind is not None else ""

    @property
    def mandatory(self) -> bool:
        return self.duty == Duty.MANDATORY.value


@dataclass(frozen=True)
class LetterView:
    """A letter with its rows and what its recipient's form shows besides them."""

    id: int
    run_id: int
    area_code: str
    area_name: str
    kind: str
    recipient_id: str
    recipient_name: str
    recipient_address: str
    deadline: dt.date | None
    locked: bool
    rows: tuple[LetterRow, ...]
    capacity: int | None = None  # institution: declared now (None: not declared)
    offers: int = 0  # institution: what it offers now (declaration or registry)
    infection_agreement: bool = False  # institution: 第二種協定指定医療機関 now
    partners: tuple[str, ...] = ()  # facility: the partners its latest filing names
    link: LinkState = "none"
    link_expires_at: dt.datetime | None = None

    @property
    def code(self) -> str:
        """The letter's number as printed (``L12``)."""
        return letter_code(self.id)

    @property
    def proposal_ids(self) -> tuple[int, ...]:
        return tuple(r.proposal_id for r in self.rows)

    def row(self, proposal_id: int) -> LetterRow | None:
        return next((r for r in self.rows if r.proposal_id == proposal_id), None)

    def answer_label(self, code: str) -> str:
        return ANSWER_LABELS_JA[self.kind].get(code, code)


@dataclass(frozen=True)
class LetterSummary:
    """A letter in the run's list: recipient, how many rows it asks, link, answers."""

    id: int
    code: str
    kind: str
    recipient_id: str
    recipient_name: str
    rows: int
    deadline: dt.date | None
    locked: bool
    link: LinkState
    link_expires_at: dt.datetime | None
    answers: int
    last_answer_at: dt.datetime | None
    held: int


@dataclass(frozen=True)
class IssuedLink:
    """A freshly issued token (the only moment it exists in clear)."""

    letter_id: int
    kind: str
    recipient_id: str
    recipient_name: str
    token: str
    expires_at: dt.datetime
    deadline: dt.date

    def path(self) -> str:
        return f"/r/{self.token}"


# --- answers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowAnswer:
    """The answer to one row: ``accept``/``decline``/``conditional``, reason or condition, from."""

    proposal_id: int
    answer: str
    reason: str = ""
    from_date: dt.date | None = None
    line: int | None = None  # the row of the returned file it came from (for messages)


@dataclass(frozen=True)
class LetterAnswer:
    """Everything a recipient may answer; blank fields (None, "") are not answered."""

    rows: tuple[RowAnswer, ...] = ()
    capacity: int | None = None
    offers: int | None = None
    infection_agreement: bool | None = None
    partner_changes: tuple[PartnerChange, ...] = ()
    person: str = ""
    contact: str = ""
    note: str = ""

    def is_empty(self) -> bool:
        return not (
            self.rows
            or self.capacity is not None
            or self.offers is not None
            or self.infection_agreement is not None
            or self.partner_changes
            or self.person
            or self.contact
            or self.note
        )

    def row(self, proposal_id: int) -> RowAnswer | None:
        return next((r for r in self.rows if r.proposal_id == proposal_id), None)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows"] = [
            {**r, "from_date": r["from_date"].isoformat() if r["from_date"] else None}
            for r in out["rows"]
        ]
        out["partner_changes"] = [c.as_dict() for c in self.partner_changes]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LetterAnswer:
        return cls(
            rows=tuple(
                RowAnswer(
                    int(r["proposal_id"]),
                    str(r["answer"]),
                    str(r.get("reason") or ""),
                    dt.date.fromisoformat(r["from_date"]) if r.get("from_date") else None,
                )
                for r in d.get("rows", [])
            ),
            capacity=d.get("capacity"),
            offers=d.get("offers"),
            infection_agreement=d.get("infection_agreement"),
            partner_changes=tuple(PartnerChange.from_dict(p) for p in d.get("partner_changes", [])),
            person=str(d.get("person") or ""),
            contact=str(d.get("contact") or ""),
            note=str(d.get("note") or ""),
        )


@dataclass(frozen=True)
class ItemResult:
    """What became of one part of an answer."""

    item: str  # row | declaration | partners | file
    outcome: str
    message: str
    proposal_id: int | None = None
    label: str = ""  # what the part is about (a facility's or institution's name)
    answer: str = ""
    outcome_ja: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome_ja", OUTCOME_LABELS_JA.get(self.outcome, self.outcome))


@dataclass(frozen=True)
class AnswerResult:
    """One answer (or refused file) and the results of its parts."""

    answer_id: int
    letter_id: int | None
    outcome: str
    items: tuple[ItemResult, ...] = ()
    file_name: str = ""
    message: str = ""
    channel: str = ""
    at: dt.datetime | None = None
    outcome_ja: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome_ja", OUTCOME_LABELS_JA.get(self.outcome, self.outcome))

    def count(self, outcome: str) -> int:
        return sum(i.outcome == outcome for i in self.items)


@dataclass(frozen=True)
class HeldItem:
    """An answer part waiting for the coordinator, with the letter's and today's versions."""

    id: int
    letter_id: int
    kind: str
    recipient_name: str
    item: str
    proposal_id: int | None
    answer: str
    answer_ja: str
    detail: dict[str, Any]
    message: str
    versions: dict[str, Any]
    channel: str
    at: dt.datetime
    resolved: bool = False
    resolution: str = ""


# --- letters ------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    """The stored form of a token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def deadline_end(deadline: dt.date) -> dt.datetime:
    """The end of the deadline day in Japan, as the store's naive UTC."""
    end = dt.datetime.combine(deadline + dt.timedelta(days=1), dt.time(0), JST)
    return end.astimezone(dt.UTC).replace(tzinfo=None)


def today_jst() -> dt.date:
    """Today in Japan (``wareki.today``): a deadline is the end of its day in JST."""
    return today_jp()


def run_recipients(session: Session, run_id: int) -> dict[tuple[str, str], list[ProposalRow]]:
    """The letters of run ``run_id``: (kind, recipient id) → its live proposals in the run."""
    if session.get(RunRow, run_id) is None:
        raise NotFoundError(f"計算 {run_id} は存在しません")
    rows = session.scalars(
        select(ProposalRow)
        .join(RunProposalRow, RunProposalRow.proposal_id == ProposalRow.id)
        .where(RunProposalRow.run_id == run_id, ProposalRow.status.in_(LIVE))
        .order_by(ProposalRow.distance_km, ProposalRow.id)
    )
    out: dict[tuple[str, str], list[ProposalRow]] = {}
    for p in rows:
        out.setdefault(("institution", p.institution_id), []).append(p)
        out.setdefault(("facility", p.facility_id), []).append(p)
    return dict(sorted(out.items()))


def _snapshot(p: ProposalRow) -> dict[str, Any]:
    return {
        "proposal_id": p.id,
        "facility_id": p.facility_id,
        "institution_id": p.institution_id,
        "covers": p.covers,
        "km": round(p.distance_km, 3),
        "status": p.status,
        "version": p.version,
    }


def asked_before(session: Session, run_id: int) -> set[tuple[str, str, int]]:
    """(kind, recipient, proposal) already asked by a letter of another run: a proposal a re-plan
    kept is not asked again (the earlier letter's link still answers it; re-issue it when its
    deadline passed)."""
    out: set[tuple[str, str, int]] = set()
    for letter in session.scalars(select(ReplyLetterRow).where(ReplyLetterRow.run_id != run_id)):
        out.update(
            (letter.recipient_kind, letter.recipient_id, int(r["proposal_id"])) for r in letter.rows
        )
    return out


def ensure_letters(
    session: Session, run_id: int, actor: str, deadline: dt.date | None = None
) -> list[ReplyLetterRow]:
    """The letters of run ``run_id``, made for the recipients that have none yet (a letter keeps
    the rows it was made with). A letter asks only what no earlier letter asked the same
    recipient: the next round's letters go to new requests only."""
    existing = {
        (r.recipient_kind, r.recipient_id): r
        for r in session.scalars(select(ReplyLetterRow).where(ReplyLetterRow.run_id == run_id))
    }
    asked = asked_before(session, run_id)
    now = utcnow()
    out = []
    for (kind, rid), props in run_recipients(session, run_id).items():
        letter = existing.get((kind, rid))
        if letter is None:
            new = [p for p in props if (kind, rid, p.id) not in asked]
            if not new:
                continue
            letter = ReplyLetterRow(
                run_id=run_id,
                recipient_kind=kind,
                recipient_id=rid,
                rows=[_snapshot(p) for p in new],
                deadline=deadline,
                created_at=now,
                created_by=actor[:100],
                locked_by="",
            )
            session.add(letter)
        out.append(letter)
    session.flush()
    return out


def _letter(session: Session, letter_id: int) -> ReplyLetterRow:
    letter = session.get(ReplyLetterRow, letter_id)
    if letter is None:
        raise NotFoundError(f"回答票 L{letter_id} は存在しません")
    return letter


def _names(session: Session, kind: str, ids: Iterable[str]) -> dict[str, str]:
    """Id → name of the institutions (``kind``) or facilities among ``ids``."""
    model: type[InstitutionRow] | type[FacilityRow] = (
        InstitutionRow if kind == "institution" else FacilityRow
    )
    key = InstitutionRow.institution_id if kind == "institution" else FacilityRow.facility_id
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {k: n for k, n in session.execute(select(key, model.name).where(key.in_(wanted)))}


def _recipient_name(session: Session, kind: str, rid: str) -> str:
    row: InstitutionRow | FacilityRow | None = (
        session.get(InstitutionRow, rid) if kind == "institution" else session.get(FacilityRow, rid)
    )
    return row.name if row is not None else rid


def _ask(session: Session, letter: ReplyLetterRow, actor: str) -> list[int]:
    """Mark an institution letter's requests as asked: each row still 提案中 exactly as the
    letter shows it becomes 打診中 through ``set_status`` (history 「回答票 L12 を送付」, backups
    settled), so that a re-plan keeps it (``planner_input``: contacted pairs are kept) instead
    of withdrawing a request whose answer is on its way. The row's snapshot is then retaken, so
    the letter's own answer never meets a "changed" proposal because of this move. A facility
    notice asks nothing of an institution and moves nothing; a row changed since the letter
    (or already moved) is left as it is, so issuing again changes nothing. The ids moved."""
    if letter.recipient_kind != "institution":
        return []
    rows = [dict(r) for r in letter.rows]
    ids = [int(r["proposal_id"]) for r in rows]
    now_rows = {
        p.id: p
        for p in session.scalars(
            select(ProposalRow)
            .where(ProposalRow.id.in_(ids))
            .execution_options(populate_existing=True)
        )
    }
    moved: list[int] = []
    for k, r in enumerate(rows):
        p = now_rows.get(int(r["proposal_id"]))
        if p is None or p.status != Status.PROPOSED.value or p.version != int(r["version"]):
            continue
        note = f"回答票 {letter_code(letter.id)} を送付"
        rows[k] = _snapshot(set_status(session, p.id, "contacted", p.version, actor, note))
        moved.append(p.id)
    if moved:
        letter.rows = rows  # a new list: the JSON column sees the change
        session.flush()
    return moved


def _new_token(
    session: Session, letter: ReplyLetterRow, deadline: dt.date, actor: str
) -> IssuedLink:
    moved = _ask(session, letter, actor)
    now = utcnow()
    for t in session.scalars(
        select(ReplyTokenRow).where(
            ReplyTokenRow.letter_id == letter.id, ReplyTokenRow.revoked_at.is_(None)
        )
    ):
        t.revoked_at, t.revoked_by, t.revoked_reason = now, actor[:100], "reissued"
    token = secrets.token_urlsafe(32)
    expires = deadline_end(deadline)
    session.add(
        ReplyTokenRow(
            letter_id=letter.id,
            token_hash=token_hash(token),
            issued_at=now,
            issued_by=actor[:100],
            expires_at=expires,
            revoked_by="",
            revoked_reason="",
        )
    )
    letter.deadline = deadline
    session.flush()
    audit(
        session,
        actor[:100],
        "reply.link",
        f"回答票 L{letter.id}",
        {
            "expires_at": expires.isoformat(),
            "deadline": deadline.isoformat(),
            **({"contacted": moved} if moved else {}),
        },
    )
    return IssuedLink(
        letter.id,
        letter.recipient_kind,
        letter.recipient_id,
        _recipient_name(session, letter.recipient_kind, letter.recipient_id),
        token,
        expires,
        deadline,
    )


def _check_deadline(deadline: dt.date, today: dt.date | None) -> None:
    today = today or today_jst()
    if deadline < today:
        raise InputError(
            RowIssue(
                "",
                None,
                "deadline",
                deadline.isoformat(),
                f"回答期限 {deadline.isoformat()} は過ぎています (今日: {today.isoformat()})",
            )
        )


def issue_links(
    session: Session,
    run_id: int,
    deadline: dt.date,
    actor: str,
    *,
    reissue: bool = False,
    today: dt.date | None = None,
) -> list[IssuedLink]:
    """Tokens for the letters of run ``run_id`` that have no live link (``reissue``: for every
    letter, revoking the links before). The tokens exist in clear only in what this returns."""
    _check_deadline(deadline, today)
    now = utcnow()
    out = []
    for letter in ensure_letters(session, run_id, actor, deadline):
        if not reissue and _live_token(session, letter.id, now) is not None:
            continue
        out.append(_new_token(session, letter, deadline, actor))
    return out


def reissue_link(
    session: Session,
    letter_id: int,
    actor: str,
    deadline: dt.date | None = None,
    today: dt.date | None = None,
) -> IssuedLink:
    """A new token for one letter; the letter's earlier links stop working."""
    letter = _letter(session, letter_id)
    deadline = deadline or letter.deadline
    if deadline is None:
        raise InputError(RowIssue("", None, "deadline", None, "回答期限を指定してください"))
    _check_deadline(deadline, today)
    return _new_token(session, letter, deadline, actor)


def revoke_links(session: Session, letter_id: int, actor: str) -> int:
    """End every live link of a letter; how many were live."""
    _letter(session, letter_id)
    now = utcnow()
    n = 0
    for t in session.scalars(
        select(ReplyTokenRow).where(
            ReplyTokenRow.letter_id == letter_id, ReplyTokenRow.revoked_at.is_(None)
        )
    ):
        t.revoked_at, t.revoked_by, t.revoked_reason = now, actor[:100], "revoked"
        n += 1
    session.flush()
    audit(session, actor[:100], "reply.revoke", f"回答票 L{letter_id}", {"links": n})
    return n


def set_locked(session: Session, letter_id: int, locked: bool, actor: str) -> None:
    """Close (or reopen) a letter's answers: a locked letter's link shows the answers only."""
    letter = _letter(session, letter_id)
    letter.locked_at = utcnow() if locked else None
    letter.locked_by = actor[:100] if locked else ""
    session.flush()
    audit(session, actor[:100], "reply.lock" if locked else "reply.unlock", f"回答票 L{letter_id}")


def _live_token(session: Session, letter_id: int, now: dt.datetime) -> ReplyTokenRow | None:
    return session.scalar(
        select(ReplyTokenRow)
        .where(
            ReplyTokenRow.letter_id == letter_id,
            ReplyTokenRow.revoked_at.is_(None),
            ReplyTokenRow.expires_at > now,
        )
        .order_by(ReplyTokenRow.id.desc())
        .limit(1)
    )


def _link_state(
    session: Session, letter_id: int, now: dt.datetime
) -> tuple[LinkState, dt.datetime | None]:
    t = session.scalar(
        select(ReplyTokenRow)
        .where(ReplyTokenRow.letter_id == letter_id)
        .order_by(ReplyTokenRow.id.desc())
        .limit(1)
    )
    if t is None:
        return "none", None
    if t.revoked_at is not None:
        return "revoked", t.expires_at
    return ("active" if t.expires_at > now else "expired"), t.expires_at


def letter_for_token(session: Session, token: str, now: dt.datetime | None = None) -> int:
    """The letter a token opens, or ``LinkRefused`` (unknown, expired, revoked)."""
    if not TOKEN_PATTERN.fullmatch(token or ""):
        raise LinkRefused("unknown")
    t = session.scalar(select(ReplyTokenRow).where(ReplyTokenRow.token_hash == token_hash(token)))
    if t is None:
        raise LinkRefused("unknown")
    if t.revoked_at is not None:
        raise LinkRefused("revoked")
    if (now or utcnow()) >= t.expires_at:
        raise LinkRefused("expired")
    return t.letter_id


def letters_of_areas(session: Session, area_ids: Iterable[int]) -> list[int]:
    """The letters of the runs of ``area_ids`` (the areas a user sees)."""
    ids = list(area_ids)
    if not ids:
        return []
    return list(
        session.scalars(
            select(ReplyLetterRow.id)
            .join(RunRow, RunRow.id == ReplyLetterRow.run_id)
            .where(RunRow.area_id.in_(ids))
        )
    )


def letter_run_area(session: Session, letter_id: int) -> str:
    """The code of the area whose run the letter belongs to (for scope checks)."""
    letter = _letter(session, letter_id)
    run = session.get(RunRow, letter.run_id)
    area = session.get(AreaRow, run.area_id) if run is not None else None
    if area is None:  # pragma: no cover - foreign keys keep both
        raise NotFoundError(f"回答票 L{letter_id} は存在しません")
    return area.code


def letter_view(session: Session, letter_id: int, today: dt.date | None = None) -> LetterView:
    """A letter with its rows as asked and as they are now, and its recipient's current data."""
    letter = _letter(session, letter_id)
    run = session.get(RunRow, letter.run_id)
    area = session.get(AreaRow, run.area_id) if run is not None else None
    ids = [int(r["proposal_id"]) for r in letter.rows]
    now_rows = (
        {p.id: p for p in session.scalars(select(ProposalRow).where(ProposalRow.id.in_(ids)))}
        if ids
        else {}
    )
    fac_ids = {str(r["facility_id"]) for r in letter.rows}
    inst_ids = {str(r["institution_id"]) for r in letter.rows}
    facs = {
        f.facility_id: f
        for f in session.scalars(select(FacilityRow).where(FacilityRow.facility_id.in_(fac_ids)))
    }
    insts = {
        i.institution_id: i
        for i in session.scalars(
            select(InstitutionRow).where(InstitutionRow.institution_id.in_(inst_ids))
        )
    }
    backs = backups_of(session, ids)
    rows = []
    for r in letter.rows:
        pid = int(r["proposal_id"])
        p = now_rows.get(pid)
        f, i = facs.get(str(r["facility_id"])), insts.get(str(r["institution_id"]))
        rows.append(
            LetterRow(
                pid,
                str(r["facility_id"]),
                f.name if f else str(r["facility_id"]),
                f.kind if f else "",
                f.address if f else "",
                str(r["institution_id"]),
                i.name if i else str(r["institution_id"]),
                i.kind if i else "",
                i.address if i else "",
                int(p.covers if p else r["covers"]),
                float(p.distance_km if p else r["km"]),
                p.status if p else str(r["status"]),
                p.version if p else int(r["version"]),
                str(r["status"]),
                int(r["version"]),
                int(r["covers"]),
                backs.get(pid),
            )
        )
    kind, rid = letter.recipient_kind, letter.recipient_id
    extra: dict[str, Any] = {}
    if kind == "institution":
        row = session.get(InstitutionRow, rid)
        name, address = (row.name, row.address) if row else (rid, "")
        if row is not None:
            st = institution_states(session, [row], today or today_jst())[rid]
            extra = {
                "capacity": st.declared,
                "offers": st.offers,
                "infection_agreement": st.infection_agreement,
            }
    else:
        frow = session.get(FacilityRow, rid)
        name, address = (frow.name, frow.address) if frow else (rid, "")
        filing = latest_filings(session, [rid]).get(rid)
        extra = {
            "partners": tuple(p.partner_name or p.institution_id or "" for p in filing.partners)
            if filing
            else ()
        }
    link, expires = _link_state(session, letter.id, utcnow())
    return LetterView(
        letter.id,
        letter.run_id,
        area.code if area else "",
        area.name if area else "",
        kind,
        rid,
        name,
        address,
        letter.deadline,
        letter.locked_at is not None,
        tuple(rows),
        link=link,
        link_expires_at=expires,
        **extra,
    )


def letter_summaries(session: Session, run_id: int) -> list[LetterSummary]:
    """The letters made for run ``run_id`` (institutions first), with link and answer counts."""
    letters = list(
        session.scalars(
            select(ReplyLetterRow)
            .where(ReplyLetterRow.run_id == run_id)
            .order_by(ReplyLetterRow.recipient_kind.desc(), ReplyLetterRow.recipient_id)
        )
    )
    if not letters:
        return []
    ids = [x.id for x in letters]
    answers = {
        lid: (n, last)
        for lid, n, last in session.execute(
            select(ReplyAnswerRow.letter_id, func.count(), func.max(ReplyAnswerRow.at))
            .where(ReplyAnswerRow.letter_id.in_(ids), ReplyAnswerRow.outcome != "rejected")
            .group_by(ReplyAnswerRow.letter_id)
        )
    }
    held = dict(
        session.execute(
            select(ReplyItemRow.letter_id, func.count())
            .where(
                ReplyItemRow.letter_id.in_(ids),
                ReplyItemRow.outcome == "held",
                ReplyItemRow.resolved_at.is_(None),
            )
            .group_by(ReplyItemRow.letter_id)
        ).all()
    )
    names: dict[str, dict[str, str]] = {
        kind: _names(session, kind, [x.recipient_id for x in letters if x.recipient_kind == kind])
        for kind in RECIPIENT_KINDS
    }
    now = utcnow()
    out = []
    for x in letters:
        link, expires = _link_state(session, x.id, now)
        n, last = answers.get(x.id, (0, None))
        table = names[x.recipient_kind]
        out.append(
            LetterSummary(
                x.id,
                letter_code(x.id),
                x.recipient_kind,
                x.recipient_id,
                table.get(x.recipient_id, x.recipient_id),
                len(x.rows),
                x.deadline,
                x.locked_at is not None,
                link,
                expires,
                int(n),
                last,
                int(held.get(x.id, 0)),
            )
        )
    return out


# --- rounds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundView:
    """One round: the letters of one run — made, sent (a link issued), answered, still open
    (sent, unanswered, not locked), answers held for the coordinator, the earliest deadline."""

    run_id: int
    area_code: str
    area_name: str
    letters: int
    sent: int
    answered: int
    outstanding: int
    held: int
    deadline: dt.date | None
    days_left: int | None  # to the deadline, from today (JST); negative once it passed


def round_of(
    run_id: int,
    area_code: str,
    area_name: str,
    letters: Sequence[LetterSummary],
    today: dt.date | None = None,
) -> RoundView:
    """The round of run ``run_id`` from its letters (``letter_summaries``)."""
    sent = [x for x in letters if x.link != "none"]
    deadline = min((x.deadline for x in letters if x.deadline is not None), default=None)
    return RoundView(
        run_id,
        area_code,
        area_name,
        len(letters),
        len(sent),
        sum(x.answers > 0 for x in sent),
        sum(x.answers == 0 and not x.locked for x in sent),
        sum(x.held for x in letters),
        deadline,
        None if deadline is None else (deadline - (today or today_jst())).days,
    )


def rounds(session: Session, area_ids: Sequence[int], limit: int = 5) -> list[RoundView]:
    """The rounds of the latest ``limit`` runs of ``area_ids`` that made letters, newest first."""
    if not area_ids:
        return []
    runs = session.execute(
        select(RunRow, AreaRow)
        .join(AreaRow, AreaRow.id == RunRow.area_id)
        .where(
            RunRow.area_id.in_(area_ids),
            RunRow.id.in_(select(ReplyLetterRow.run_id).distinct()),
        )
        .order_by(RunRow.id.desc())
        .limit(limit)
    ).all()
    today = today_jst()
    return [
        round_of(run.id, area.code, area.name, letter_summaries(session, run.id), today)
        for run, area in runs
    ]


@dataclass(frozen=True)
class DeclineView:
    """A decline a recipient sent (link or Excel) after its area's latest run: the pair to
    re-plan, and the run whose parameters the re-plan's preview starts from."""

    letter_id: int
    proposal_id: int
    facility_id: str
    facility_name: str
    institution_id: str
    institution_name: str
    channel: str
    at: dt.datetime
    run_id: int
    area_code: str
    area_name: str
    mode: str
    params: dict[str, Any]


def declines_to_replan(session: Session, letter_ids: Iterable[int]) -> list[DeclineView]:
    """Declines of ``letter_ids`` received through a link or a returned form that no run of the
    letter's area has planned around yet (the area's latest run finished before the answer),
    oldest first."""
    ids = list(letter_ids)
    if not ids:
        return []
    rows = session.execute(
        select(ReplyItemRow, ReplyAnswerRow, RunRow, AreaRow, ProposalRow)
        .join(ReplyAnswerRow, ReplyAnswerRow.id == ReplyItemRow.answer_id)
        .join(ReplyLetterRow, ReplyLetterRow.id == ReplyItemRow.letter_id)
        .join(RunRow, RunRow.id == ReplyLetterRow.run_id)
        .join(AreaRow, AreaRow.id == RunRow.area_id)
        .join(ProposalRow, ProposalRow.id == ReplyItemRow.proposal_id)
        .where(
            ReplyItemRow.letter_id.in_(ids),
            ReplyItemRow.item == "row",
            ReplyItemRow.answer == "decline",
            ReplyItemRow.outcome == "applied",
            ReplyAnswerRow.channel.in_(("link", "excel")),
            ProposalRow.status == Status.DECLINED.value,
        )
        .order_by(ReplyItemRow.id)
    ).all()
    if not rows:
        return []
    latest = dict(
        session.execute(
            select(RunRow.area_id, func.max(RunRow.finished_at))
            .where(RunRow.area_id.in_({area.id for *_, area, _ in rows}))
            .group_by(RunRow.area_id)
        ).all()
    )
    facs = _names(session, "facility", [p.facility_id for *_, p in rows])
    insts = _names(session, "institution", [p.institution_id for *_, p in rows])
    return [
        DeclineView(
            int(item.letter_id or 0),
            p.id,
            p.facility_id,
            facs.get(p.facility_id, p.facility_id),
            p.institution_id,
            insts.get(p.institution_id, p.institution_id),
            answer.channel,
            answer.at,
            run.id,
            area.code,
            area.name,
            run.mode,
            dict(run.params),
        )
        for item, answer, run, area, p in rows
        if latest.get(area.id) is None or latest[area.id] <= answer.at
    ]


# --- checking an answer ------------------------------------------------------------------------


def check_answer(letter: LetterView, answer: LetterAnswer, source: str = "回答") -> None:
    """Every problem of ``answer`` against ``letter`` at once (``InputError``), or nothing.

    A row of another letter, an unknown choice, a condition without its text, a number or a
    text out of bounds: the whole answer is refused, so that nothing of it is applied.
    """
    issues: list[RowIssue] = []

    def bad(column: str, value: object, message: str, row: int | None = None) -> None:
        issues.append(RowIssue(source, row, column, None if value is None else str(value), message))

    asked = set(letter.proposal_ids)
    seen: set[int] = set()
    for k, r in enumerate(answer.rows, start=1):
        n = r.line or k
        if r.proposal_id not in asked:
            bad("整理番号", r.proposal_id, "この回答票にない行です", n)
            continue
        if r.proposal_id in seen:
            bad("整理番号", r.proposal_id, "同じ行に二つの回答があります", n)
        seen.add(r.proposal_id)
        if r.answer not in ANSWER_CODES:
            choices = "・".join(ANSWER_LABELS_JA[letter.kind].values())
            bad("回答", r.answer, f"回答は {choices} のいずれかを選んでください", n)
        elif r.answer == "conditional" and not r.reason.strip():
            bad(
                "理由・条件",
                "",
                f"「{letter.answer_label('conditional')}」のときは条件を書いてください",
                n,
            )
        if len(r.reason) > MAX_REASON:
            bad("理由・条件", None, f"{MAX_REASON} 文字以内で書いてください", n)
        if r.from_date is not None and not dt.date(2024, 1, 1) <= r.from_date <= dt.date(
            2100, 12, 31
        ):
            bad("受入開始日", r.from_date, "日付が正しくありません", n)
    if letter.kind == "facility" and (
        answer.capacity is not None
        or answer.offers is not None
        or answer.infection_agreement is not None
    ):
        bad("受入枠", None, "施設の回答票に医療機関の項目は書けません")
    if letter.kind == "institution" and answer.partner_changes:
        bad("協力医療機関の変更", None, "医療機関の回答票に施設の項目は書けません")
    if answer.capacity is not None and not 0 <= answer.capacity <= MAX_CAPACITY:
        bad(
            "受入可能な施設数", answer.capacity, f"0 から {MAX_CAPACITY} までの整数で書いてください"
        )
    if answer.offers is not None and not 0 <= answer.offers <= 7:
        bad("対応できる要件", answer.offers, "①②③ から選んでください")
    issues += partner_change_issues(answer.partner_changes, source)
    issues += text_issues(
        [
            ("ご担当者", answer.person, MAX_PERSON),
            ("連絡先", answer.contact, MAX_CONTACT),
            ("備考", answer.note, MAX_NOTE),
        ],
        source,
    )
    if not issues and answer.is_empty():
        bad("回答", None, "回答がありません。少なくとも一つの項目に答えてください")
    if issues:
        raise InputError(issues)


# --- applying an answer ----------------------------------------------------------------------


def _hash(*parts: object) -> str:
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _latest_item(
    session: Session, letter_id: int, item: str, proposal_id: int | None
) -> ReplyItemRow | None:
    q = select(ReplyItemRow).where(
        ReplyItemRow.letter_id == letter_id,
        ReplyItemRow.item == item,
        ReplyItemRow.outcome.in_(("applied", "held", "unchanged")),
    )
    if proposal_id is not None:
        q = q.where(ReplyItemRow.proposal_id == proposal_id)
    return session.scalar(q.order_by(ReplyItemRow.id.desc()).limit(1))


def _known_version(session: Session, row: LetterRow) -> int:
    """The proposal's version as the reply system last saw it: the letter's, or the one an
    applied answer (of any letter) left."""
    after = session.scalar(
        select(func.max(ReplyItemRow.version_after)).where(
            ReplyItemRow.proposal_id == row.proposal_id,
            ReplyItemRow.version_after.is_not(None),
        )
    )
    return max(row.asked_version, int(after or 0))


def _version_dict(p: ProposalRow) -> dict[str, Any]:
    return {
        "status": p.status,
        "covers": p.covers,
        "km": round(p.distance_km, 3),
        "version": p.version,
        "updated_by": p.updated_by,
        "updated_at": p.updated_at.isoformat(),
    }


def _label(status: str) -> str:
    return Status(status).label_ja


@dataclass
class _Item:
    item: str
    outcome: str
    message: str
    proposal_id: int | None = None
    label: str = ""
    answer: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    item_hash: str = ""
    versions: dict[str, Any] = field(default_factory=dict)
    version_after: int | None = None
    resolution: str = ""  # "intake": resolved at once, the request waits in the queue

    def result(self) -> ItemResult:
        return ItemResult(
            self.item, self.outcome, self.message, self.proposal_id, self.label, self.answer
        )


# the fields of ``_Item`` stored as they are
_ITEM_COLUMNS = (
    "item",
    "proposal_id",
    "answer",
    "detail",
    "item_hash",
    "outcome",
    "versions",
    "version_after",
    "resolution",
)


def _store_items(
    session: Session, answer_id: int, letter_id: int | None, items: Iterable[_Item]
) -> None:
    """The ``reply_items`` of one stored answer (or refused file)."""
    now = utcnow()
    for i in items:
        columns = {name: getattr(i, name) for name in _ITEM_COLUMNS}
        session.add(
            ReplyItemRow(
                answer_id=answer_id,
                letter_id=letter_id,
                **columns,
                message=i.message[:2000],
                resolved_at=now if i.resolution else None,
                resolved_by="",
            )
        )
    session.flush()


def _apply_row(
    session: Session,
    letter: LetterView,
    row: LetterRow,
    ra: RowAnswer,
    channel: str,
    actor: str,
) -> _Item:
    answer_ja = letter.answer_label(ra.answer)
    label = row.facility_name if letter.kind == "institution" else row.institution_name
    detail = {
        "reason": ra.reason,
        "from_date": ra.from_date.isoformat() if ra.from_date else None,
    }
    h = _hash(letter.id, "row", row.proposal_id, ra.answer, ra.reason.strip(), detail["from_date"])
    item = _Item("row", "", "", row.proposal_id, label, ra.answer, detail, h)
    last = _latest_item(session, letter.id, "row", row.proposal_id)
    if last is not None and last.item_hash == h:
        item.outcome, item.message = "duplicate", "前回と同じ回答です"
        return item
    p = session.get(ProposalRow, row.proposal_id, populate_existing=True)
    if p is None:  # pragma: no cover - proposals are never deleted
        item.outcome, item.message = "held", "提案が見つかりません"
        return item
    target = ANSWER_STATUS[letter.kind][ra.answer]
    asked = {
        "status": row.asked_status,
        "covers": row.asked_covers,
        "version": row.asked_version,
        "run_id": letter.run_id,
    }
    versions = {"letter": asked, "now": _version_dict(p)}
    changed = p.version != _known_version(session, row)
    still_live = p.status in LIVE and p.covers == row.asked_covers
    if changed and not still_live:
        moot = settled_note(session, p)
        if moot:
            item.outcome, item.message = "unchanged", moot
        elif p.status == target:
            item.outcome = "unchanged"
            item.message = f"既に「{_label(p.status)}」になっています"
        else:
            item.outcome, item.versions = "held", versions
            item.message = (
                f"回答票を送った後に提案が変わりました (送付時: {_label(row.asked_status)}、"
                f"現在: {_label(p.status)})。担当者が確認します"
            )
        return item
    target, conditional = answer_target(session, p, target)  # a backup's yes waits its primary
    note = f"{CHANNEL_LABELS_JA[channel]}で回答 (回答票 L{letter.id}): {answer_ja}"
    if conditional:
        note += f" / {conditional}"
    if ra.reason.strip():
        note += f" / 理由・条件: {ra.reason.strip()}"
    if ra.from_date:
        note += f" / 開始日: {ra.from_date.isoformat()}"
    if p.status == target:
        item.outcome = "unchanged"
        item.message = f"「{_label(p.status)}」のままです" + (
            f" (条件: {ra.reason.strip()})" if ra.reason.strip() else ""
        )
        # A 条件付き to a request already 打診中 (its letter was sent): the condition still goes
        # into the history, as the module docstring promises.
        if ra.reason.strip():
            record_history(session, p, p.status, actor, note)
            session.flush()
        return item
    if target not in TRANSITIONS[p.status]:
        item.outcome, item.versions = "held", versions
        item.message = (
            f"現在の「{_label(p.status)}」から「{_label(target)}」には変更できません。"
            "担当者が確認します"
        )
        return item
    changed_row = set_status(session, p.id, cast(StatusCode, target), p.version, actor, note)
    item.outcome, item.version_after = "applied", changed_row.version
    item.message = f"「{_label(target)}」にしました" + (f" ({conditional})" if conditional else "")
    if changed_row.status != target:  # a 受入可 held under the run's strategy (``holds``)
        item.message = f"「{_label(changed_row.status)}」のまま: {HELD_NOTE}"
    return item


def _apply_declaration(
    session: Session,
    letter: LetterView,
    answer: LetterAnswer,
    channel: str,
    today: dt.date,
) -> _Item | None:
    if letter.kind != "institution" or (
        answer.capacity is None and answer.offers is None and answer.infection_agreement is None
    ):
        return None
    iid = letter.recipient_id
    detail = {
        "capacity": answer.capacity,
        "offers": answer.offers,
        "infection_agreement": answer.infection_agreement,
    }
    h = _hash(letter.id, "declaration", detail)
    item = _Item("declaration", "", "", None, DECLARATION_LABEL_JA, "", detail, h)
    last = _latest_item(session, letter.id, "declaration", None)
    if last is not None and last.item_hash == h:
        item.outcome, item.message = "duplicate", "前回と同じ回答です"
        return item
    row = session.get(InstitutionRow, iid)
    if row is None:  # pragma: no cover - institutions are never deleted
        item.outcome, item.message = "held", "医療機関が見つかりません"
        return item
    st = institution_states(session, [row], today)[iid]
    differs = (
        (answer.capacity is not None and answer.capacity != st.declared)
        or (answer.offers is not None and admissible_offers(row.kind, answer.offers) != st.offers)
        or (
            answer.infection_agreement is not None
            and answer.infection_agreement != st.infection_agreement
        )
    )
    if not differs:
        item.outcome, item.message = "unchanged", "受入枠・対応できる要件は今の申告と同じです"
        return item
    # The declaration in force, with what was answered written over it.
    now = current_declarations(session, [iid], today).get(iid)
    import_declarations(
        session,
        [
            Declaration(
                iid,
                valid_from=today,
                capacity=answer.capacity
                if answer.capacity is not None
                else (now.capacity if now else None),
                offers=answer.offers
                if answer.offers is not None
                else (now.offers if now else None),
                willing=True if answer.capacity is not None else (now.willing if now else True),
                source=f"回答票 L{letter.id} ({CHANNEL_LABELS_JA[channel]})",
                infection_agreement=answer.infection_agreement
                if answer.infection_agreement is not None
                else (now.infection_agreement if now else None),
            )
        ],
    )
    item.outcome = "applied"
    item.message = "受入枠・対応できる要件の申告として登録しました"
    return item


def _partners_item(
    letter: LetterView, answer: LetterAnswer, session: Session, actor: str
) -> _Item | None:
    """A facility's partner changes: a request in the 相談窓口's queue (its item is resolved at
    once, so that the changes wait in one place: the queue, where confirming them updates the
    filing)."""
    if letter.kind != "facility" or not answer.partner_changes:
        return None
    changes = [c.as_dict() for c in answer.partner_changes]
    h = _hash(letter.id, "partners", changes)
    item = _Item("partners", "", "", None, PARTNERS_LABEL_JA, "", {"changes": changes}, h)
    last = _latest_item(session, letter.id, "partners", None)
    if last is not None and last.item_hash == h:
        item.outcome, item.message = "duplicate", "前回と同じ回答です"
        return item
    request = submit(
        session,
        IntakeRequest(
            "partners",
            partner_changes=answer.partner_changes,
            person=answer.person,
            contact=answer.contact,
        ),
        "reply",
        actor,
        letter_id=letter.id,
        facility_id=letter.recipient_id,
    )
    item.outcome, item.resolution = "held", "intake"
    item.detail = {**item.detail, "request_id": request.id}
    item.message = (
        f"協力医療機関の変更は相談窓口の受付 {request_code(request.id)} として、"
        "担当者が確認してから届出に反映します"
    )
    return item


def record_answer(
    session: Session,
    letter_id: int,
    answer: LetterAnswer,
    channel: Channel,
    actor: str,
    *,
    file_name: str = "",
    file_hash: str = "",
    batch: str = "",
    today: dt.date | None = None,
    source: str = "回答",
) -> AnswerResult:
    """Check ``answer`` as a whole, then apply it part by part (module docstring).

    Raises ``InputError`` (nothing applied) for a wrong answer and ``LetterLocked`` when the
    letter's answers are closed — except for answers a coordinator types in.
    """
    letter_row = _letter(session, letter_id)
    if letter_row.locked_at is not None and channel != "coordinator":
        raise LetterLocked(letter_id)
    today = today or today_jst()
    letter = letter_view(session, letter_id, today)
    check_answer(letter, answer, source)
    items: list[_Item] = []
    for ra in sorted(answer.rows, key=lambda r: letter.proposal_ids.index(r.proposal_id)):
        row = letter.row(ra.proposal_id)
        assert row is not None  # check_answer refused rows of other letters
        items.append(_apply_row(session, letter, row, ra, channel, actor))
    for extra in (
        _apply_declaration(session, letter, answer, channel, today),
        _partners_item(letter, answer, session, actor),
    ):
        if extra is not None:
            items.append(extra)
    outcomes = {i.outcome for i in items}
    outcome = next(
        (o for o in ("held", "applied", "unchanged") if o in outcomes),
        "duplicate" if items else "applied",
    )
    stored = ReplyAnswerRow(
        letter_id=letter_id,
        channel=channel,
        actor=actor[:100],
        at=utcnow(),
        content=answer.as_dict(),
        outcome=outcome,
        message="",
        file_name=file_name[:300],
        file_hash=file_hash,
        batch=batch,
    )
    session.add(stored)
    session.flush()
    _store_items(session, stored.id, letter_id, items)
    audit(
        session,
        actor[:100],
        "reply.answer",
        f"回答票 L{letter_id}",
        {
            "channel": channel,
            "run_id": letter.run_id,
            "recipient": f"{letter.kind}:{letter.recipient_id}",
            "outcome": outcome,
            "items": {o: sum(i.outcome == o for i in items) for o in sorted(outcomes)},
            **({"file": file_name[:200]} if file_name else {}),
        },
    )
    return AnswerResult(
        stored.id,
        letter_id,
        outcome,
        tuple(i.result() for i in items),
        file_name,
        channel=channel,
        at=stored.at,
    )


def record_refused(
    session: Session,
    file_name: str,
    message: str,
    actor: str,
    *,
    issues: Sequence[RowIssue] = (),
    letter_id: int | None = None,
    file_hash: str = "",
    batch: str = "",
    channel: Channel = "excel",
) -> AnswerResult:
    """Keep a refused file (or answer) with its reasons; nothing of it was applied."""
    row = ReplyAnswerRow(
        letter_id=letter_id,
        channel=channel,
        actor=actor[:100],
        at=utcnow(),
        content={},
        outcome="rejected",
        message=message[:2000],
        file_name=file_name[:300],
        file_hash=file_hash,
        batch=batch,
    )
    session.add(row)
    session.flush()
    items = []
    for i in issues:
        where = "、".join(x for x in (f"{i.row} 行目" if i.row else "", i.column or "") if x)
        text = f"{where}: {i.message}" if where else i.message
        detail = {"row": i.row, "column": i.column}
        items.append(_Item("file" if i.row is None else "row", "rejected", text, detail=detail))
    _store_items(session, row.id, letter_id, items)
    return AnswerResult(
        row.id,
        letter_id,
        "rejected",
        tuple(i.result() for i in items),
        file_name,
        message,
        channel,
        row.at,
    )


def record_duplicate_file(
    session: Session,
    file_name: str,
    letter_id: int | None,
    file_hash: str,
    earlier: ReplyAnswerRow,
    actor: str,
    batch: str,
) -> AnswerResult:
    """Keep the note that a file came again (nothing applied)."""
    message = (
        f"同じファイルを取り込み済みです (回答 {earlier.id}、"
        f"{earlier.at.replace(tzinfo=dt.UTC).astimezone(JST):%Y-%m-%d %H:%M})。"
        "何も反映していません"
    )
    row = ReplyAnswerRow(
        letter_id=letter_id,
        channel="excel",
        actor=actor[:100],
        at=utcnow(),
        content={},
        outcome="duplicate",
        message=message,
        file_name=file_name[:300],
        file_hash=file_hash,
        batch=batch,
    )
    session.add(row)
    session.flush()
    return AnswerResult(row.id, letter_id, "duplicate", (), file_name, message, "excel", row.at)


def earlier_file(session: Session, file_hash: str) -> ReplyAnswerRow | None:
    """The answer an identical file (same bytes) already brought in, if any."""
    return session.scalar(
        select(ReplyAnswerRow)
        .where(
            ReplyAnswerRow.file_hash == file_hash,
            ReplyAnswerRow.outcome.not_in(("rejected", "duplicate")),
        )
        .order_by(ReplyAnswerRow.id)
        .limit(1)
    )


# --- reading answers back ------------------------------------------------------------------


def latest_answer(session: Session, letter_id: int) -> LetterAnswer | None:
    """The letter's last accepted answer (to fill the form again for a correction)."""
    row = session.scalar(
        select(ReplyAnswerRow)
        .where(
            ReplyAnswerRow.letter_id == letter_id,
            ReplyAnswerRow.outcome.not_in(("rejected", "duplicate")),
        )
        .order_by(ReplyAnswerRow.id.desc())
        .limit(1)
    )
    return LetterAnswer.from_dict(row.content) if row is not None else None


def _result(
    row: ReplyAnswerRow, items: Iterable[ReplyItemRow], labels: dict[int, str]
) -> AnswerResult:
    return AnswerResult(
        row.id,
        row.letter_id,
        row.outcome,
        tuple(
            ItemResult(
                i.item,
                i.outcome,
                i.message,
                i.proposal_id,
                _ITEM_LABELS.get(i.item) or labels.get(i.proposal_id or 0, ""),
                i.answer,
            )
            for i in items
        ),
        row.file_name,
        row.message,
        row.channel,
        row.at,
    )


_ITEM_LABELS = {"declaration": DECLARATION_LABEL_JA, "partners": PARTNERS_LABEL_JA}


def _items_of(session: Session, answer_ids: list[int]) -> dict[int, list[ReplyItemRow]]:
    out: dict[int, list[ReplyItemRow]] = {}
    if answer_ids:
        for i in session.scalars(
            select(ReplyItemRow)
            .where(ReplyItemRow.answer_id.in_(answer_ids))
            .order_by(ReplyItemRow.id)
        ):
            out.setdefault(i.answer_id, []).append(i)
    return out


def letter_answers(session: Session, letter: LetterView) -> list[AnswerResult]:
    """Every answer of a letter, newest first, with the results of its parts."""
    rows = list(
        session.scalars(
            select(ReplyAnswerRow)
            .where(ReplyAnswerRow.letter_id == letter.id)
            .order_by(ReplyAnswerRow.id.desc())
        )
    )
    labels = {
        r.proposal_id: r.facility_name if letter.kind == "institution" else r.institution_name
        for r in letter.rows
    }
    items = _items_of(session, [r.id for r in rows])
    return [_result(r, items.get(r.id, []), labels) for r in rows]


def batch_results(session: Session, batch: str) -> list[AnswerResult]:
    """The files of one upload, in the order they were read."""
    rows = list(
        session.scalars(
            select(ReplyAnswerRow).where(ReplyAnswerRow.batch == batch).order_by(ReplyAnswerRow.id)
        )
    )
    items = _items_of(session, [r.id for r in rows])
    return [_result(r, items.get(r.id, []), {}) for r in rows]


def held_items(
    session: Session, letter_ids: Iterable[int] | None = None, include_resolved: bool = False
) -> list[HeldItem]:
    """Answer parts waiting for the coordinator (held, or conditional and not yet seen), oldest
    first; ``letter_ids`` limits them to letters the caller may see."""
    q = (
        select(ReplyItemRow, ReplyAnswerRow, ReplyLetterRow)
        .join(ReplyAnswerRow, ReplyAnswerRow.id == ReplyItemRow.answer_id)
        .join(ReplyLetterRow, ReplyLetterRow.id == ReplyItemRow.letter_id)
        .where(ReplyItemRow.outcome.in_(("held", "applied", "unchanged")))
        .where(
            (ReplyItemRow.outcome == "held")
            | ((ReplyItemRow.answer == "conditional") & (ReplyItemRow.item == "row"))
        )
        .order_by(ReplyItemRow.id)
    )
    if letter_ids is not None:
        ids = list(letter_ids)
        if not ids:
            return []
        q = q.where(ReplyItemRow.letter_id.in_(ids))
    if not include_resolved:
        q = q.where(ReplyItemRow.resolved_at.is_(None))
    out = []
    for item, ans, letter in session.execute(q):
        out.append(
            HeldItem(
                item.id,
                letter.id,
                letter.recipient_kind,
                _recipient_name(session, letter.recipient_kind, letter.recipient_id),
                item.item,
                item.proposal_id,
                item.answer,
                ANSWER_LABELS_JA[letter.recipient_kind].get(item.answer, ""),
                dict(item.detail),
                item.message,
                dict(item.versions),
                ans.channel,
                ans.at,
                item.resolved_at is not None,
                item.resolution,
            )
        )
    return out


def resolve_item(
    session: Session,
    item_id: int,
    action: Literal["apply", "dismiss"],
    actor: str,
    note: str = "",
) -> ItemResult:
    """The coordinator's decision on a held (or conditional) part: ``apply`` the answer to the
    proposal as it is now (the lifecycle still decides what is allowed: ``TransitionError``), or
    ``dismiss`` it (seen, nothing changed)."""
    item = session.get(ReplyItemRow, item_id, populate_existing=True)
    if item is None or item.letter_id is None or item.resolved_at is not None:
        raise NotFoundError(f"確認待ちの回答 {item_id} は見つかりません")
    letter = _letter(session, item.letter_id)
    message = "確認済み (変更なし)"
    if action == "apply" and item.item == "row" and item.outcome == "held":
        assert item.proposal_id is not None
        target = ANSWER_STATUS[letter.recipient_kind][item.answer]
        p = session.get(ProposalRow, item.proposal_id, populate_existing=True)
        assert p is not None
        answer_ja = ANSWER_LABELS_JA[letter.recipient_kind][item.answer]
        text = f"保留していた回答を担当者が反映 (回答票 L{letter.id}): {answer_ja}"
        reason = str(item.detail.get("reason") or "").strip()
        if reason:
            text += f" / 理由・条件: {reason}"
        if note.strip():
            text += f" / {note.strip()}"
        message = f"回答どおり「{_label(target)}」にしました"
        if p.status != target:
            changed = set_status(session, p.id, cast(StatusCode, target), p.version, actor, text)
            item.version_after = changed.version
            if changed.status != target:  # held under the run's strategy (``holds``)
                message = f"「{_label(changed.status)}」のまま: {HELD_NOTE}"
    item.resolved_at, item.resolved_by = utcnow(), actor[:100]
    item.resolution = action
    session.flush()
    audit(
        session,
        actor[:100],
        "reply.resolve",
        f"回答票 L{letter.id}",
        {"item": item.id, "action": action, "proposal_id": item.proposal_id},
    )
    return ItemResult(item.item, item.outcome, message, item.proposal_id, "", item.answer)
