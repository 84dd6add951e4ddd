"""Institutions in the actor's scope or partnered with its facilities: the list (JSON, and the
searchable page), one institution with its proposals, the printable list of its requests.

Declared, used and remaining capacity come from the capacity ledger
(``matcher.store.state.capacity_use``) through ``store.institutions``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store.browse import INSTITUTION_SORTS, Page, browse_institutions, proposal_statuses
from ..store.browse import InstitutionQuery as InstitutionQuery
from ..store.institutions import get_institution, scoped_institutions
from ..store.models import ACTIVE_STATUSES
from ..store.proposals import cached_proposals, scoped_proposals
from ..vocab import code5_of
from .actor import Actor
from .areas import municipality_choices
from .unit import UnitOfWork
from .views import InstitutionDetailView, InstitutionView, ProposalView, from_dict, proposal_view

__all__ = ["INSTITUTION_SORTS", "InstitutionQuery"]


def list_institutions(
    uow: UnitOfWork, actor: Actor, kind: str | None = None
) -> tuple[InstitutionView, ...]:
    with uow.read() as s:
        found = scoped_institutions(s, actor.scope, kind)
    return tuple(from_dict(InstitutionView, d) for d in found)


def institution_detail(uow: UnitOfWork, actor: Actor, institution_id: str) -> InstitutionDetailView:
    """An institution and every proposal to the actor's facilities."""
    with uow.read() as s:
        inst = get_institution(s, actor.scope, institution_id)
        props = scoped_proposals(s, actor.scope, institution_id=institution_id)
    return from_dict(InstitutionDetailView, inst, proposals=tuple(proposal_view(p) for p in props))


# --- pages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstitutionListItem(InstitutionView):
    requests: dict[str, int]  # proposal status → how many
    live_requests: int
    distance_km: float | None


@dataclass(frozen=True)
class InstitutionListPage:
    result: Page[InstitutionListItem]
    query: InstitutionQuery
    municipalities: tuple[tuple[str, str], ...]


def institution_list(uow: UnitOfWork, actor: Actor, query: InstitutionQuery) -> InstitutionListPage:
    """Institutions searched, filtered, sorted and paginated, with their requests by status."""

    def compute() -> list[dict[str, object]]:
        with uow.read() as s:
            return scoped_institutions(s, actor.scope)

    insts = uow.cache.get(("workspace_institutions", actor.scope), compute)
    props = proposal_statuses(cached_proposals(uow.cache, uow.store, actor.scope), "institution_id")
    page = browse_institutions(insts, props, query)
    codes = tuple(sorted({code5_of(d["municipality_code"]) for d in insts} - {""}))
    return InstitutionListPage(
        result=page.map(lambda d: from_dict(InstitutionListItem, d)),
        query=query,
        municipalities=municipality_choices(codes),
    )


@dataclass(frozen=True)
class InstitutionPrint:
    """What an institution is asked: its live proposals, to print."""

    institution: InstitutionView
    proposals: tuple[ProposalView, ...]


def institution_print(uow: UnitOfWork, actor: Actor, institution_id: str) -> InstitutionPrint:
    with uow.read() as s:
        inst = get_institution(s, actor.scope, institution_id)
        props = scoped_proposals(
            s, actor.scope, institution_id=institution_id, status=ACTIVE_STATUSES
        )
    return InstitutionPrint(
        from_dict(InstitutionView, inst), tuple(proposal_view(p) for p in props)
    )
