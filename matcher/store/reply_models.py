"""The tables of what comes back from outside: letters, their one-time links, answers and items
(revision ``0008_replies``, logic in ``matcher.store.replies``), and the 相談窓口's requests
(revision ``0009_intake``, logic in ``matcher.store.intake``).

Registered on the store's one ``Base`` (``matcher.store.models``).

- ``reply_letters``: one letter = (run, recipient kind, recipient id); ``rows`` keeps what the
  letter asked (each proposal with the status, covers and version it had when the letter was
  made), so that an answer can be compared with the proposal as it is now.
- ``reply_tokens``: the letter's one-time links; only the SHA-256 of a token is stored, one live
  token per letter (a re-issue revokes the one before).
- ``reply_answers``: one submission (link, Excel file, typed by a coordinator) or one refused
  Excel file; ``batch`` groups the files of one upload.
- ``reply_items``: what became of each part of an answer (a row, the declaration, partner
  changes): applied, held for the coordinator (with both versions), unchanged, duplicate or
  rejected; ``item_hash`` makes a second arrival of the same answer apply nothing.
- ``intake_requests``: a facility's request to the 相談窓口 (for help, or reporting a change of
  its partners) through its letter's link, the public page, or a reply form, or taken by a
  coordinator by telephone, in person or by mail (revision ``0011_intake_taken``); the coordinator's
  queue (status, assignee, due date, notes) and, once confirmed, the filing year it updated.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow

RECIPIENT_KINDS = ("institution", "facility")
CHANNELS = ("link", "excel", "coordinator")
OUTCOMES = ("applied", "held", "unchanged", "duplicate", "rejected")
INTAKE_CHANNELS = ("link", "public", "reply", "phone", "visit", "mail")
INTAKE_STATUSES = ("received", "in_progress", "done")


class ReplyLetterRow(Base):
    """A letter of a run to one institution or facility, and whether its answers are locked."""

    __tablename__ = "reply_letters"
    __table_args__ = (
        UniqueConstraint("run_id", "recipient_kind", "recipient_id", name="uq_reply_letters"),
        CheckConstraint(
            "recipient_kind IN ('institution', 'facility')", name="ck_reply_letters_kind"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"), index=True)
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str] = mapped_column(String(40))
    # [{proposal_id, facility_id, institution_id, covers, km, status, version}] as asked
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    deadline: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    locked_by: Mapped[str] = mapped_column(String(100), default="")


class ReplyTokenRow(Base):
    """A one-time link of a letter: the SHA-256 of its token, expiry and revocation."""

    __tablename__ = "reply_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[int] = mapped_column(
        ForeignKey("reply_letters.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(100), default="")
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(100), default="")
    revoked_reason: Mapped[str] = mapped_column(String(32), default="")


class ReplyAnswerRow(Base):
    """One answer as it arrived (``content``: the answer's fields), or one refused file."""

    __tablename__ = "reply_answers"
    __table_args__ = (
        CheckConstraint(
            "channel IN ('link', 'excel', 'coordinator')", name="ck_reply_answers_channel"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[int | None] = mapped_column(
        ForeignKey("reply_letters.id", ondelete="CASCADE"), nullable=True, index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(16), default="applied")
    message: Mapped[str] = mapped_column(Text, default="")
    file_name: Mapped[str] = mapped_column(String(300), default="")
    file_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    batch: Mapped[str] = mapped_column(String(32), default="", index=True)


class ReplyItemRow(Base):
    """What became of one part of an answer; a held item waits for the coordinator."""

    __tablename__ = "reply_items"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('applied', 'held', 'unchanged', 'duplicate', 'rejected')",
            name="ck_reply_items_outcome",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[int] = mapped_column(
        ForeignKey("reply_answers.id", ondelete="CASCADE"), index=True
    )
    letter_id: Mapped[int | None] = mapped_column(
        ForeignKey("reply_letters.id", ondelete="CASCADE"), nullable=True, index=True
    )
    item: Mapped[str] = mapped_column(String(16))  # row | declaration | partners | file
    proposal_id: Mapped[int | None] = mapped_column(
        ForeignKey("proposals.id"), nullable=True, index=True
    )
    answer: Mapped[str] = mapped_column(String(16), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    item_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    # both versions of a held row: {"letter": {...}, "now": {...}}
    versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version_after: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_by: Mapped[str] = mapped_column(String(100), default="")
    resolution: Mapped[str] = mapped_column(String(16), default="")


class IntakeRow(Base):
    """A request to the 相談窓口 and where it stands in the coordinator's queue.

    ``code5`` places it (the facility's municipality, or the one the public page was given): a
    coordinator sees the requests of the municipalities in their scope. ``facility_id`` is known
    for a letter's link or a reply, and set by the coordinator for a public request.
    """

    __tablename__ = "intake_requests"
    __table_args__ = (
        CheckConstraint(
            "channel IN ('link', 'public', 'reply', 'phone', 'visit', 'mail')",
            name="ck_intake_requests_channel",
        ),
        CheckConstraint(
            "status IN ('received', 'in_progress', 'done')", name="ck_intake_requests_status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    letter_id: Mapped[int | None] = mapped_column(
        ForeignKey("reply_letters.id", ondelete="SET NULL"), nullable=True, index=True
    )
    facility_id: Mapped[str | None] = mapped_column(
        ForeignKey("facilities.facility_id", ondelete="SET NULL"), nullable=True, index=True
    )
    facility_name: Mapped[str] = mapped_column(String(200), default="")
    municipality_code: Mapped[str] = mapped_column(String(8), default="")
    code5: Mapped[str] = mapped_column(String(5), default="", index=True)
    topic: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    # [{name, change (add | end), covers}] as reported
    partner_changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    person: Mapped[str] = mapped_column(String(100), default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    assignee: Mapped[str] = mapped_column(String(100), default="")
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    # [{at, by, text}], oldest first
    notes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    confirmed_by: Mapped[str] = mapped_column(String(100), default="")
    filing_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # a request taken by telephone, in person or by mail: who took it and when (revision 0011)
    taken_by: Mapped[str] = mapped_column(String(100), default="")
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
