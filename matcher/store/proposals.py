"""Proposals as a coordinator reads them: one proposal (with its history), and the one query
that lists proposals filtered by scope, area, status, facility, institution or run.

Every list of proposals comes from ``list_proposals``'s query and in its one order (``ORDER``):
by facility, then distance, then institution, then id — the CLI's ``proposals list``, the export,
the JSON API and the pages alike (the printable 提案一覧 re-sorts its page, ``proposal_list``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from ..model import format_capabilities
from ..vocab import CodeSet, ProposalStatus
from .areas import area_codes, get_area, member_filter
from .backups import BackupRow, backup_of
from .cache import ValueCache
from .db import Store
from .errors import NotFoundError, TransitionError
from .models import (
    AreaRow,
    FacilityRow,
    HoldRow,
    InstitutionRow,
    ProposalHistoryRow,
    ProposalRow,
    RunProposalRow,
)

ORDER = (
    ProposalRow.facility_id,
    ProposalRow.distance_km,
    ProposalRow.institution_id,
    ProposalRow.id,
)


def proposal_row(session: Session, proposal_id: int, lock: bool = False) -> ProposalRow:
    """Proposal ``proposal_id`` as stored now (``lock``: locked for update until the transaction
    ends), else ``NotFoundError``."""
    q = select(ProposalRow).where(ProposalRow.id == proposal_id)
    if lock:
        q = q.with_for_update()
    p = session.scalar(q.execution_options(populate_existing=True))
    if p is None:
        raise NotFoundError(f"提案 {proposal_id} は存在しません")
    return p


def proposal_history(session: Session, proposal_id: int) -> list[ProposalHistoryRow]:
    """A proposal's history rows, oldest first (``NotFoundError`` for an unknown id)."""
    proposal_row(session, proposal_id)
    return list(
        session.scalars(
            select(ProposalHistoryRow)
            .where(ProposalHistoryRow.proposal_id == proposal_id)
            .order_by(ProposalHistoryRow.id)
        )
    )


def get_proposal(session: Session, scope: CodeSet, proposal_id: int) -> ProposalRow:
    """Proposal ``proposal_id`` if its facility lies in ``scope``, else ``NotFoundError``."""
    p = session.get(ProposalRow, proposal_id)
    if p is not None:
        fac = session.get(FacilityRow, p.facility_id)
        if fac is not None and scope.contains(fac.code5):
            return p
    raise NotFoundError(f"提案 {proposal_id} は見つかりません")


def proposal_dict(
    p: Any,
    fac_name: str = "",
    inst_name: str = "",
    backup_for: int | None = None,
    held: bool = False,
) -> dict[str, object]:
    """A proposal (row or column tuple) as the coordinator sees it (``backup_for``: the
    request it backs when it is a 条件付き依頼; ``held``: a 受入可 held until the next re-plan,
    ``store.holds``)."""
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
        "backup_for": backup_for,
        "held": held,
    }


def named_proposal_dict(session: Session, p: ProposalRow) -> dict[str, object]:
    """``proposal_dict`` with the facility's and the institution's names."""
    fac, inst = (
        session.get(FacilityRow, p.facility_id),
        session.get(InstitutionRow, p.institution_id),
    )
    backup = backup_of(session, p.id)
    return proposal_dict(
        p,
        fac.name if fac else "",
        inst.name if inst else "",
        None if backup is None else backup.primary_id,
        session.get(HoldRow, p.id) is not None,
    )


def history_dicts(session: Session, proposal_id: int) -> list[dict[str, object]]:
    """``proposal_history`` as dicts."""
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


# ``proposal_dict`` as an object: what every list, the export, the CLI and the JSON API
# (``usecases.views``) read of a proposal.
@dataclass(frozen=True)
class ProposalView:
    """A proposal as the coordinator sees it (``version``: for the next status change)."""

    id: int
    facility_id: str
    facility_name: str
    institution_id: str
    institution_name: str
    covers: str
    distance_km: float
    status: str
    status_ja: str
    version: int
    run_id: int | None
    updated_at: str
    updated_by: str
    backup_for: int | None  # a 条件付き依頼: the request it backs (``store.backups``)
    held: bool  # a 受入可 held (打診中) until the next re-plan (``store.holds``)


_BASE = (
    select(
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
        FacilityRow.name.label("facility_name"),
        InstitutionRow.name.label("institution_name"),
        FacilityRow.code5,
        BackupRow.primary_id.label("backup_for"),
        HoldRow.proposal_id.label("held_id"),
    )
    .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
    .join(InstitutionRow, InstitutionRow.institution_id == ProposalRow.institution_id)
    .outerjoin(BackupRow, BackupRow.backup_id == ProposalRow.id)
    .outerjoin(HoldRow, HoldRow.proposal_id == ProposalRow.id)
)
_ONE_FACILITY = _BASE.where(ProposalRow.facility_id == bindparam("facility_id")).order_by(*ORDER)


