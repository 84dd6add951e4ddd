"""Facilities in the user's scope: filtered lists, one facility with partners, proposals,
missing capabilities, candidates and alternatives; a hand-made proposal."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from matcher.store.db import Store
from matcher.store.workflow import propose

from ..cache import ReadCache, cached_call, get_cache
from ..deps import current_user, get_store, writer
from ..queries import (
    cached_facility_detail,
    cached_facility_states,
    cached_visible_area,
    get_facility,
    proposal_dict,
)
from ..schemas import FacilityKind, ProposeIn, StatusFilter
from ..users import User, audit

router = APIRouter(prefix="/api/facilities", tags=["facilities"])


@router.get(
    "", summary="施設の一覧 (状況・種別・市区町村で絞り込み)", response_model=dict[str, object]
)
async def list_facilities(
    area: str | None = Query(None, description="地域コード"),
    status: list[StatusFilter] | None = Query(None, description="状況 (複数可)"),
    kind: FacilityKind | None = Query(None),
    municipality: str | None = Query(
        None, pattern=r"^\d{5,6}$", description="市区町村コード (5桁または6桁)"
    ),
    limit: int = Query(1000, ge=1, le=10000),
    offset: int = Query(0, ge=0, le=10**9),
    user: User = Depends(current_user),
    store: Store = Depends(get_store),
    cache: ReadCache = Depends(get_cache),
) -> dict[str, object]:
    def answer() -> dict[str, object]:
        a = cached_visible_area(cache, store, user, area) if area else None
        index, states = cached_facility_states(cache, store, user, a, kind, municipality)
        items = [index.dicts[st.row.facility_id] for st in states]
        if status:
            items = [d for d in items if d["status"] in status]
        return {"total": len(items), "items": items[offset : offset + limit]}

    return await cached_call(answer)


@router.get(
    "/{facility_id}",
    summary="施設の詳細 (協力医療機関・不足要件・候補・代替案)",
    response_model=dict[str, object],
)
async def get_facility_detail(
    facility_id: str,
    user: User = Depends(current_user),
    store: Store = Depends(get_store),
    cache: ReadCache = Depends(get_cache),
) -> Response:
    body = await cached_call(cached_facility_detail, cache, store, user, facility_id)
    return Response(body.json, media_type="application/json")


@router.post("/{facility_id}/proposals", status_code=201, summary="候補を手で提案に加える")
def add_proposal(
    facility_id: str,
    body: ProposeIn,
    user: User = Depends(writer),
    store: Store = Depends(get_store),
) -> dict[str, object]:
    return propose_for(store, user, facility_id, body.institution_id, body.note)


def propose_for(
    store: Store, user: User, facility_id: str, institution_id: str, note: str
) -> dict[str, object]:
    with store.write() as s:
        get_facility(s, user, facility_id)
        p = propose(s, facility_id, institution_id, actor=user.username, note=note)
        audit(
            s,
            user.username,
            "proposal.create",
            f"proposal:{p.id}",
            {"facility_id": facility_id, "institution_id": institution_id, "note": note},
        )
        return proposal_dict(p)
