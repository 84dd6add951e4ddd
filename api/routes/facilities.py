"""Facilities in the user's scope: filtered lists, one facility with partners, proposals,
missing capabilities, candidates and alternatives; a hand-made proposal
(``matcher.usecases.facilities``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter

from matcher.usecases import facilities
from matcher.usecases.actor import Actor
from matcher.usecases.unit import UnitOfWork
from matcher.usecases.views import ProposalView

from ..cache import cached_call, cached_json
from ..deps import ActorDep, UowDep, WriterActorDep
from ..errors import ERROR_RESPONSES
from ..schemas import (
    FacilityDetailOut,
    FacilityKind,
    FacilityListOut,
    ProposalOut,
    ProposeIn,
    Status,
)

router = APIRouter(prefix="/api/facilities", tags=["facilities"], responses=ERROR_RESPONSES)
_DETAIL = TypeAdapter(FacilityDetailOut)
_LIST = TypeAdapter(FacilityListOut)


@router.get(
    "", summary="施設の一覧 (状況・種別・市区町村で絞り込み)", response_model=FacilityListOut
)
async def list_facilities(
    actor: ActorDep,
    uow: UowDep,
    area: Annotated[str | None, Query(description="地域コード")] = None,
    status: Annotated[list[Status] | None, Query(description="状況 (複数可)")] = None,
    kind: Annotated[FacilityKind | None, Query()] = None,
    municipality: Annotated[
        str | None, Query(pattern=r"^\d{5,6}$", description="市区町村コード (5桁または6桁)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    body = await cached_call(
        list_json,
        uow,
        actor,
        area,
        frozenset(s.value for s in status) if status else None,
        None if kind is None else kind.value,
        municipality,
        limit,
        offset,
    )
    return Response(body, media_type="application/json")


def detail_json(uow: UnitOfWork, actor: Actor, facility_id: str) -> bytes:
    """The facility page's answer as JSON, serialised once per change of the facility or of an
    institution it shows (``api.cache``: the page is not even rebuilt while its JSON holds)."""
    facilities.require_visible(uow, actor, facility_id)
    return cached_json(
        uow.cache,
        ("facility_detail_json", facility_id),
        _DETAIL,
        lambda: facilities.facility_detail(uow, actor, facility_id),
    )


def list_json(
    uow: UnitOfWork,
    actor: Actor,
    area: str | None,
    statuses: frozenset[str] | None,
    kind: str | None,
    municipality: str | None,
    limit: int,
    offset: int,
) -> bytes:
    """The facility list's answer as JSON, serialised once per store change."""
    return cached_json(
        uow.cache,
        ("facilities_json", actor.scope, area, statuses, kind, municipality, limit, offset),
        _LIST,
        lambda: facilities.list_facilities(
            uow,
            actor,
            area,
            None if statuses is None else set(statuses),
            kind,
            municipality,
            limit,
            offset,
        ),
    )


@router.get(
    "/{facility_id}",
    summary="施設の詳細 (協力医療機関・不足要件・打診中・候補・代替案)",
    response_model=FacilityDetailOut,
)
async def get_facility_detail(facility_id: str, actor: ActorDep, uow: UowDep) -> Response:
    body = await cached_call(detail_json, uow, actor, facility_id)
    return Response(body, media_type="application/json")


@router.post(
    "/{facility_id}/proposals",
    status_code=201,
    summary="候補を手で提案に加える",
    response_model=ProposalOut,
)
def add_proposal(
    facility_id: str, body: ProposeIn, actor: WriterActorDep, uow: UowDep
) -> ProposalView:
    return facilities.propose(
        uow, actor, facility_id, body.institution_id, body.note, body.override_reason
    )
