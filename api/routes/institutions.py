"""Institutions near or partnered with the user's facilities, with declared and used capacity."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from matcher.store.db import Store

from ..deps import current_user, get_store
from ..queries import get_institution, scoped_institutions, scoped_proposals
from ..schemas import InstitutionKindIn
from ..users import User

router = APIRouter(prefix="/api/institutions", tags=["institutions"])


@router.get("", summary="医療機関の一覧 (申告された受入枠と使用数)")
def list_institutions(
    kind: InstitutionKindIn | None = Query(None),
    user: User = Depends(current_user),
    store: Store = Depends(get_store),
) -> list[dict[str, object]]:
    with store.read() as s:
        return scoped_institutions(s, user, kind)


@router.get("/{institution_id}", summary="医療機関の詳細と提案の一覧")
def institution_detail(
    institution_id: str, user: User = Depends(current_user), store: Store = Depends(get_store)
) -> dict[str, object]:
    with store.read() as s:
        inst = get_institution(s, user, institution_id)
        return {**inst, "proposals": scoped_proposals(s, user, institution_id=institution_id)}
