"""Institutions near or partnered with the user's facilities, with declared and used capacity
(``matcher.usecases.institutions``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from matcher.usecases import institutions
from matcher.usecases.views import InstitutionDetailView, InstitutionView

from ..deps import ActorDep, UowDep
from ..errors import ERROR_RESPONSES
from ..schemas import InstitutionDetailOut, InstitutionKind, InstitutionOut, many

router = APIRouter(prefix="/api/institutions", tags=["institutions"], responses=ERROR_RESPONSES)


@router.get(
    "", summary="医療機関の一覧 (申告された受入枠と使用数)", response_model=many(InstitutionOut)
)
def list_institutions(
    actor: ActorDep, uow: UowDep, kind: Annotated[InstitutionKind | None, Query()] = None
) -> tuple[InstitutionView, ...]:
    return institutions.list_institutions(uow, actor, None if kind is None else kind.value)


@router.get(
    "/{institution_id}",
    summary="医療機関の詳細と提案の一覧",
    response_model=InstitutionDetailOut,
)
def institution_detail(institution_id: str, actor: ActorDep, uow: UowDep) -> InstitutionDetailView:
    return institutions.institution_detail(uow, actor, institution_id)
