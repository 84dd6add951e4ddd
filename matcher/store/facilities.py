"""Facilities as a coordinator reads them, within a scope of municipality codes: lists with each
facility's state (``store.state``), one facility's page (partners, proposals, candidates,
alternatives), cached per store change by the caller's ``ValueCache``.

A facility outside the scope is reported as not found, never as forbidden.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..candidates import Problem, build_candidates
from ..model import FACILITY_KINDS, Facility, Instance, Institution, format_capabilities
from ..params import MatchParams
from ..sites import site_groups, site_mates
from ..vocab import CodeSet, ProposalStatus, code5_of
from ..wareki import today as today_jp
from .areas import area_codes, member_filter
from .cache import NO_CACHE, ValueCache
from .db import Store
from .errors import NotFoundError
from .institutions import institution_dict
from .manual import run_params
from .models import (
    AreaRow,
    FacilityRow,
    FilingPartnerRow,
    FilingRow,
    InstitutionRow,
    ProposalRow,
)
from .proposals import all_proposals
from .state import (
    FacilityState,
    all_facility_states,
    current_declarations,
    facility_states,
    institution_states,
    latest_year,
    offers_in_force,
    refresh_states,
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
        # only these facilities' proposals changed (the registry did not: the cache's tag): their
        # proposals read again, their filings kept (``refresh_states``), the others kept
        mine = [old.by_id[f] for f in sorted(changed) if f in old.by_id]
        if not mine:
            return old
        with store.read() as s:
            fresh = {st.facility_id: st for st in refresh_states(s, mine)}
        by_id = dict(old.by_id)  # the same order: the index's (facility id) order
        dicts = dict(old.dicts)
        for fid, st in fresh.items():
            if fid in by_id:
                by_id[fid], dicts[fid] = st, facility_dict(st)
        return FacilityIndex(tuple(by_id.values()), by_id, dicts)

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
    with the index they come from. Which facilities match depends on the registry only (kept
    across proposal changes); their states come from the index (patched per facility)."""
    code = None if municipality is None else code5_of(municipality)
    members = None if area is None else area_codes(area)

    def compute() -> tuple[str, ...]:
        return tuple(
            st.facility_id
            for st in facility_index(cache, store).states
            if scope.contains(st.row.code5)
            and (members is None or members.contains(st.row.code5))
            and (kind is None or st.row.kind == kind)
            and (code is None or st.row.code5 == code)
        )

    ids = cache.get(("facility_ids", scope, members, kind, code), compute)
    index = facility_index(cache, store)
    by_id = index.by_id
    return index, [by_id[f] for f in ids if f in by_id]


def cached_facility_detail(
    cache: ValueCache, store: Store, scope: CodeSet, facility_id: str
) -> dict[str, object]:
    """One facility (``facility_dict``) with its partners, proposals, candidates and alternatives
    (``NotFoundError`` outside ``scope``). The body does not depend on the scope once the
    facility is in it: every proposal of an in-scope facility is in scope."""
    check_scope(cache, store, scope, facility_id)
    if cache is NO_CACHE:
        with store.read() as s:
            return facility_detail(s, facility_id)
    on = today_jp()

    def compute() -> dict[str, object]:
        # everything but the facility's own proposals comes from cached tables (``CachedPages``)
        source = CachedPages(cache, store, on)
        with store.read() as s:
            return facility_detail(s, facility_id, source)

    body = cache.get(("facility_detail", facility_id), compute)
    # The page stays cached while its own facility is unchanged; the candidates' capacity (which
    # any proposal to those institutions moves) is laid over it from the ledger.
    ledger = cached_institution_ledger(cache, store, on)
    candidates, changed = [], False
    for c in body["candidates"]:  # type: ignore[attr-defined]
        now = ledger.get(str(c["institution_id"]))
        if now is not None and any(c[k] != now[k] for k in CAPACITY_FIELDS):
            c, changed = {**c, **{k: now[k] for k in CAPACITY_FIELDS}}, True
        candidates.append(c)
    if not changed:
        return body
    closed: list[str] = body["closed_institutions"]  # type: ignore[assignment]
    return {**body, "candidates": candidates, "alternatives": alternatives_of(candidates, closed)}


