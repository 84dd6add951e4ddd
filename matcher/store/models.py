"""The tables of the store as typed SQLAlchemy 2.x ORM classes (the migrations mirror them).

Capability sets are stored as the core's bit masks (consult=1, care=2, admit=4). Municipality
codes are kept as given and, for area membership, as their first five digits (``code5``),
because the 介護 data writes six digits and ナビイ five. The web service's users and audit trail
(``web_users``, ``web_audit``) are tables of the store too, so that one migration history
creates everything; their logic is in ``api.users``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..vocab import AreaKind

ACTIVE_STATUSES = ("proposed", "contacted", "agreed")
AREA_KINDS = AreaKind.codes()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class FacilityRow(Base):
    """An elderly-care facility (registry data; coverage lives in its filings)."""

    __tablename__ = "facilities"

    facility_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    kind: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    municipality_code: Mapped[str] = mapped_column(String(8), default="")
    code5: Mapped[str] = mapped_column(String(5), default="", index=True)
    address: Mapped[str] = mapped_column(String(500), default="")
    geocode: Mapped[str] = mapped_column(String(16), default="exact")
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    filings: Mapped[list[FilingRow]] = relationship(back_populates="facility")


class InstitutionRow(Base):
    """A hospital or clinic; ``offers`` is what the registry says or implies."""

    __tablename__ = "institutions"
    __table_args__ = (
        CheckConstraint("kind IN ('hospital', 'clinic')", name="ck_institutions_kind"),
    )

    institution_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    kind: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    offers: Mapped[int] = mapped_column(Integer, default=0)
    municipality_code: Mapped[str] = mapped_column(String(8), default="")
    code5: Mapped[str] = mapped_column(String(5), default="", index=True)
    address: Mapped[str] = mapped_column(String(500), default="")
    geocode: Mapped[str] = mapped_column(String(16), default="exact")
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    declarations: Mapped[list[DeclarationRow]] = relationship(back_populates="institution")


class FilingRow(Base):
    """A facility's annual 協力医療機関 filing (届出) for one filing year; the latest is current.

    ``covered`` holds coverage known only as a union (the simple CSV format); partners named in
    the filing add theirs.
    """

    __tablename__ = "filings"
    __table_args__ = (
        UniqueConstraint("facility_id", "filing_year", name="uq_filings_facility_year"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    facility_id: Mapped[str] = mapped_column(
        ForeignKey("facilities.facility_id", ondelete="CASCADE")
    )
    filing_year: Mapped[int] = mapped_column(Integer)
    has_partner: Mapped[bool] = mapped_column(Boolean)
    covered: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    facility: Mapped[FacilityRow] = relationship(back_populates="filings")
    partners: Mapped[list[FilingPartnerRow]] = relationship(
        back_populates="filing", cascade="all, delete-orphan", order_by="FilingPartnerRow.position"
    )


class FilingPartnerRow(Base):
    """One partner named in a filing (facility × partner) and which of ①②③ it meets."""

    __tablename__ = "filing_partners"
    __table_args__ = (UniqueConstraint("filing_id", "position", name="uq_filing_partners_pos"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    partner_name: Mapped[str] = mapped_column(String(300), default="")
    institution_id: Mapped[str | None] = mapped_column(
        ForeignKey("institutions.institution_id", ondelete="SET NULL"), nullable=True
    )
    covers: Mapped[int] = mapped_column(Integer, default=0)
    # 第二種協定指定医療機関 as filed; None: the filing did not say (revision 0005)
    infection_agreement: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # The institution id as filed, kept when that institution is not in the store yet: importing
    # it later links the partner (``imports.link_filed_partners``; revision 0014).
    filed_institution_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)

    filing: Mapped[FilingRow] = relationship(back_populates="partners")


class DeclarationRow(Base):
    """An institution's own declaration: willing or not, capacity, capabilities, validity.

    ``capacity`` NULL = not declared (unlimited); ``offers`` NULL = keep the registry's offers.
    ``valid_to`` NULL = open-ended. Agreed proposals made on or after ``valid_from`` consume the
    capacity (a later declaration is taken to count the partnerships agreed before it).
    """

    __tablename__ = "declarations"
    __table_args__ = (
        UniqueConstraint("institution_id", "valid_from", name="uq_declarations_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.institution_id", ondelete="CASCADE")
    )
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    willing: Mapped[bool] = mapped_column(Boolean, default=True)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    offers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # 第二種協定指定医療機関 as declared; None: not stated (revision 0005)
    infection_agreement: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    institution: Mapped[InstitutionRow] = relationship(back_populates="declarations")


class AreaRow(Base):
    """A prefecture, a municipality, or a set of municipalities: a 在宅医療連携拠点's area, a
    構想区域 or a 郡市医師会's area (``vocab.AreaKind``; the last two since revision 0010)."""

    __tablename__ = "areas"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('prefecture', 'municipality', 'renkei', 'kousou', 'ishikai')",
            name="ck_areas_kind",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    municipalities: Mapped[list[AreaMunicipalityRow]] = relationship(
        back_populates="area", cascade="all, delete-orphan"
    )


class AreaMunicipalityRow(Base):
    """Membership of an area: a 5-digit municipality code, or a 2-digit prefecture code."""

    __tablename__ = "area_municipalities"

    area_id: Mapped[int] = mapped_column(
        ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(5), primary_key=True)

    area: Mapped[AreaRow] = relationship(back_populates="municipalities")


