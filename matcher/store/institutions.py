"""Institutions as a coordinator reads them, within a scope of municipality codes: those in the
scope or partnered (by a proposal) with its facilities, with declared, used and remaining
capacity (``store.state.institution_states``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ..model import INSTITUTION_KIND_JA, format_capabilities
from ..vocab import CodeSet
from ..wareki import today as today_jp
from .areas import member_filter
from .errors import NotFoundError
from .models import FacilityRow, InstitutionRow, ProposalRow
from .state import InstitutionState, institution_states


def institution_dict(st: InstitutionState) -> dict[str, object]:
    """An institution with its offers and capacity now."""
    r = st.row
    return {
        "institution_id": r.institution_id,
        "name": r.name,
        "kind": r.kind,
        "kind_ja": INSTITUTION_KIND_JA.get(r.kind, r.kind),
        "lat": r.lat,
        "lon": r.lon,
        "municipality_code": r.municipality_code,
        "address": r.address,
        "offers": format_capabilities(st.offers),
        "declared_capacity": st.declared,
        "used_capacity": st.used,
        "remaining_capacity": st.remaining,
        "infection_agreement": st.infection_agreement,
    }


def _linked(scope: CodeSet) -> Select[Any]:
    """Ids of institutions with a proposal to a facility in ``scope`` (a subquery)."""
    return (
        select(ProposalRow.institution_id)
        .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
        .where(member_filter(scope, FacilityRow.code5))
    )


def scoped_institutions(
    session: Session, scope: CodeSet, kind: str | None = None, on: dt.date | None = None
) -> list[dict[str, object]]:
    """Institutions in the scope's municipalities or partnered (by a proposal) with its
    facilities, in id order."""
    q = select(InstitutionRow).where(
        member_filter(scope, InstitutionRow.code5)
        | InstitutionRow.institution_id.in_(_linked(scope))
    )
    if kind is not None:
        q = q.where(InstitutionRow.kind == kind)
    rows = list(session.scalars(q.order_by(InstitutionRow.institution_id)))
    states = institution_states(session, rows, on or today_jp())
    return [institution_dict(states[r.institution_id]) for r in rows]


def get_institution(
    session: Session, scope: CodeSet, institution_id: str, on: dt.date | None = None
) -> dict[str, object]:
    """One institution if it lies in ``scope`` or has a proposal there, else ``NotFoundError``."""
    r = session.get(InstitutionRow, institution_id)
    visible = r is not None and (
        scope.contains(r.code5)
        or session.scalar(
            _linked(scope).where(ProposalRow.institution_id == institution_id).limit(1)
        )
        is not None
    )
    if not visible or r is None:
        raise NotFoundError(f"医療機関「{institution_id}」は見つかりません")
    states = institution_states(session, [r], on or today_jp())
    return institution_dict(states[r.institution_id])