def check_scope(cache: ValueCache, store: Store, scope: CodeSet, facility_id: str) -> None:
    """``NotFoundError`` unless facility ``facility_id`` exists and lies in ``scope``."""
    code5 = facility_codes(cache, store).get(facility_id)
    if code5 is None or not scope.contains(code5):
        raise _not_found(facility_id)


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


def institution_ledger(
    session: Session, institution_ids: Sequence[str] | None, on: dt.date
) -> dict[str, dict[str, object]]:
    """``institution_dict`` (offers, declared, used, remaining capacity, 第二種協定) of each of
    ``institution_ids`` (every institution when ``None``) on ``on``."""
    q = select(InstitutionRow)
    if institution_ids is not None:
        if not institution_ids:
            return {}
        q = q.where(InstitutionRow.institution_id.in_(list(institution_ids)))
    rows = list(session.scalars(q))
    states = institution_states(session, rows, on)
    return {r.institution_id: institution_dict(states[r.institution_id]) for r in rows}


def cached_institution_ledger(
    cache: ValueCache, store: Store, on: dt.date
) -> dict[str, dict[str, object]]:
    """``institution_ledger`` of every institution, through ``cache``: computed once, then
    brought up to date for the institutions whose ledger line a proposal change moved."""

    def compute() -> dict[str, dict[str, object]]:
        with store.read() as s:
            return institution_ledger(s, None, on)

    def patch(
        old: dict[str, dict[str, object]], changed: frozenset[str]
    ) -> dict[str, dict[str, object]]:
        if not changed:
            return old
        with store.read() as s:
            fresh = institution_ledger(s, sorted(changed), on)
        new = {k: v for k, v in old.items() if k not in changed}
        new.update(fresh)
        return new

    return cache.get(("institution_ledger",), compute, patch)


def alternatives_of(
    candidates: list[dict[str, object]], closed: Iterable[object]
) -> list[dict[str, object]]:
    """The candidates a coordinator could still propose: no proposal yet and not ``closed`` (a
    partner filed, or a pair declined, for the facility's site: ``closed_institutions``), nearest
    five — the alternatives ``kyoryoku match`` lists (``explain.alternatives_of``)."""
    shut = set(closed)
    return [c for c in candidates if c["proposal"] is None and c["institution_id"] not in shut][:5]


def closed_institutions(
    session: Session,
    facility_id: str,
    mates: Sequence[str],
    filed: Callable[[str], Sequence[FiledPartner]],
) -> list[str]:
    """The institutions the planner never proposes to the facility (``match.candidate_graph``):
    partners filed for it or, with its site merged (``mates``, ``matcher.sites``), for any
    registration of its building, and pairs declined for another registration of the building
    (a pair excluded for one registration is excluded for the building: ``Sites.spread``). Its
    own declined pairs are its proposals."""
    out = {p.institution_id for m in (facility_id, *mates) for p in filed(m) if p.institution_id}
    if mates:
        out.update(
            str(i)
            for i in session.scalars(
                select(ProposalRow.institution_id).where(
                    ProposalRow.facility_id.in_(list(mates)),
                    ProposalRow.status == ProposalStatus.DECLINED,
                )
            )
        )
    return sorted(out)


# --- what a facility page reads besides its own proposals --------------------------------------

# (institution id, kind, lat, lon, offers as the candidate search reads them)
SearchRow = tuple[str, str, float, float, int]


@dataclass(frozen=True)
class FiledPartner:
    """A partner named in a facility's latest filing."""

    partner_name: str
    institution_id: str | None
    covers: int
    infection_agreement: bool | None  # as filed


class PageSource(Protocol):
    """What ``facility_detail`` reads besides the facility's own proposals."""

    def state(self, facility_id: str) -> FacilityState | None: ...

    def partners(self, facility_id: str) -> Sequence[FiledPartner]: ...

    def near(self, lat: float, lon: float, reach_km: float) -> list[SearchRow]: ...

    def institutions(self, institution_ids: Sequence[str]) -> Mapping[str, dict[str, object]]: ...

    def params(self, code5: str) -> MatchParams: ...

    def site_mates(self, facility_id: str) -> Sequence[str]: ...


