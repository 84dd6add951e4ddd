"""Map layers: facilities coloured by status, institutions by remaining capacity, proposal lines."""

from __future__ import annotations

from fastapi import APIRouter, Query

from matcher.store.areas import get_visible_area
from matcher.store.dashboard import map_layers

from ..deps import StoreDep, UserDep, scope_of
from ..errors import ERROR_RESPONSES
from ..schemas import MapOut

router = APIRouter(prefix="/api/map", tags=["map"], responses=ERROR_RESPONSES)


@router.get("", summary="地図の表示データ", response_model=MapOut)
def get_map(user: UserDep, store: StoreDep, area: str | None = Query(None)) -> dict[str, object]:
    scope = scope_of(user)
    with store.read() as s:
        a = get_visible_area(s, scope, area) if area else None
        return map_layers(s, scope, a)
