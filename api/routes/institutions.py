"""Institutions near or partnered with the user's facilities, with declared and used capacity."""

from __future__ import annotations

from fastapi import APIRouter, Query

from matcher.store.institutions import get_institution, scoped_institutions
from matcher.store.proposals import scoped_proposals

from ..deps import StoreDep, UserDep, scope_of
from ..errors import ERROR_RESPONSES
from ..schemas import InstitutionDetailOut, InstitutionKind, InstitutionOut

router = APIRouter(prefix="/api/institutions", tags=["institutions"], responses=ERROR_RESPONSES)


@router.get(
    "", summary="医療機関の一覧 (申告された受入枠と使用数)", response_model=list[InstitutionOut]
)
def list_institutions(
    user: UserDep, store: StoreDep, kind: InstitutionKind | None = Query(None)
) -> list[dict[str, object]]:
    with store.read() as s:
        return scoped_institutions(s, scope_of(user), None if kind is None else kind.value)


@router.get(
    "/{institution_id}",
    summary="医療機関の詳細と提案の一覧",
    response_model=InstitutionDetailOut,
)
def institution_detail(institution_id: str, user: UserDep, store: StoreDep) -> dict[str, object]:
    scope = scope_of(user)
    with store.read() as s:
        inst = get_institution(s, scope, institution_id)
        return {**inst, "proposals": scoped_proposals(s, scope, institution_id=institution_id)}
