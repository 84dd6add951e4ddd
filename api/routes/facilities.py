"""Facilities in the user's scope: filtered lists, one facility with partners, proposals,
missing capabilities, candidates and alternatives; a hand-made proposal."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from matcher.model import format_capabilities
from matcher.store.db import Store
from matcher.store.workflow import propose

from ..deps import current_user, get_store, writer
from ..queries import (
    facility_candidates,
    facility_dict,
    facility_states,
    get_facility,
    get_visible_area,
    latest_filings,
    proposal_dict,
    scoped_facilities,
    scoped_proposals,
)
from ..schemas import FacilityKind, ProposeIn, StatusFilter
from ..users import User, audit

router = APIRouter(prefix="/api/facilities", tags=["facilities"])


@router.get("", summary="施設の一覧 (状況・種別・市区町村で絞り込み)")
def list_facilities(
    area: str | None = Query(None, description="地域コード"),
    status: list[StatusFilter] | None = Query(None, description="状況 (複数可)"),
    kind: FacilityKind | None = Query(None),
    municipality: str | None = Query(None, pattern=r"^\d{5,6}$", description="市区町村コード (5桁または6桁)"),
    limit: int = Query(1000, ge=1, le=10000),
    offset: int = Query(0, ge=0, le=10**9),
    user: User = Depends(current_user),
    store: Store = Depends(get_store),
) -> dict[str, object]:
    with store.read() as s:
        a = get_visible_area(s, user, area) if area else None
        states = facility_states(s, scoped_facilities(s, user, a, kind, municipality))
        if status:
            states = [st for st in states if st.status.value in status]
        return {"total": len(states), "items": [facility_dict(st) for st in states[offset:offset + limit]]}


@router.get("/{facility_id}", summary="施設の詳細 (協力医療機関・不足要件・候補・代替案)")
def get_facility_detail(facility_id: str, user: User = Depends(current_user),
                        store: Store = Depends(get_store)) -> dict[str, object]:
    with store.read() as s:
        row = get_facility(s, user, facility_id)
        state = facility_states(s, [row])[0]
        filing = latest_filings(s, [facility_id]).get(facility_id)
        partners = [{"partner_name": p.partner_name, "institution_id": p.institution_id,
                     "covers": format_capabilities(p.covers)} for p in (filing.partners if filing else [])]
        proposals = scoped_proposals(s, user, facility_id=facility_id)
        candidates = facility_candidates(s, row)
        return {
            **facility_dict(state), "partners": partners, "proposals": proposals,
            "candidates": candidates,
            "alternatives": [c for c in candidates if c["proposal"] is None][:5],
        }


@router.post("/{facility_id}/proposals", status_code=201, summary="候補を手で提案に加える")
def add_proposal(facility_id: str, body: ProposeIn, user: User = Depends(writer),
                 store: Store = Depends(get_store)) -> dict[str, object]:
    return propose_for(store, user, facility_id, body.institution_id, body.note)


def propose_for(store: Store, user: User, facility_id: str, institution_id: str, note: str) -> dict[str, object]:
    with store.write() as s:
        get_facility(s, user, facility_id)
        p = propose(s, facility_id, institution_id, actor=user.username, note=note)
        audit(s, user.username, "proposal.create", f"proposal:{p.id}",
              {"facility_id": facility_id, "institution_id": institution_id, "note": note})
        return proposal_dict(p)
