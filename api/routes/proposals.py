"""Proposals of the user's facilities: list, one with its history, status change (version check)
(``matcher.usecases.proposals``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter

from matcher.usecases import proposals
from matcher.usecases.actor import Actor
from matcher.usecases.unit import UnitOfWork
from matcher.usecases.views import ProposalDetailView, ProposalView

from ..cache import cached_call, cached_json
from ..deps import ActorDep, UowDep, WriterActorDep
from ..errors import ERROR_RESPONSES
from ..schemas import IntId, ProposalDetailOut, ProposalOut, ProposalStatus, StatusChangeIn, many

router = APIRouter(prefix="/api/proposals", tags=["proposals"], responses=ERROR_RESPONSES)


@router.get("", summary="提案の一覧", response_model=many(ProposalOut))
async def list_proposals(
    actor: ActorDep,
    uow: UowDep,
    area: Annotated[str | None, Query()] = None,
    status: Annotated[list[ProposalStatus] | None, Query()] = None,
    facility_id: Annotated[str | None, Query()] = None,
    institution_id: Annotated[str | None, Query()] = None,
) -> Response:
    wanted = None if status is None else tuple(s.value for s in status)
    body = await cached_call(list_json, uow, actor, area, wanted, facility_id, institution_id)
    return Response(body, media_type="application/json")


_LIST = TypeAdapter(many(ProposalOut))


def list_json(
    uow: UnitOfWork,
    actor: Actor,
    area: str | None,
    statuses: tuple[str, ...] | None,
    facility_id: str | None,
    institution_id: str | None,
) -> bytes:
    """The proposal list's answer as JSON, serialised once per store change."""
    return cached_json(
        uow.cache,
        ("proposals_json", actor.scope, area, statuses, facility_id, institution_id),
        _LIST,
        lambda: proposals.list_proposals(
            uow,
            actor,
            area,
            None if statuses is None else list(statuses),
            facility_id,
            institution_id,
        ),
    )


@router.get("/{proposal_id}", summary="提案と変更履歴", response_model=ProposalDetailOut)
def proposal_detail(proposal_id: IntId, actor: ActorDep, uow: UowDep) -> ProposalDetailView:
    return proposals.proposal_detail(uow, actor, proposal_id)


@router.post(
    "/{proposal_id}/status", summary="状態を変更 (版が古ければ 409)", response_model=ProposalOut
)
def change_status(
    proposal_id: IntId, body: StatusChangeIn, actor: WriterActorDep, uow: UowDep
) -> ProposalView:
    return proposals.change_status(
        uow, actor, proposal_id, body.status.value, body.version, body.note
    )