class RunRow(Base):
    """One matching run of an area: parameters, input hash, objective values, timings, changes."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    previous_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), nullable=True)
    mode: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    input_hash: Mapped[str] = mapped_column(String(64))
    mandatory_full: Mapped[int] = mapped_column(Integer)
    effort_full: Mapped[int] = mapped_column(Integer)
    pairs_covered: Mapped[int] = mapped_column(Integer)
    partnerships: Mapped[int] = mapped_column(Integer)
    distance_km: Mapped[float] = mapped_column(Float)
    proven_optimal: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    n_new: Mapped[int] = mapped_column(Integer, default=0)
    n_kept: Mapped[int] = mapped_column(Integer, default=0)
    n_dropped: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ProposalRow(Base):
    """A proposed partnership and where it stands; ``version`` guards concurrent changes."""

    __tablename__ = "proposals"
    __table_args__ = (
        CheckConstraint(
            "status IN ('proposed', 'contacted', 'agreed', 'declined', 'withdrawn')",
            name="ck_proposals_status",
        ),
        # At most one live proposal per pair, whatever area or run produced it.
        Index(
            "uq_proposals_active_pair",
            "facility_id",
            "institution_id",
            unique=True,
            sqlite_where=text("status IN ('proposed', 'contacted', 'agreed')"),
            postgresql_where=text("status IN ('proposed', 'contacted', 'agreed')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The run that first proposed it; NULL for a proposal a coordinator entered by hand.
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    facility_id: Mapped[str] = mapped_column(ForeignKey("facilities.facility_id"), index=True)
    institution_id: Mapped[str] = mapped_column(
        ForeignKey("institutions.institution_id"), index=True
    )
    covers: Mapped[int] = mapped_column(Integer)
    distance_km: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    status_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class HoldRow(Base):
    """A held acceptance (受入可(保留中), ``round_strategy`` hold): proposal ``proposal_id``'s
    institution said 受入可 while run ``run_id``'s strategy held such answers; the proposal stays
    打診中 (not coverage) until the next re-plan agrees or releases it
    (``matcher.store.holds``; revision 0015_held_acceptances)."""

    __tablename__ = "proposal_holds"

    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RunProposalRow(Base):
    """The proposal set of a run (a proposal kept across runs belongs to each of them)."""

    __tablename__ = "run_proposals"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True
    )
    change: Mapped[str] = mapped_column(String(8))  # new | kept


class ProposalHistoryRow(Base):
    """Append-only log of every status change: who, when, from → to, and a free-text note.

    Database triggers (see the first migration) refuse UPDATE and DELETE on this table.
    """

    __tablename__ = "proposal_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100), default="")
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), nullable=True)
    version: Mapped[int] = mapped_column(Integer)


class UserRow(Base):
    """A user of the web service; roles, scope and password hashing are ``api.users``'s.

    ``scope`` lists 2-digit prefecture and/or 5-digit municipality codes. ``session_epoch`` is
    bumped on a password change: sessions signed with an older value stop working.
    """

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16))
    scope: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditRow(Base):
    """One change made through the web (status, hand-made proposals, runs, imports, users)."""

    __tablename__ = "web_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WebSessionRow(Base):
    """A server-side login session of the web service (``api.sessions``).

    ``id`` is the SHA-256 of the token the browser or API client holds (the token itself is never
    stored). A session ends at ``expires_at`` (absolute), after the idle limit since
    ``last_seen_at``, or when revoked (logout, password change, administrator).
    """

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(100), default="")
    revoked_reason: Mapped[str] = mapped_column(String(32), default="")
    client: Mapped[str] = mapped_column(String(100), default="")


class LoginThrottleRow(Base):
    """Failed logins per account (``user:NAME``) or client address (``addr:IP``) and the lock
    they caused (``api.throttle``)."""

    __tablename__ = "web_login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class JobRow(Base):
    """A run started from the web, visible to every worker (``matcher.store.jobs``).

    ``heartbeat_at`` moves while the worker running it lives; a ``running`` job whose worker
    died (restart, crash) is marked ``failed`` with the reason by the next one who reads it.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("state IN ('running', 'done', 'failed')", name="ck_jobs_state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    area_code: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100), default="")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="running", index=True)
    stage: Mapped[str] = mapped_column(String(16), default="wait")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class StoreChangeRow(Base):
    """A change counter per topic, bumped by database triggers on every write to the topic's
    tables (revision 0004): read caches of any worker compare counters instead of clearing
    everything on any commit. Topics: ``registry``, ``proposals``, ``runs``, ``users``,
    ``sessions``."""

    __tablename__ = "store_changes"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class StoreChangeLogRow(Base):
    """The facility and institution each proposal change touched, in commit order (revision
    0006; written by a trigger, read by the web's read caches, pruned to its last rows)."""

    __tablename__ = "store_change_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(80))


class PublicRateRow(Base):
    """One key's hits in one rate window of the public pages (``api.security.public``), shared
    by every worker process (revision 0012).

    ``key_hash`` is the HMAC-SHA-256 of the key (a client address, a letter) under a key derived
    from the service's secret: no address or letter id is stored in clear. ``hits`` holds the
    times (epoch seconds) of the hits still inside the window, at most the window's limit;
    a row whose ``expires_at`` (its last hit leaving the window) has passed is purged.
    """

    __tablename__ = "public_rate_windows"

    window_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    hits: Mapped[list[float]] = mapped_column(JSON, default=list)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
