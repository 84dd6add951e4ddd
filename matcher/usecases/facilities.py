"""Facilities: the list (JSON, and the searchable page), one facility's page, and a proposal a
coordinator makes by hand for one of them.

Every facility read here carries its state from ``matcher.store.state`` (the one definition);
a facility outside the actor's scope is not found, never forbidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..model import parse_capabilities
from ..params import MatchParams
from ..store.browse import (
    FACILITY_SORTS,
    PER_PAGE,
    Page,
    browse_facilities,
    paginate,
    proposal_statuses,
)
from ..store.browse import FacilityQuery as FacilityQuery
from ..store.facilities import (
    cached_facility_detail,
    cached_facility_states,
    check_scope,
    get_facility,
    site_registrations,
)
from ..store.models import ACTIVE_STATUSES
from ..store.proposal_commands import propose as store_propose
from ..store.proposals import cached_proposals, proposal_dict
from ..store.web_audit import record
from ..vocab import CAPABILITIES
from .actor import Actor
from .areas import area_choices, municipality_choices, visible_area
from .proposals import ProposalItem, open_requirements, proposal_item
from .unit import UnitOfWork
from .views import (
    AreaView,
    CandidateView,
    FacilityDetailView,
    FacilityListView,
    FacilityView,
    PartnerView,
    ProposalView,
    area_view,
    from_dict,
    proposal_view,
)

CANDIDATES_PER_PAGE = 10

__all__ = ["FACILITY_SORTS", "PER_PAGE", "FacilityQuery"]


def _candidate(d: Mapping[str, Any]) -> CandidateView:
    p = d["proposal"]
    return from_dict(CandidateView, d, proposal=None if p is None else proposal_view(p))


def detail_view(d: Mapping[str, Any]) -> FacilityDetailView:
    """The facility page's data (``store.facilities.facility_detail``) as a view."""
    return from_dict(
        FacilityDetailView,
        d,
        partners=tuple(from_dict(PartnerView, p) for p in d["partners"]),
        proposals=tuple(proposal_view(p) for p in d["proposals"]),
        candidates=tuple(_candidate(c) for c in d["candidates"]),
        alternatives=tuple(_candidate(c) for c in d["alternatives"]),
    )


# --- the JSON API ------------------------------------------------------------------------------


def list_facilities(
    uow: UnitOfWork,
    actor: Actor,
    area: str | None = None,
    statuses: set[str] | None = None,
    kind: str | None = None,
    municipality: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> FacilityListView:
    """The actor's facilities (or ``area``'s) with their state, filtered, in id order; one slice
    of ``limit`` from ``offset`` and how many matched."""
    a = visible_area(uow, actor, area or "")
    index, states = cached_facility_states(uow.cache, uow.store, actor.scope, a, kind, municipality)
    items = [index.dicts[st.facility_id] for st in states]
    if statuses:
        items = [d for d in items if d["status"] in statuses]
    return FacilityListView(
        total=len(items),
        items=tuple(from_dict(FacilityView, d) for d in items[offset : offset + limit]),
    )


def require_visible(uow: UnitOfWork, actor: Actor, facility_id: str) -> None:
    """``NotFoundError`` unless the facility exists and lies in the actor's scope (before an
    answer cached per facility is served)."""
    check_scope(uow.cache, uow.store, actor.scope, facility_id)


def facility_detail(uow: UnitOfWork, actor: Actor, facility_id: str) -> FacilityDetailView:
    """One facility: its state, filed partners, proposals, candidates (nearest first, with the
    capacity left) and the alternatives still open."""
    return detail_view(cached_facility_detail(uow.cache, uow.store, actor.scope, facility_id))


def propose(
    uow: UnitOfWork,
    actor: Actor,
    facility_id: str,
    institution_id: str,
    note: str = "",
    override_reason: str = "",
) -> ProposalView:
    """A proposal the actor makes by hand for one of their facilities. Beyond the latest run's
    distance limits or the declared capacity it needs ``override_reason``
    (``store.manual.LimitExceeded``); a live proposal of the pair is a ``ConflictError``."""
    actor.require_writer()
    with uow.write() as s:
        get_facility(s, actor.scope, facility_id)
        p = store_propose(
            s,
            facility_id,
            institution_id,
            actor=actor.username,
            note=note,
            override_reason=override_reason,
        )
        record(
            s,
            actor.username,
            "proposal.create",
            f"proposal:{p.id}",
            {
                "facility_id": facility_id,
                "institution_id": institution_id,
                "note": note,
                "override_reason": override_reason,
            },
        )
        return proposal_view(proposal_dict(p))


# --- pages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FacilityListItem(FacilityView):
    code5: str
    proposals: dict[str, int]  # proposal status → how many
    distance_km: float | None  # from the ``near`` municipality's point


@dataclass(frozen=True)
class FacilityListPage:
    """The searchable facility list: one page of it and its filters' choices."""

    result: Page[FacilityListItem]
    query: FacilityQuery
    area: AreaView | None
    areas: tuple[AreaView, ...]
    municipalities: tuple[tuple[str, str], ...]


def facility_list(
    uow: UnitOfWork, actor: Actor, query: FacilityQuery, area: str = ""
) -> FacilityListPage:
    """The actor's facilities (or ``area``'s) searched, filtered, sorted and paginated."""
    a = visible_area(uow, actor, area)
    index, states = cached_facility_states(uow.cache, uow.store, actor.scope, a)
    props = proposal_statuses(cached_proposals(uow.cache, uow.store, actor.scope, a), "facility_id")
    page = browse_facilities(states, index.dicts, props, query)
    codes = tuple(sorted({st.row.code5 for st in states if st.row.code5}))
    return FacilityListPage(
        result=page.map(lambda d: from_dict(FacilityListItem, d)),
        query=query,
        area=None if a is None else area_view(a),
        areas=area_choices(uow, actor),
        municipalities=municipality_choices(codes),
    )


@dataclass(frozen=True)
class SiteMate:
    """Another registration of the facility's building."""

    facility_id: str
    name: str
    kind: str


@dataclass(frozen=True)
class FacilityPage:
    """The whole story of one facility."""

    facility: FacilityDetailView
    site: tuple[SiteMate, ...]
    live: tuple[ProposalItem, ...]  # proposed, contacted, agreed
    past: tuple[ProposalItem, ...]  # declined, withdrawn
    candidates: Page[CandidateView]
    missing: int  # masks
    pending: int
    open_missing: int  # missing and not about to be brought by a contacted proposal
    max_km: tuple[tuple[str, float], ...]  # (capability label, the default range) for the text


def facility_page(
    uow: UnitOfWork, actor: Actor, facility_id: str, candidates_page: int = 1
) -> FacilityPage:
    f = facility_detail(uow, actor, facility_id)
    missing, pending = parse_capabilities(f.missing), parse_capabilities(f.pending)
    open_missing = open_requirements(missing, pending)
    items = [proposal_item(p, open_missing) for p in f.proposals]
    with uow.read() as s:
        site = tuple(from_dict(SiteMate, m) for m in site_registrations(s, facility_id))
    params = MatchParams()
    return FacilityPage(
        facility=f,
        site=site,
        live=tuple(p for p in items if p.status in ACTIVE_STATUSES),
        past=tuple(p for p in items if p.status not in ACTIVE_STATUSES),
        candidates=paginate(f.candidates, candidates_page, CANDIDATES_PER_PAGE),
        missing=missing,
        pending=pending,
        open_missing=open_missing,
        max_km=tuple((c.label_ja, params.max_km[c]) for c in CAPABILITIES),
    )
