"""Map layers: facilities coloured by status, institutions by remaining capacity, proposal
lines; and the background drawn without tiles (``matcher.usecases.areas``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from matcher.usecases import areas
from matcher.usecases.views import MapBackgroundView, MapView

from ..deps import ActorDep, UowDep
from ..errors import ERROR_RESPONSES
from ..schemas import MapBackgroundOut, MapOut

router = APIRouter(prefix="/api/map", tags=["map"], responses=ERROR_RESPONSES)


@router.get("", summary="地図の表示データ", response_model=MapOut)
def get_map(actor: ActorDep, uow: UowDep, area: Annotated[str | None, Query()] = None) -> MapView:
    return areas.map_of(uow, actor, area)


@router.get(
    "/fallback",
    summary="タイルなしの背景 (都道府県の輪郭と市区町村名)",
    response_model=MapBackgroundOut,
)
def map_fallback(actor: ActorDep, uow: UowDep, area: str = "") -> MapBackgroundView:
    """The outlines of the prefectures in the user's scope and the names of its
    municipalities at their points: a background that needs no tile server (LGWAN)."""
    return areas.map_background(uow, actor, area)
