"""Areas the user may see (an area is visible when all its municipalities are in the scope)."""

from __future__ import annotations

from fastapi import APIRouter

from matcher.store.areas import area_codes, get_visible_area, visible_areas
from matcher.store.dashboard import status_counts
from matcher.store.facilities import scoped_states

from ..deps import StoreDep, UserDep, scope_of
from ..errors import ERROR_RESPONSES
from ..schemas import AreaDetailOut, AreaOut

router = APIRouter(prefix="/api/areas", tags=["areas"], responses=ERROR_RESPONSES)


@router.get("", summary="地域の一覧", response_model=list[AreaOut])
def list_areas(user: UserDep, store: StoreDep) -> list[dict[str, object]]:
    with store.read() as s:
        return [
            {
                "code": a.code,
                "name": a.name,
                "kind": a.kind,
                "municipalities": sorted(area_codes(a).codes),
            }
            for a in visible_areas(s, scope_of(user))
        ]


@router.get("/{code}", summary="地域の詳細と施設の状況", response_model=AreaDetailOut)
def get_area(code: str, user: UserDep, store: StoreDep) -> dict[str, object]:
    scope = scope_of(user)
    with store.read() as s:
        a = get_visible_area(s, scope, code)
        counts = status_counts(scoped_states(s, scope, a))
        return {
            "code": a.code,
            "name": a.name,
            "kind": a.kind,
            "municipalities": sorted(area_codes(a).codes),
            "status_counts": counts["total"],
        }
