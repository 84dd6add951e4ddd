"""Facilities as a coordinator reads them, within a scope of municipality codes: lists with each
facility's state (``store.state``), one facility's page (partners, proposals, candidates,
alternatives), cached per store change by the caller's ``ValueCache``.

A facility outside the scope is reported as not found, never as forbidden.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..candidates import Problem, build_candidates
from ..model import FACILITY_KINDS, Facility, Instance, Institution, format_capabilities
from ..params import MatchParams
from ..sites import site_mates
from ..vocab import CodeSet, ProposalStatus, admissible_offers, code5_of
from .areas import area_codes, member_filter
from .cache import NO_CACHE, ValueCache
from .db import Store
from .errors import NotFoundError
from .institutions import institution_dict
from .models import AreaRow, DeclarationRow, FacilityRow, InstitutionRow, ProposalRow
from .proposals import all_proposals, proposal_dict
from .state import (
    FacilityState,
    all_facility_states,
    facility_states,
    infection_institutions,
    institution_states,
    latest_filings,
    registry_facility,
)

# Proposals a candidate shows next to it (withdrawn ones no longer bind the pair).
_SHOWN = (
    ProposalStatus.PROPOSED,
    ProposalStatus.CONTACTED,
    ProposalStatus.AGREED,
    ProposalStatus.DECLINED,
)


def _not_found(facility_id: str) -> NotFoundError:
    return NotFoundError(f"施設「{facility_id}」は見つかりません")


def scoped_facilities(
    session: Session,
    scope: CodeSet,
    area: AreaRow | None = None,
    kind: str | None = None,
    municipality: str | None = None,
) -> list[FacilityRow]:
    """Facilities within ``scope`` (and ``area``, ``kind``, ``municipality``), in id order."""
    q = select(FacilityRow).where(member_filter(scope, FacilityRow.code5))
    if area is not None:
        q = q.where(member_filter(area, FacilityRow.code5))
    if kind is not None:
        q = q.where(FacilityRow.kind == kind)
    if municipality is not None:
        q = q.where(FacilityRow.code5 == code5_of(municipality))
    return list(session.scalars(q.order_by(FacilityRow.facility_id)))


def scoped_states(
    session: Session, scope: CodeSet, area: AreaRow | None = None
) -> list[FacilityState]:
    """The state of every facility within ``scope`` (and ``area``), in id order."""
    return facility_states(session, scoped_facilities(session, scope, area))


def get_facility(session: Session, scope: CodeSet, facility_id: str) -> FacilityRow:
    """Facility ``facility_id`` if it lies in ``scope``, else ``NotFoundError``."""
    row = session.get(FacilityRow, facility_id)
    if row is None or not scope.contains(row.code5):
        raise _not_found(facility_id)
    return row


def facility_dict(s: FacilityState) -> dict[str, object]:
    """A facility and its state as every list shows it (``pending``: 打診中, not coverage)."""
    r = s.row
    info = FACILITY_KINDS[r.kind]
    return {
        "facility_id": r.facility_id,
        "name": r.name,
        "kind": r.kind,
        "kind_ja": info.label_ja,
        "duty": info.duty.value,
        "lat": r.lat,
        "lon": r.lon,
        "municipality_code": r.municipality_code,
        "address": r.address,
        "status": s.status.value,
        "status_ja": s.status.label_ja,
        "required": format_capabilities(s.required),
        "covered": format_capabilities(s.covered),
        "covered_agreed": format_capabilities(s.covered_agreed),
        "missing": format_capabilities(s.missing),
        "pending": format_capabilities(s.pending),
        "filing_year": s.filing_year,
        "unknown": s.unknown,
        "has_infection_partner": s.has_infection_partner,
    }


@dataclass(frozen=True)
class FacilityIndex:
    """Every facility's state now, in facility id order, with its dict (computed once per
    store change)."""

    states: tuple[FacilityState, ...]
    by_id: dict[str, FacilityState]
    dicts: dict[str, dict[str, object]]


def facility_index(cache: ValueCache, store: Store) -> FacilityIndex:
    """Every facility's state, through ``cache``."""

    def compute() -> FacilityIndex:
        with store.read() as s:
            states = tuple(all_facility_states(s))
        return FacilityIndex(
            states,
            {st.facility_id: st for st in states},
            {st.facility_id: facility_dict(st) for st in states},
        )

    def patch(old: FacilityIndex, changed: frozenset[str]) -> FacilityIndex:
        # only these facilities' proposals changed: their states again, the others kept
        if not changed:
            return old
        with store.read() as s:
            rows = list(
                s.scalars(select(FacilityRow).where(FacilityRow.facility_id.in_(sorted(changed))))
            )
            fresh = {st.facility_id: st for st in facility_states(s, rows)}
        states = tuple(fresh.get(st.facility_id, st) for st in old.states)
        dicts = dict(old.dicts)
        dicts.update({fid: facility_dict(st) for fid, st in fresh.items() if fid in old.by_id})
        return FacilityIndex(states, {st.facility_id: st for st in states}, dicts)

    return cache.get(("facility_index",), compute, patch)


