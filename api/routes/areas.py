"""Areas the user may see (an area is visible when all its municipalities are in the scope)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from matcher.store.db import Store

from ..deps import current_user, get_store
from ..queries import (
    area_codes,
    facility_states,
    get_visible_area,
    scoped_facilities,
    status_counts,
    visible_areas,
)
from ..users import User

router = APIRouter(prefix="/api/areas", tags=["areas"])


@router.get("", summary="地域の一覧")
def list_areas(
    user: User = Depends(current_user), store: Store = Depends(get_store)
) -> list[dict[str, object]]:
    with store.read() as s:
        return [
            {"code": a.code, "name": a.name, "kind": a.kind, "municipalities": area_codes(a)}
            for a in visible_areas(s, user)
        ]


@router.get("/{code}", summary="地域の詳細と施設の状況")
def get_area(
    code: str, user: User = Depends(current_user), store: Store = Depends(get_store)
) -> dict[str, object]:
    with store.read() as s:
        a = get_visible_area(s, user, code)
        counts = status_counts(facility_states(s, scoped_facilities(s, user, a)))
        return {
            "code": a.code,
            "name": a.name,
            "kind": a.kind,
            "municipalities": area_codes(a),
            "status_counts": counts["total"],
        }
