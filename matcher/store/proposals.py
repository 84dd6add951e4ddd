"""Proposals as a coordinator reads them, within a scope of municipality codes: one proposal,
lists filtered by area, status, facility or institution (plain dicts, list order), cached."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..model import format_capabilities
from ..vocab import CodeSet, ProposalStatus
from .areas import area_codes, member_filter
from .cache import ValueCache
from .db import Store
from .errors import NotFoundError
from .models import AreaRow, FacilityRow, InstitutionRow, ProposalHistoryRow, ProposalRow
from .workflow import proposal_history


def get_proposal(session: Session, scope: CodeSet, proposal_id: int) -> ProposalRow:
    """Proposal ``proposal_id`` if its facility lies in ``scope``, else ``NotFoundError``."""
    p = session.get(ProposalRow, proposal_id)
    if p is not None:
        fac = session.get(FacilityRow, p.facility_id)
        if fac is not None and scope.contains(fac.code5):
            return p
    raise NotFoundError(f"提案 {proposal_id} は見つかりません")


def proposal_dict(p: Any, fac_name: str = "", inst_name: str = "") -> dict[str, object]:
    """A proposal (row or column tuple) as the coordinator sees it."""
    return {
        "id": p.id,
        "facility_id": p.facility_id,
        "facility_name": fac_name,
        "institution_id": p.institution_id,
        "institution_name": inst_name,
        "covers": format_capabilities(p.covers),
        "distance_km": round(p.distance_km, 3),
        "status": p.status,
        "status_ja": ProposalStatus(p.status).label_ja,
        "version": p.version,
        "run_id": p.run_id,
        "updated_at": p.updated_at.isoformat(timespec="seconds"),
        "updated_by": p.updated_by,
    }


def named_proposal_dict(session: Session, p: ProposalRow) -> dict[str, object]:
    """``proposal_dict`` with the facility's and the institution's names."""
    fac, inst = (
        session.get(FacilityRow, p.facility_id),
        session.get(InstitutionRow, p.institution_id),
    )
    return proposal_dict(p, fac.name if fac else "", inst.name if inst else "")


def history_dicts(session: Session, proposal_id: int) -> list[dict[str, object]]:
    """A proposal's history rows, oldest first."""
    return [history_dict(h) for h in proposal_history(session, proposal_id)]


def history_dict(h: ProposalHistoryRow) -> dict[str, object]:
    return {
        "at": h.at.isoformat(timespec="seconds"),
        "actor": h.actor,
        "from_status": h.from_status,
        "to_status": h.to_status,
        "note": h.note,
        "version": h.version,
        "run_id": h.run_id,
    }


_PROPOSAL_COLUMNS = (
    ProposalRow.id,
    ProposalRow.facility_id,
    ProposalRow.institution_id,
    ProposalRow.covers,
    ProposalRow.distance_km,
    ProposalRow.status,
    ProposalRow.version,
    ProposalRow.run_id,
    ProposalRow.updated_at,
    ProposalRow.updated_by,
)
_ORDER = (ProposalRow.facility_id, ProposalRow.distance_km, ProposalRow.id)


def all_proposals(
    session: Session, facility_id: str | None = None
) -> list[tuple[str, dict[str, object]]]:
    """(facility code5, proposal dict) of every proposal (or one facility's), in list order:
    plain column rows, no ORM objects."""
    q = (
        select(*_PROPOSAL_COLUMNS, FacilityRow.name, InstitutionRow.name, FacilityRow.code5)
        .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
        .join(InstitutionRow, InstitutionRow.institution_id == ProposalRow.institution_id)
    )
    if facility_id is not None:
        q = q.where(ProposalRow.facility_id == facility_id)
    q = q.order_by(*_ORDER)
    return [
        (str(row[-1]), proposal_dict(row, str(row[-3]), str(row[-2]))) for row in session.execute(q)
    ]


def cached_proposals(
    cache: ValueCache,
    store: Store,
    scope: CodeSet,
    area: AreaRow | None = None,
    status: Iterable[str] | None = None,
    facility_id: str | None = None,
    institution_id: str | None = None,
) -> list[dict[str, object]]:
    """``scoped_proposals`` from a cached list of all proposals (same items, same order)."""

    def compute() -> list[tuple[str, dict[str, object]]]:
        with store.read() as s:
            return all_proposals(s)

    everything = cache.get(("proposals",), compute)
    wanted = None if status is None else set(status)
    members = None if area is None else area_codes(area)
    return [
        d
        for code5, d in everything
        if scope.contains(code5)
        and (members is None or members.contains(code5))
        and (wanted is None or d["status"] in wanted)
        and (facility_id is None or d["facility_id"] == facility_id)
        and (institution_id is None or d["institution_id"] == institution_id)
    ]


def scoped_proposals(
    session: Session,
    scope: CodeSet,
    area: AreaRow | None = None,
    status: Iterable[str] | None = None,
    facility_id: str | None = None,
    institution_id: str | None = None,
) -> list[dict[str, object]]:
    """Proposals of facilities within ``scope`` (and ``area``), filtered, in list order."""
    q = (
        select(ProposalRow, FacilityRow.name, InstitutionRow.name)
        .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
        .join(InstitutionRow, InstitutionRow.institution_id == ProposalRow.institution_id)
        .where(member_filter(scope, FacilityRow.code5))
    )
    if area is not None:
        q = q.where(member_filter(area, FacilityRow.code5))
    if status is not None:
        q = q.where(ProposalRow.status.in_(list(status)))
    if facility_id is not None:
        q = q.where(ProposalRow.facility_id == facility_id)
    if institution_id is not None:
        q = q.where(ProposalRow.institution_id == institution_id)
    q = q.order_by(*_ORDER)
    return [proposal_dict(p, fn, inn) for p, fn, inn in session.execute(q)]
