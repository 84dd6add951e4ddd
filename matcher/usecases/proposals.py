"""Proposals: the lists, one proposal with its history, a status change; and which actions a
proposal offers — the lifecycle's next statuses, and only "withdraw" for a redundant one.

A proposal is *redundant* when it is still only proposed and adds nothing the facility still
needs: not what it has (filed or agreed) nor what a contacted proposal is about to bring
(``open_requirements``). The facility page marks it and offers only its withdrawal.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import parse_capabilities
from ..store.browse import PER_PAGE, Page
from ..store.facilities import facility_codes
from ..store.proposal_commands import set_status
from ..store.proposal_list import ProposalQuery, browse_proposals, proposal_institutions

__all__ = ["ACTION_ORDER", "ProposalQuery", "next_statuses", "open_requirements"]
from ..store.proposals import cached_proposals, get_proposal, history_dicts, named_proposal_dict
from ..store.web_audit import record
from ..vocab import PROPOSAL_TRANSITIONS, ProposalStatus
from .actor import Actor
from .areas import area_choices, municipality_choices, visible_area
from .unit import UnitOfWork
from .views import (
    AreaView,
    HistoryView,
    ProposalDetailView,
    ProposalView,
    area_view,
    from_dict,
    history_view,
    proposal_view,
)

# The order of a proposal's actions (buttons) on every page.
ACTION_ORDER: tuple[str, ...] = ("contacted", "agreed", "declined", "withdrawn", "proposed")


def next_statuses(status: str) -> tuple[str, ...]:
    """The statuses a proposal in ``status`` may move to (``vocab.PROPOSAL_TRANSITIONS``), in
    ``ACTION_ORDER``."""
    allowed = {s.value for s in PROPOSAL_TRANSITIONS.get(ProposalStatus(status), ())}
    return tuple(s for s in ACTION_ORDER if s in allowed)


def open_requirements(missing: int, pending: int) -> int:
    """What a facility still needs that no contacted proposal is about to bring (masks)."""
    return missing & ~pending


@dataclass(frozen=True)
class ProposalItem(ProposalView):
    """A live or past proposal on its facility's page."""

    adds: int  # what it would bring of the facility's open requirements (mask)
    redundant: bool  # still proposed, adds nothing: may only be withdrawn
    actions: tuple[str, ...]


def proposal_item(p: ProposalView, open_missing: int) -> ProposalItem:
    """``p`` with what it adds to ``open_missing`` and the actions it offers."""
    adds = parse_capabilities(p.covers) & open_missing
    redundant = p.status == ProposalStatus.PROPOSED.value and not adds
    actions = next_statuses(p.status)
    if redundant:
        actions = tuple(a for a in actions if a == ProposalStatus.WITHDRAWN.value)
    return ProposalItem(**vars(p), adds=adds, redundant=redundant, actions=actions)


# --- the JSON API ------------------------------------------------------------------------------


def list_proposals(
    uow: UnitOfWork,
    actor: Actor,
    area: str | None = None,
    statuses: list[str] | None = None,
    facility_id: str | None = None,
    institution_id: str | None = None,
) -> tuple[ProposalView, ...]:
    """The proposals of the actor's facilities (or of ``area``'s), filtered, in list order."""
    a = visible_area(uow, actor, area or "")
    found = cached_proposals(
        uow.cache, uow.store, actor.scope, a, statuses, facility_id, institution_id
    )
    return tuple(proposal_view(d) for d in found)


def proposal_detail(uow: UnitOfWork, actor: Actor, proposal_id: int) -> ProposalDetailView:
    """A proposal and its history, oldest first."""
    with uow.read() as s:
        p = named_proposal_dict(s, get_proposal(s, actor.scope, proposal_id))
        history = tuple(history_view(h) for h in history_dicts(s, proposal_id))
    return from_dict(ProposalDetailView, p, history=history)


def change_status(
    uow: UnitOfWork, actor: Actor, proposal_id: int, status: str, version: int, note: str = ""
) -> ProposalView:
    """Move a proposal of the actor's facilities to ``status`` if nobody changed it since
    ``version`` (``ConflictError``), as the lifecycle allows (``TransitionError``); recorded in
    its history and the audit log."""
    actor.require_writer()
    with uow.write() as s:
        before = get_proposal(s, actor.scope, proposal_id).status
        p = set_status(s, proposal_id, status, version, actor=actor.username, note=note)  # type: ignore[arg-type]
        record(
            s,
            actor.username,
            "proposal.status",
            f"proposal:{proposal_id}",
            {"from": before, "to": status, "version": p.version, "note": note},
        )
        return proposal_view(named_proposal_dict(s, p))


# --- pages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalsPage:
    """The proposals list (提案一覧): by institution, searched and filtered, one page."""

    result: Page[ProposalView]
    query: ProposalQuery
    area: AreaView | None
    areas: tuple[AreaView, ...]
    municipalities: tuple[tuple[str, str], ...]
    institutions: tuple[tuple[str, str], ...]


def proposals_page(
    uow: UnitOfWork, actor: Actor, query: ProposalQuery, area: str = ""
) -> ProposalsPage:
    a = visible_area(uow, actor, area)
    props = cached_proposals(uow.cache, uow.store, actor.scope, a)
    codes = facility_codes(uow.cache, uow.store)
    query = ProposalQuery(
        **{**vars(query), "per_page": query.per_page if query.per_page in PER_PAGE else PER_PAGE[0]}
    )
    page = browse_proposals(props, codes, query)
    towns = tuple(sorted({codes.get(str(p["facility_id"]), "") for p in props} - {""}))
    return ProposalsPage(
        result=page.map(proposal_view),
        query=query,
        area=None if a is None else area_view(a),
        areas=area_choices(uow, actor),
        municipalities=municipality_choices(towns),
        institutions=tuple(proposal_institutions(props)),
    )


@dataclass(frozen=True)
class ProposalPage:
    """One proposal, its history (newest first) and the actions it offers."""

    proposal: ProposalView
    history: tuple[HistoryView, ...]
    actions: tuple[str, ...]


def proposal_page(uow: UnitOfWork, actor: Actor, proposal_id: int) -> ProposalPage:
    d = proposal_detail(uow, actor, proposal_id)
    p = from_dict(ProposalView, vars(d))
    return ProposalPage(p, tuple(reversed(d.history)), next_statuses(p.status))
