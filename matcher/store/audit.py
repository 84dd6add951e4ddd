"""The audit trail: who changed what when — proposals' status changes and runs — within a scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..vocab import CodeSet
from .areas import member_filter
from .browse import PER_PAGE, Page
from .models import AreaRow, FacilityRow, InstitutionRow, ProposalHistoryRow, ProposalRow, RunRow


@dataclass(frozen=True)
class AuditQuery:
    """Filters of the audit page."""

    actor: str = ""
    what: str = ""  # "proposal" | "run" | "" (both)
    status: str = ""  # the proposal status changed to
    facility: str = ""  # facility id or name (part of)
    since: dt.date | None = None
    until: dt.date | None = None
    page: int = 1
    per_page: int = PER_PAGE[1]


@dataclass(frozen=True)
class AuditEntry:
    """One change: a proposal's status change (its history row) or a run of an area."""

    at: dt.datetime  # naive UTC
    actor: str
    what: str  # "proposal" | "run"
    proposal_id: int | None = None
    facility_id: str = ""
    facility_name: str = ""
    institution_name: str = ""
    from_status: str | None = None
    to_status: str = ""
    note: str = ""
    run_id: int | None = None
    area_name: str = ""
    detail: dict[str, object] = field(default_factory=dict)


def _day_range(query: AuditQuery, column: Any) -> list[Any]:
    conds = []
    if query.since is not None:
        conds.append(column >= dt.datetime.combine(query.since, dt.time()) - JST_OFFSET)
    if query.until is not None:
        end = dt.datetime.combine(query.until + dt.timedelta(days=1), dt.time())
        conds.append(column < end - JST_OFFSET)
    return conds


JST_OFFSET = dt.timedelta(hours=9)  # the audit's days are Japanese days; the store keeps UTC


def audit_trail(
    session: Session, areas: Sequence[AreaRow], scope: CodeSet, query: AuditQuery
) -> Page[AuditEntry]:
    """Proposal history rows of facilities in ``scope`` and runs of ``areas`` (the visible
    ones), newest first, filtered by ``query`` (days in JST) and paginated."""
    limit = max(1, query.page) * query.per_page
    entries: list[AuditEntry] = []
    total = 0
    if query.what in ("", "proposal"):
        conds = [member_filter(scope, FacilityRow.code5), *_day_range(query, ProposalHistoryRow.at)]
        if query.actor:
            conds.append(ProposalHistoryRow.actor == query.actor)
        if query.status:
            conds.append(ProposalHistoryRow.to_status == query.status)
        if query.facility:
            like = f"%{query.facility}%"
            conds.append(FacilityRow.facility_id.like(like) | FacilityRow.name.like(like))
        base = (
            select(
                ProposalHistoryRow, ProposalRow.facility_id, FacilityRow.name, InstitutionRow.name
            )
            .join(ProposalRow, ProposalRow.id == ProposalHistoryRow.proposal_id)
            .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
            .join(InstitutionRow, InstitutionRow.institution_id == ProposalRow.institution_id)
            .where(*conds)
        )
        total += session.scalar(select(func.count()).select_from(base.subquery())) or 0
        for h, fid, fname, iname in session.execute(
            base.order_by(ProposalHistoryRow.at.desc(), ProposalHistoryRow.id.desc()).limit(limit)
        ):
            entries.append(
                AuditEntry(
                    h.at,
                    h.actor,
                    "proposal",
                    proposal_id=h.proposal_id,
                    facility_id=fid,
                    facility_name=fname,
                    institution_name=iname,
                    from_status=h.from_status,
                    to_status=h.to_status,
                    note=h.note,
                    run_id=h.run_id,
                )
            )
    if query.what in ("", "run") and not query.status and not query.facility:
        names = {a.id: a.name for a in areas}
        if names:
            conds = [RunRow.area_id.in_(sorted(names)), *_day_range(query, RunRow.finished_at)]
            if query.actor:
                conds.append(RunRow.actor == query.actor)
            q = select(RunRow).where(*conds)
            total += session.scalar(select(func.count()).select_from(q.subquery())) or 0
            for r in session.scalars(q.order_by(RunRow.finished_at.desc()).limit(limit)):
                entries.append(
                    AuditEntry(
                        r.finished_at,
                        r.actor,
                        "run",
                        run_id=r.id,
                        area_name=names[r.area_id],
                        detail={
                            "mode": r.mode,
                            "new": r.n_new,
                            "kept": r.n_kept,
                            "dropped": r.n_dropped,
                        },
                    )
                )
    entries.sort(key=lambda e: e.at, reverse=True)
    start = (max(1, query.page) - 1) * query.per_page
    return Page(entries[start : start + query.per_page], total, max(1, query.page), query.per_page)


def audit_actors(session: Session, scope: CodeSet) -> list[str]:
    """Everyone who changed a proposal of a facility in ``scope`` (for the filter's choices)."""
    return list(
        session.scalars(
            select(ProposalHistoryRow.actor)
            .join(ProposalRow, ProposalRow.id == ProposalHistoryRow.proposal_id)
            .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
            .where(member_filter(scope, FacilityRow.code5))
            .distinct()
            .order_by(ProposalHistoryRow.actor)
        )
    )
