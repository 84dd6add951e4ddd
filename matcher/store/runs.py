"""Stored runs as a coordinator reads them: the list, one run, and what it changed (with names).

``run_changes`` rebuilds a run's ``PlanChange`` items from what its commit wrote (its run
proposals and the history rows carrying its id); ``named_changes`` adds the names, what each
pair covers and the reason (``run_notes``) for the run page and its preview.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .areas import get_area
from .errors import NotFoundError
from .models import (
    FacilityRow,
    InstitutionRow,
    ProposalHistoryRow,
    ProposalRow,
    RunProposalRow,
    RunRow,
)
from .run_write import PlanChange


def list_runs(session: Session, area_code: str | None = None) -> list[RunRow]:
    q = select(RunRow).order_by(RunRow.id.desc())
    if area_code is not None:
        q = q.where(RunRow.area_id == get_area(session, area_code).id)
    return list(session.scalars(q))


def get_run(session: Session, run_id: int) -> RunRow:
    run = session.get(RunRow, run_id)
    if run is None:
        raise NotFoundError(f"計算 {run_id} は存在しません")
    return run


def run_changes(session: Session, run_id: int) -> list[PlanChange]:
    """What run ``run_id`` changed: its new and kept proposals, and those it dropped."""
    get_run(session, run_id)
    out = [
        PlanChange(p.id, p.facility_id, p.institution_id, rp.change, p.status)  # type: ignore[arg-type]
        for rp, p in session.execute(
            select(RunProposalRow, ProposalRow)
            .join(ProposalRow, ProposalRow.id == RunProposalRow.proposal_id)
            .where(RunProposalRow.run_id == run_id)
            .order_by(ProposalRow.id)
        )
    ]
    dropped = session.execute(
        select(ProposalRow, ProposalHistoryRow.from_status)
        .join(ProposalHistoryRow, ProposalHistoryRow.proposal_id == ProposalRow.id)
        .where(ProposalHistoryRow.run_id == run_id, ProposalHistoryRow.to_status == "withdrawn")
        .order_by(ProposalRow.id)
    )
    out += [
        PlanChange(
            p.id,
            p.facility_id,
            p.institution_id,
            "released" if before == "contacted" else "dropped",
            p.status,
        )
        for p, before in dropped
    ]
    return out


def run_notes(session: Session, run_id: int) -> dict[int, str]:
    """Proposal id → the note of the history row run ``run_id`` wrote for it (last one wins)."""
    return {
        h.proposal_id: h.note
        for h in session.scalars(
            select(ProposalHistoryRow)
            .where(ProposalHistoryRow.run_id == run_id)
            .order_by(ProposalHistoryRow.id)
        )
    }


def named_changes(
    session: Session,
    changes: Iterable[Any],
    notes: Mapping[int, str],
    planned: Mapping[tuple[str, str], tuple[int, float]] | None = None,
) -> list[dict[str, object]]:
    """``PlanChange`` items with the facility's and institution's names, what the pair covers and
    the reason (history note), in the order new, kept, dropped, released. ``planned`` (pair →
    covers, km) gives what a previewed plan's pairs cover (their rows were never stored)."""
    planned = planned or {}
    changes = list(changes)
    fac_ids = sorted({c.facility_id for c in changes})
    inst_ids = sorted({c.institution_id for c in changes})
    fnames = dict(
        session.execute(
            select(FacilityRow.facility_id, FacilityRow.name).where(
                FacilityRow.facility_id.in_(fac_ids)
            )
        ).all()
    )
    inames = dict(
        session.execute(
            select(InstitutionRow.institution_id, InstitutionRow.name).where(
                InstitutionRow.institution_id.in_(inst_ids)
            )
        ).all()
    )
    rows = {
        p.id: p
        for p in session.scalars(
            select(ProposalRow).where(ProposalRow.id.in_([c.proposal_id for c in changes]))
        )
    }
    order = {"new": 0, "kept": 1, "dropped": 2, "released": 3}
    out = []
    for c in sorted(changes, key=lambda c: (order.get(c.change, 9), c.facility_id)):
        p = rows.get(c.proposal_id)
        covers, km = planned.get(
            (c.facility_id, c.institution_id),
            (0, 0.0) if p is None else (p.covers, p.distance_km),
        )
        out.append(
            {
                "proposal_id": c.proposal_id,
                "facility_id": c.facility_id,
                "facility_name": fnames.get(c.facility_id, ""),
                "institution_id": c.institution_id,
                "institution_name": inames.get(c.institution_id, ""),
                "change": c.change,
                "status": c.status,
                "covers": covers,
                "distance_km": round(km, 1),
                "note": notes.get(c.proposal_id, ""),
            }
        )
    return out