def _rows(
    session: Session,
    scope: CodeSet | None = None,
    area: str | AreaRow | None = None,
    status: Iterable[str] | str | None = None,
    facility_id: str | None = None,
    institution_id: str | None = None,
    run_id: int | None = None,
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The one query of proposals: plain columns with the facility's and institution's names
    and the facility's municipality, filtered, in ``ORDER``."""
    if facility_id is not None and (scope, area, status, institution_id, run_id) == (None,) * 5:
        # one facility's (its page, a patch of the cached list): built once, not per call
        return session.execute(_ONE_FACILITY, {"facility_id": facility_id}).all()
    q = _BASE
    if scope is not None:
        q = q.where(member_filter(scope, FacilityRow.code5))
    if area is not None:
        a = get_area(session, area) if isinstance(area, str) else area
        q = q.where(member_filter(a, FacilityRow.code5))
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        known = [s.value for s in ProposalStatus]
        bad = [s for s in statuses if s not in known]
        if bad:
            raise TransitionError(f"不明な状態「{bad[0]}」(使えるのは {', '.join(known)})")
        q = q.where(ProposalRow.status.in_(statuses))
    if facility_id is not None:
        q = q.where(ProposalRow.facility_id == facility_id)
    if institution_id is not None:
        q = q.where(ProposalRow.institution_id == institution_id)
    if run_id is not None:
        q = q.join(RunProposalRow, RunProposalRow.proposal_id == ProposalRow.id).where(
            RunProposalRow.run_id == run_id
        )
    return session.execute(q.order_by(*ORDER)).all()


def list_proposals(
    session: Session,
    area: str | AreaRow | None = None,
    status: Iterable[str] | str | None = None,
    facility_id: str | None = None,
    institution_id: str | None = None,
    run_id: int | None = None,
    scope: CodeSet | None = None,
) -> list[ProposalView]:
    """Proposals filtered by area (a code or a stored area), status, facility, institution, run
    (the run's plan) and ``scope`` (the user's municipalities), in ``ORDER``. An unknown status
    is a ``TransitionError``; an unknown area code a ``NotFoundError``."""
    return [
        # proposal_dict's values are the view's fields
        ProposalView(
            **proposal_dict(  # type: ignore[arg-type]
                r, r.facility_name, r.institution_name, r.backup_for, r.held_id is not None
            )
        )
        for r in _rows(session, scope, area, status, facility_id, institution_id, run_id)
    ]


def all_proposals(
    session: Session, facility_id: str | None = None
) -> list[tuple[str, dict[str, object]]]:
    """(facility code5, proposal dict) of every proposal (or one facility's), in ``ORDER``:
    plain column rows, no ORM objects."""
    return [
        (
            str(r.code5),
            proposal_dict(
                r, r.facility_name, r.institution_name, r.backup_for, r.held_id is not None
            ),
        )
        for r in _rows(session, facility_id=facility_id)
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
    """``scoped_proposals`` from a cached list of all proposals (same items, same order): read
    once, then patched for the facilities whose proposals changed."""

    def compute() -> list[tuple[str, dict[str, object]]]:
        with store.read() as s:
            return all_proposals(s)

    def patch(
        old: list[tuple[str, dict[str, object]]], changed: frozenset[str]
    ) -> list[tuple[str, dict[str, object]]]:
        if not changed:
            return old
        with store.read() as s:
            fresh = [x for f in sorted(changed) for x in all_proposals(s, facility_id=f)]
        # ``ORDER`` begins with the facility: each facility's proposals are one block, and the
        # blocks follow the store's order of facility ids (its collation, not Python's)
        rank = facility_order(cache, store)
        kept = [x for x in old if x[1]["facility_id"] not in changed]
        return sorted(kept + fresh, key=lambda x: rank.get(str(x[1]["facility_id"]), len(rank)))

    everything = cache.get(("proposals",), compute, patch)
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


def facility_order(cache: ValueCache, store: Store) -> dict[str, int]:
    """Each facility id's position in the store's order of facility ids, through ``cache``."""

    def compute() -> dict[str, int]:
        with store.read() as s:
            ids = s.scalars(select(FacilityRow.facility_id).order_by(FacilityRow.facility_id))
            return {str(f): k for k, f in enumerate(ids)}

    return cache.get(("facility_order",), compute)


def scoped_proposals(
    session: Session,
    scope: CodeSet,
    area: AreaRow | None = None,
    status: Iterable[str] | None = None,
    facility_id: str | None = None,
    institution_id: str | None = None,
) -> list[dict[str, object]]:
    """``list_proposals`` of facilities within ``scope`` (and ``area``) as ``proposal_dict``
    items (the JSON API's shape), in ``ORDER``."""
    return [
        proposal_dict(r, r.facility_name, r.institution_name, r.backup_for, r.held_id is not None)
        for r in _rows(session, scope, area, status, facility_id, institution_id)
    ]