def cached_facility_states(
    cache: ValueCache,
    store: Store,
    scope: CodeSet,
    area: AreaRow | None = None,
    kind: str | None = None,
    municipality: str | None = None,
) -> tuple[FacilityIndex, list[FacilityState]]:
    """``facility_states(scoped_facilities(...))`` from the cached index (same rows, same order),
    with the index they come from."""
    code = None if municipality is None else code5_of(municipality)
    members = None if area is None else area_codes(area)

    def compute() -> tuple[FacilityIndex, list[FacilityState]]:
        index = facility_index(cache, store)
        return index, [
            st
            for st in index.states
            if scope.contains(st.row.code5)
            and (members is None or members.contains(st.row.code5))
            and (kind is None or st.row.kind == kind)
            and (code is None or st.row.code5 == code)
        ]

    return cache.get(("facility_states", scope, members, kind, code), compute)


def cached_facility_detail(
    cache: ValueCache, store: Store, scope: CodeSet, facility_id: str
) -> dict[str, object]:
    """One facility (``facility_dict``) with its partners, proposals, candidates and alternatives
    (``NotFoundError`` outside ``scope``). The body does not depend on the scope once the
    facility is in it: every proposal of an in-scope facility is in scope."""
    code5 = facility_codes(cache, store).get(facility_id)
    if code5 is None or not scope.contains(code5):
        raise _not_found(facility_id)

    def compute() -> dict[str, object]:
        with store.read() as s:
            return facility_detail(s, facility_id)

    body = cache.get(("facility_detail", facility_id), compute)
    if cache is NO_CACHE:
        return body
    # The page stays cached while its own facility is unchanged; the candidates' capacity (which
    # any proposal to those institutions moves) is laid over it from per-institution entries.
    on = dt.date.today()
    candidates, changed = [], False
    for c in body["candidates"]:  # type: ignore[attr-defined]
        now = cached_institution_capacity(cache, store, str(c["institution_id"]), on)
        if any(c[k] != v for k, v in now.items()):
            c, changed = {**c, **now}, True
        candidates.append(c)
    if not changed:
        return body
    return {**body, "candidates": candidates, "alternatives": alternatives_of(candidates)}


def facility_codes(cache: ValueCache, store: Store) -> dict[str, str]:
    """Every facility's ``code5`` (for scope checks that need no state: a proposal change does
    not touch it), through ``cache``."""

    def compute() -> dict[str, str]:
        with store.read() as s:
            return {
                fid: code
                for fid, code in s.execute(select(FacilityRow.facility_id, FacilityRow.code5))
            }

    return cache.get(("facility_codes",), compute)


CAPACITY_FIELDS = ("declared_capacity", "used_capacity", "remaining_capacity")


def cached_institution_capacity(
    cache: ValueCache, store: Store, institution_id: str, on: dt.date
) -> dict[str, object]:
    """An institution's declared, used and remaining capacity now (``institution_dict``'s
    fields), through ``cache``."""

    def compute() -> dict[str, object]:
        with store.read() as s:
            row = s.get(InstitutionRow, institution_id)
            if row is None:
                return {}
            d = institution_dict(institution_states(s, [row], on)[institution_id])
        return {k: d[k] for k in CAPACITY_FIELDS}

    return cache.get(("institution_capacity", institution_id), compute)


def alternatives_of(candidates: list[dict[str, object]]) -> list[dict[str, object]]:
    """The candidates a coordinator could still propose: no proposal yet, nearest five."""
    return [c for c in candidates if c["proposal"] is None][:5]


def facility_detail(session: Session, facility_id: str) -> dict[str, object]:
    """The facility page's data (no scope check: see ``cached_facility_detail``)."""
    row = session.get(FacilityRow, facility_id)
    if row is None:  # deleted since the caller looked
        raise _not_found(facility_id)
    state = facility_states(session, [row])[0]
    filing = latest_filings(session, [facility_id]).get(facility_id)
    filed = list(filing.partners if filing else [])
    infection = infection_institutions(
        session, sorted({p.institution_id for p in filed if p.institution_id}), dt.date.today()
    )
    partners = [
        {
            "partner_name": p.partner_name,
            "institution_id": p.institution_id,
            "covers": format_capabilities(p.covers),
            "infection_agreement": bool(p.infection_agreement) or p.institution_id in infection,
        }
        for p in filed
    ]
    candidates = facility_candidates(session, state)
    return {
        **facility_dict(state),
        "partners": partners,
        "proposals": [d for _, d in all_proposals(session, facility_id=facility_id)],
        "candidates": candidates,
        "alternatives": alternatives_of(candidates),
    }


