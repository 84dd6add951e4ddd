"""Areas the user may see (an area is visible when all its municipalities are in the scope)
(``matcher.usecases.areas``)."""

from __future__ import annotations

from fastapi import APIRouter

from matcher.usecases import areas
from matcher.usecases.views import AreaDetailView, AreaView

from ..deps import ActorDep, UowDep
from ..errors import ERROR_RESPONSES
from ..schemas import AreaDetailOut, AreaOut, many

router = APIRouter(prefix="/api/areas", tags=["areas"], responses=ERROR_RESPONSES)


@router.get("", summary="地域の一覧", response_model=many(AreaOut))
def list_areas(actor: ActorDep, uow: UowDep) -> tuple[AreaView, ...]:
    return areas.list_areas(uow, actor)


@router.get("/{code}", summary="地域の詳細と施設の状況", response_model=AreaDetailOut)
def get_area(code: str, actor: ActorDep, uow: UowDep) -> AreaDetailView:
    return areas.area_detail(uow, actor, code)
