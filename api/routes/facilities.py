"""Facilities in the user's scope: filtered lists, one facility with partners, proposals,
missing capabilities, candidates and alternatives; a hand-made proposal."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from pydantic_core import to_json

from matcher.store.areas import cached_visible_area
from matcher.store.db import Store
from matcher.store.facilities import cached_facility_detail, cached_facility_states, get_facility
from matcher.store.proposals import proposal_dict
from matcher.store.workflow import propose

from ..cache import ReadCache, cached_call
from ..deps import CacheDep, StoreDep, UserDep, WriterDep, scope_of
from ..errors import ERROR_RESPONSES
from ..schemas import (
    FacilityDetailOut,
    FacilityKind,
    FacilityListOut,
    ProposalOut,
    ProposeIn,
    Status,
)
from ..users import User, audit

router = APIRouter(prefix="/api/facilities", tags=["facilities"], responses=ERROR_RESPONSES)


@router.get(
    "", summary="施設の一覧 (状況・種別・市区町村で絞り込み)", response_model=FacilityListOut
)
async def list_facilities(
    user: UserDep,
    store: StoreDep,
    cache: CacheDep,
    area: str | None = Query(None, description="地域コード"),
    status: list[Status] | None = Query(None, description="状況 (複数可)"),
    kind: FacilityKind | None = Query(None),
    municipality: str | None = Query(
        None, pattern=r"^\d{5,6}$", description="市区町村コード (5桁または6桁)"
    ),
    limit: int = Query(1000, ge=1, le=10000),
    offset: int = Query(0, ge=0, le=10**9),
) -> dict[str, object]:
    scope = scope_of(user)
    wanted = None if not status else {s.value for s in status}

    def answer() -> dict[str, object]:
        a = cached_visible_area(cache, store, scope, area) if area else None
        index, states = cached_facility_states(
            cache, store, scope, a, None if kind is None else kind.value, municipality
        )
        items = [index.dicts[st.facility_id] for st in states]
        if wanted:
            items = [d for d in items if d["status"] in wanted]
        return {"total": len(items), "items": items[offset : offset + limit]}

    return await cached_call(answer)


def detail_json(cache: ReadCache, store: Store, user: User, facility_id: str) -> bytes:
    """The facility page's body as JSON (serialised once per store change)."""
    body = cached_facility_detail(cache, store, scope_of(user), facility_id)
    return cache.get(("facility_detail_json", facility_id), lambda: to_json(body))


@router.get(
    "/{facility_id}",
    summary="施設の詳細 (協力医療機関・不足要件・打診中・候補・代替案)",
    response_model=FacilityDetailOut,
)
async def get_facility_detail(
    facility_id: str, user: UserDep, store: StoreDep, cache: CacheDep
) -> Response:
    body = await cached_call(detail_json, cache, store, user, facility_id)
    return Response(body, media_type="application/json")


@router.post(
    "/{facility_id}/proposals",
    status_code=201,
    summary="候補を手で提案に加える",
    response_model=ProposalOut,
)
def add_proposal(
    facility_id: str, body: ProposeIn, user: WriterDep, store: StoreDep
) -> dict[str, object]:
    return propose_for(
        store, user, facility_id, body.institution_id, body.note, body.override_reason
    )


def propose_for(
    store: Store,
    user: User,
    facility_id: str,
    institution_id: str,
    note: str,
    override_reason: str = "",
) -> dict[str, object]:
    with store.write() as s:
        get_facility(s, scope_of(user), facility_id)
        p = propose(
            s,
            facility_id,
            institution_id,
            actor=user.username,
            note=note,
            override_reason=override_reason,
        )
        audit(
            s,
            user.username,
            "proposal.create",
            f"proposal:{p.id}",
            {
                "facility_id": facility_id,
                "institution_id": institution_id,
                "note": note,
                "override_reason": override_reason,
            },
        )
        return proposal_dict(p)
