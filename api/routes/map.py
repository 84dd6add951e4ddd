"""Map layers: facilities coloured by status, institutions by remaining capacity, proposal lines."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from matcher.store.db import Store

from ..deps import current_user, get_store
from ..queries import get_visible_area, map_layers
from ..users import User

router = APIRouter(prefix="/api/map", tags=["map"])


@router.get("", summary="地図の表示データ")
def get_map(
    area: str | None = Query(None),
    user: User = Depends(current_user),
    store: Store = Depends(get_store),
) -> dict[str, object]:
    with store.read() as s:
        a = get_visible_area(s, user, area) if area else None
        return map_layers(s, user, a)