# --- candidates of one facility ----------------------------------------------------------------


def near_institutions(
    session: Session, lat: float, lon: float, reach_km: float, on: dt.date
) -> list[tuple[str, str, float, float, int]]:
    """(id, kind, lat, lon, offers) of institutions in a box around a point, as plain tuples
    (ORM objects for a few hundred rows would cost more than the whole candidate search);
    offers as declared when a declaration in force says so, clinics never admitting."""
    dlat = reach_km / 111.0
    dlon = reach_km / (111.0 * max(0.1, math.cos(math.radians(abs(lat) + dlat))))
    rows = session.execute(
        select(
            InstitutionRow.institution_id,
            InstitutionRow.kind,
            InstitutionRow.lat,
            InstitutionRow.lon,
            InstitutionRow.offers,
        )
        .where(
            InstitutionRow.lat.between(lat - dlat, lat + dlat),
            InstitutionRow.lon.between(lon - dlon, lon + dlon),
        )
        .order_by(InstitutionRow.institution_id)
    ).all()
    ids = [r[0] for r in rows]
    # Declarations that replace the registry's offers (rare): the one in force, latest start wins.
    override: dict[str, int] = {}
    if ids:
        for iid, offers in session.execute(
            select(DeclarationRow.institution_id, DeclarationRow.offers)
            .where(
                DeclarationRow.institution_id.in_(ids),
                DeclarationRow.offers.is_not(None),
                DeclarationRow.valid_from <= on,
                or_(DeclarationRow.valid_to.is_(None), DeclarationRow.valid_to >= on),
            )
            .order_by(DeclarationRow.valid_from)
        ):
            if offers is not None:
                override[iid] = offers
    return [
        (iid, kind, ilat, ilon, admissible_offers(kind, override.get(iid, offers)))
        for iid, kind, ilat, ilon, offers in rows
    ]


def facility_candidates(
    session: Session,
    state: FacilityState,
    params: MatchParams | None = None,
    on: dt.date | None = None,
) -> list[dict[str, object]]:
    """Institutions in range that would add one of the facility's missing capabilities, nearest
    first, with remaining capacity and the pair's proposal (if any). What contacted proposals
    would add is not looked for again, as in the store's re-planning (``load_state``)."""
    params = params or MatchParams()
    on = on or dt.date.today()
    row = state.row
    pairs = {
        p.institution_id: p
        for p in session.scalars(
            select(ProposalRow)
            .where(ProposalRow.facility_id == row.facility_id)
            .order_by(ProposalRow.id)
        )
    }
    fac: Facility = state.planning_facility()
    if not fac.missing:
        return []
    near = near_institutions(
        session, row.lat, row.lon, params.max_range_km / params.road_factor + 1.0, on
    )
    # Capacity does not change which pairs are candidates: it is looked up for those only.
    models = [
        Institution(iid, "", kind, ilat, ilon, offers)  # type: ignore[arg-type]
        for iid, kind, ilat, ilon, offers in near
    ]
    instance = Instance.of([fac], models)
    cand = build_candidates(Problem.from_instance(instance, params), params)
    found = [instance.institutions[int(cand.inst[k])].institution_id for k in range(len(cand))]
    by_id = (
        {
            r.institution_id: r
            for r in session.scalars(
                select(InstitutionRow).where(InstitutionRow.institution_id.in_(found))
            )
        }
        if found
        else {}
    )
    states = institution_states(session, list(by_id.values()), on)
    out = []
    for k, iid in enumerate(found):
        p = pairs.get(iid)
        shown = p if p is not None and p.status in _SHOWN else None
        out.append(
            {
                "rank": k + 1,
                **institution_dict(states[iid]),
                "distance_km": round(float(cand.km[k]), 3),
                "covers": format_capabilities(int(cand.covers[k])),
                "proposal": None if shown is None else proposal_dict(shown),
                "declined": shown is not None and shown.status == ProposalStatus.DECLINED,
            }
        )
    return out


def site_registrations(session: Session, facility_id: str) -> list[dict[str, str]]:
    """The other registrations of the facility's building (``matcher.sites``: same corporation
    and place or address, or the same ``site_id``), looked for in its municipality: id, name,
    kind."""
    row = session.get(FacilityRow, facility_id)
    if row is None:
        return []
    rows = session.scalars(select(FacilityRow).where(FacilityRow.code5 == row.code5))
    facilities = [registry_facility(r) for r in rows if r.kind in FACILITY_KINDS]
    return [
        {"facility_id": f.facility_id, "name": f.name, "kind": f.kind}
        for f in site_mates(sorted(facilities, key=lambda f: f.facility_id), facility_id)
    ]