class StorePages:
    """``PageSource`` read from the store in ``session`` (a few queries per page)."""

    def __init__(self, session: Session, on: dt.date) -> None:
        self.session, self.on = session, on

    def state(self, facility_id: str) -> FacilityState | None:
        row = self.session.get(FacilityRow, facility_id)
        return None if row is None else facility_states(self.session, [row])[0]

    def partners(self, facility_id: str) -> Sequence[FiledPartner]:
        return filed_partners(self.session, [facility_id]).get(facility_id, ())

    def near(self, lat: float, lon: float, reach_km: float) -> list[SearchRow]:
        return near_institutions(self.session, lat, lon, reach_km, self.on)

    def institutions(self, institution_ids: Sequence[str]) -> Mapping[str, dict[str, object]]:
        return institution_ledger(self.session, institution_ids, self.on)

    def params(self, code5: str) -> MatchParams:
        return run_params(self.session, code5)[0]

    def site_mates(self, facility_id: str) -> Sequence[str]:
        row = self.session.get(FacilityRow, facility_id)
        if row is None:
            return ()
        return municipality_sites(self.session, row.code5).get(facility_id, ())


@dataclass(frozen=True)
class InstitutionTable:
    """Every institution as the candidate search reads them (``search_rows``), in the store's
    id order, with their coordinates as arrays for the box test."""

    rows: tuple[SearchRow, ...]
    lat: np.ndarray
    lon: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[SearchRow]) -> InstitutionTable:
        lat = np.array([r[2] for r in rows], dtype=np.float64)
        lon = np.array([r[3] for r in rows], dtype=np.float64)
        return cls(tuple(rows), lat, lon)

    def near(self, lat: float, lon: float, reach_km: float) -> list[SearchRow]:
        """``near_institutions`` without a query: the same box, the same rows, the same order."""
        la0, la1, lo0, lo1 = search_box(lat, lon, reach_km)
        hit = (self.lat >= la0) & (self.lat <= la1) & (self.lon >= lo0) & (self.lon <= lo1)
        return [self.rows[k] for k in np.flatnonzero(hit)]


class CachedPages:
    """``PageSource`` from the read cache: each facility's state (``facility_index``), the filed
    partners and the institution table (kept until the registry changes) and the ledger
    (``cached_institution_ledger``) — a page computed cold reads only its own proposals."""

    def __init__(self, cache: ValueCache, store: Store, on: dt.date) -> None:
        self.cache, self.store, self.on = cache, store, on

    def state(self, facility_id: str) -> FacilityState | None:
        return facility_index(self.cache, self.store).by_id.get(facility_id)

    def partners(self, facility_id: str) -> Sequence[FiledPartner]:
        def compute() -> dict[str, tuple[FiledPartner, ...]]:
            with self.store.read() as s:
                return filed_partners(s, None)

        return self.cache.get(("filed_partners",), compute).get(facility_id, ())

    def near(self, lat: float, lon: float, reach_km: float) -> list[SearchRow]:
        def compute() -> InstitutionTable:
            with self.store.read() as s:
                return InstitutionTable.of(search_rows(s, self.on))

        return self.cache.get(("institution_table",), compute).near(lat, lon, reach_km)

    def institutions(self, institution_ids: Sequence[str]) -> Mapping[str, dict[str, object]]:
        return cached_institution_ledger(self.cache, self.store, self.on)

    def params(self, code5: str) -> MatchParams:
        def compute() -> MatchParams:
            with self.store.read() as s:
                return run_params(s, code5)[0]

        return self.cache.get(("run_params", code5), compute)

    def site_mates(self, facility_id: str) -> Sequence[str]:
        code5 = facility_codes(self.cache, self.store).get(facility_id)
        if code5 is None:
            return ()

        def compute() -> dict[str, tuple[str, ...]]:
            with self.store.read() as s:
                return municipality_sites(s, code5)

        return self.cache.get(("site_mates", code5), compute).get(facility_id, ())


