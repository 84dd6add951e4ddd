"""Proposals of the user's facilities: list, one with its history, status change (version check)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from matcher.store.areas import cached_visible_area
from matcher.store.db import Store
from matcher.store.proposals import (
    cached_proposals,
    get_proposal,
    history_dicts,
    named_proposal_dict,
    proposal_dict,
)
from matcher.store.workflow import set_status

from ..cache import cached_call
from ..deps import CacheDep, StoreDep, UserDep, WriterDep, scope_of
from ..errors import ERROR_RESPONSES
from ..schemas import IntId, ProposalDetailOut, ProposalOut, ProposalStatus, StatusChangeIn
from ..users import User, audit

router = APIRouter(prefix="/api/proposals", tags=["proposals"], responses=ERROR_RESPONSES)


@router.get("", summary="提案の一覧", response_model=list[ProposalOut])
async def list_proposals(
    user: UserDep,
    store: StoreDep,
    cache: CacheDep,
    area: str | None = Query(None),
    status: list[ProposalStatus] | None = Query(None),
    facility_id: str | None = Query(None),
    institution_id: str | None = Query(None),
) -> list[dict[str, object]]:
    scope = scope_of(user)
    wanted = None if status is None else [s.value for s in status]

    def answer() -> list[dict[str, object]]:
        a = cached_visible_area(cache, store, scope, area) if area else None
        return cached_proposals(cache, store, scope, a, wanted, facility_id, institution_id)

    return await cached_call(answer)


@router.get("/{proposal_id}", summary="提案と変更履歴", response_model=ProposalDetailOut)
def proposal_detail(proposal_id: IntId, user: UserDep, store: StoreDep) -> dict[str, object]:
    with store.read() as s:
        p = get_proposal(s, scope_of(user), proposal_id)
        return {**proposal_dict(p), "history": history_dicts(s, proposal_id)}


@router.post(
    "/{proposal_id}/status", summary="状態を変更 (版が古ければ 409)", response_model=ProposalOut
)
def change_status(
    proposal_id: IntId, body: StatusChangeIn, user: WriterDep, store: StoreDep
) -> dict[str, object]:
    return change_status_for(store, user, proposal_id, body.status.value, body.version, body.note)


def change_status_for(
    store: Store, user: User, proposal_id: int, status: str, version: int, note: str
) -> dict[str, object]:
    with store.write() as s:
        before = get_proposal(s, scope_of(user), proposal_id).status
        p = set_status(s, proposal_id, status, version, actor=user.username, note=note)  # type: ignore[arg-type]
        audit(
            s,
            user.username,
            "proposal.status",
            f"proposal:{proposal_id}",
            {"from": before, "to": status, "version": p.version, "note": note},
        )
        return named_proposal_dict(s, p)
