"""Proposals of the user's facilities: list, one with its history, status change with version check."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from matcher.store.db import Store
from matcher.store.models import FacilityRow, InstitutionRow
from matcher.store.workflow import proposal_history, set_status

from ..cache import ReadCache, cached_call, get_cache
from ..deps import current_user, get_store, writer
from ..queries import cached_proposals, cached_visible_area, get_proposal, proposal_dict
from ..schemas import IntId, ProposalStatusIn, StatusChangeIn
from ..users import User, audit

router = APIRouter(prefix="/api/proposals", tags=["proposals"])


@router.get("", summary="提案の一覧", response_model=list[dict[str, object]])
async def list_proposals(
    area: str | None = Query(None),
    status: list[ProposalStatusIn] | None = Query(None),
    facility_id: str | None = Query(None),
    institution_id: str | None = Query(None),
    user: User = Depends(current_user),
    store: Store = Depends(get_store),
    cache: ReadCache = Depends(get_cache),
) -> list[dict[str, object]]:
    def answer() -> list[dict[str, object]]:
        a = cached_visible_area(cache, store, user, area) if area else None
        return cached_proposals(cache, store, user, a, status, facility_id, institution_id)

    return await cached_call(answer)


@router.get("/{proposal_id}", summary="提案と変更履歴")
def proposal_detail(
    proposal_id: IntId, user: User = Depends(current_user), store: Store = Depends(get_store)
) -> dict[str, object]:
    with store.read() as s:
        p = get_proposal(s, user, proposal_id)
        history = [
            {
                "at": h.at.isoformat(timespec="seconds"),
                "actor": h.actor,
                "from_status": h.from_status,
                "to_status": h.to_status,
                "note": h.note,
                "version": h.version,
                "run_id": h.run_id,
            }
            for h in proposal_history(s, proposal_id)
        ]
        return {**proposal_dict(p), "history": history}


@router.post("/{proposal_id}/status", summary="状態を変更 (版が古ければ 409)")
def change_status(
    proposal_id: IntId,
    body: StatusChangeIn,
    user: User = Depends(writer),
    store: Store = Depends(get_store),
) -> dict[str, object]:
    return change_status_for(store, user, proposal_id, body.status, body.version, body.note)


def change_status_for(
    store: Store, user: User, proposal_id: int, status: str, version: int, note: str
) -> dict[str, object]:
    with store.write() as s:
        before = get_proposal(s, user, proposal_id).status
        p = set_status(s, proposal_id, status, version, actor=user.username, note=note)  # type: ignore[arg-type]
        audit(
            s,
            user.username,
            "proposal.status",
            f"proposal:{proposal_id}",
            {"from": before, "to": status, "version": p.version, "note": note},
        )
        fac, inst = s.get(FacilityRow, p.facility_id), s.get(InstitutionRow, p.institution_id)
        return proposal_dict(p, fac.name if fac else "", inst.name if inst else "")