def filed_partners(
    session: Session, facility_ids: Sequence[str] | None
) -> dict[str, tuple[FiledPartner, ...]]:
    """The partners named in each facility's latest filing (every facility's when ``None``), in
    the filing's order."""
    if facility_ids is not None and not facility_ids:
        return {}
    latest, is_latest = latest_year(None if facility_ids is None else list(facility_ids))
    out: dict[str, list[FiledPartner]] = {}
    for fid, name, iid, covers, infection in session.execute(
        select(
            FilingRow.facility_id,
            FilingPartnerRow.partner_name,
            FilingPartnerRow.institution_id,
            FilingPartnerRow.covers,
            FilingPartnerRow.infection_agreement,
        )
        .join(FilingRow, FilingRow.id == FilingPartnerRow.filing_id)
        .join(latest, is_latest)
        .order_by(FilingRow.facility_id, FilingPartnerRow.position)
    ):
        out.setdefault(str(fid), []).append(FiledPartner(name, iid, covers, infection))
    return {f: tuple(ps) for f, ps in out.items()}


def facility_detail(
    session: Session, facility_id: str, source: PageSource | None = None
) -> dict[str, object]:
    """The facility page's data (no scope check: see ``cached_facility_detail``): its state,
    filed partners, proposals, candidates and alternatives. ``source`` gives everything but the
    facility's proposals (default: read in ``session``)."""
    on = today_jp()
    src = source or StorePages(session, on)
    state = src.state(facility_id)
    if state is None:  # deleted since the caller looked
        raise _not_found(facility_id)
    proposals = [d for _, d in all_proposals(session, facility_id=facility_id)]
    # the ranges of the area's latest run, as the planner and a hand-made proposal use them
    params = src.params(state.row.code5)
    found = facility_candidates(src, state, params)
    filed = src.partners(facility_id)
    # the building's other registrations, when the run plans them as one site
    mates = () if params.count_site_registrations else src.site_mates(facility_id)
    closed = closed_institutions(session, facility_id, mates, src.partners)
    named = sorted({p.institution_id for p in filed if p.institution_id})
    insts = src.institutions(sorted({*named, *(iid for iid, _, _ in found)}))
    partners = [
        {
            "partner_name": p.partner_name,
            "institution_id": p.institution_id,
            "covers": format_capabilities(p.covers),
            "infection_agreement": bool(p.infection_agreement)
            or bool(p.institution_id and insts[p.institution_id]["infection_agreement"]),
        }
        for p in filed
    ]
    # the pair's proposal as the candidate shows it: the last one made (withdrawn ones no longer
    # bind the pair), without the names the page shows anyway
    pairs = {d["institution_id"]: d for d in sorted(proposals, key=lambda d: d["id"])}  # type: ignore[arg-type, return-value]
    candidates = []
    for k, (iid, km, covers) in enumerate(found):
        p = pairs.get(iid)
        shown = p if p is not None and p["status"] in _SHOWN else None
        candidates.append(
            {
                "rank": k + 1,
                **insts[iid],
                "distance_km": round(km, 3),
                "covers": format_capabilities(covers),
                "proposal": None
                if shown is None
                else {**shown, "facility_name": "", "institution_name": ""},
                "declined": shown is not None and shown["status"] == ProposalStatus.DECLINED,
            }
        )
    return {
        **facility_dict(state),
        "partners": partners,
        "proposals": proposals,
        "candidates": candidates,
        "alternatives": alternatives_of(candidates, closed),
        # what the page depends on besides its own proposals (``api.cache``)
        "site_mates": list(mates),
        "closed_institutions": closed,
    }


# --- candidates of one facility ----------------------------------------------------------------


def search_box(lat: float, lon: float, reach_km: float) -> tuple[float, float, float, float]:
    """(lat min, lat max, lon min, lon max) of the box around a point that holds every
    institution within ``reach_km`` of it."""
    dlat = reach_km / 111.0
    dlon = reach_km / (111.0 * max(0.1, math.cos(math.radians(abs(lat) + dlat))))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def search_rows(
    session: Session, on: dt.date, box: tuple[float, float, float, float] | None = None
) -> list[SearchRow]:
    """(id, kind, lat, lon, offers) of institutions (in ``box``, else all) in id order, as plain
    tuples (ORM objects for a few hundred rows would cost more than the whole candidate search);
    offers as the planner and the ledger read them (``state.offers_in_force`` of the declaration
    in force, ``state.current_declarations``)."""
    q = select(
        InstitutionRow.institution_id,
        InstitutionRow.kind,
        InstitutionRow.lat,
        InstitutionRow.lon,
        InstitutionRow.offers,
    )
    if box is not None:
        la0, la1, lo0, lo1 = box
        q = q.where(InstitutionRow.lat.between(la0, la1), InstitutionRow.lon.between(lo0, lo1))
    rows = session.execute(q.order_by(InstitutionRow.institution_id)).all()
    if not rows:
        return []
    decls = current_declarations(session, None if box is None else [r[0] for r in rows], on)
    return [
        (iid, kind, ilat, ilon, offers_in_force(kind, offers, decls.get(iid)))
        for iid, kind, ilat, ilon, offers in rows
    ]


def near_institutions(
    session: Session, lat: float, lon: float, reach_km: float, on: dt.date
) -> list[SearchRow]:
    """``search_rows`` in the box around a point that holds everything within ``reach_km``."""
    return search_rows(session, on, search_box(lat, lon, reach_km))


def facility_candidates(
    source: PageSource, state: FacilityState, params: MatchParams | None = None
) -> list[tuple[str, float, int]]:
    """(institution id, km, covers) of the institutions in range that would add one of the
    facility's missing capabilities, nearest first (``candidates.build_candidates``). What
    contacted proposals would add is not looked for again, as in the store's re-planning
    (``load_state``)."""
    params = params or MatchParams()
    row = state.row
    fac: Facility = state.planning_facility()
    if not fac.missing:
        return []
    near = source.near(row.lat, row.lon, params.max_range_km / params.road_factor + 1.0)
    # Capacity does not change which pairs are candidates: it is looked up for those only.
    models = [
        Institution(iid, "", kind, ilat, ilon, offers)  # type: ignore[arg-type]
        for iid, kind, ilat, ilon, offers in near
    ]
    instance = Instance.of([fac], models)
    cand = build_candidates(Problem.from_instance(instance, params), params)
    return [
        (
            instance.institutions[int(cand.inst[k])].institution_id,
            float(cand.km[k]),
            int(cand.covers[k]),
        )
        for k in range(len(cand))
    ]


def _municipality_facilities(session: Session, code5: str) -> list[Facility]:
    """The municipality's facilities as the planner reads them, in id order."""
    rows = session.scalars(select(FacilityRow).where(FacilityRow.code5 == code5))
    facilities = [registry_facility(r) for r in rows if r.kind in FACILITY_KINDS]
    return sorted(facilities, key=lambda f: f.facility_id)  # Python's order on either database


def municipality_sites(session: Session, code5: str) -> dict[str, tuple[str, ...]]:
    """Each facility of the municipality that shares its building (``matcher.sites``) → the
    ids of the building's other registrations."""
    facilities = _municipality_facilities(session, code5)
    out: dict[str, tuple[str, ...]] = {}
    for group in site_groups(facilities):
        ids = [facilities[k].facility_id for k in group]
        for fid in ids:
            out[fid] = tuple(m for m in ids if m != fid)
    return out


def site_registrations(session: Session, facility_id: str) -> list[dict[str, str]]:
    """The other registrations of the facility's building (``matcher.sites``: same corporation
    and place or address, or the same ``site_id``), looked for in its municipality: id, name,
    kind."""
    row = session.get(FacilityRow, facility_id)
    if row is None:
        return []
    facilities = _municipality_facilities(session, row.code5)
    return [
        {"facility_id": f.facility_id, "name": f.name, "kind": f.kind}
        for f in site_mates(facilities, facility_id)
    ]
