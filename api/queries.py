"""Reads for the web layer, always through the user's scope: facility status now, candidates of one
facility, institutions with declared and used capacity, the status table and the map layers.

Thin adapters over the store's tables and public functions and the core's candidate graph; a
facility outside the user's scope is reported as not found (404), never as forbidden.

The ``cached_*`` functions serve the hot routes (facility list and page, proposal list) from
values computed once per store change (``api.cache``): every facility's state, every proposal,
each facility's page. They return what the uncached functions return, in the same order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic_core import to_json
from sqlalchemy import Row, func, or_, select
from sqlalchemy.orm import Session, selectinload

from matcher.candidates import Problem, build_candidates
from matcher.model import (
    FACILITY_KINDS,
    Facility,
    Instance,
    Institution,
    Status,
    format_capabilities,
    status_of,
)
from matcher.params import MatchParams
from matcher.store.areas import code5_of, list_areas
from matcher.store.db import Store
from matcher.store.errors import NotFoundError
from matcher.store.models import (
    AreaRow,
    DeclarationRow,
    FacilityRow,
    FilingPartnerRow,
    FilingRow,
    InstitutionRow,
    ProposalRow,
    RunRow,
)
from matcher.store.workflow import STATUS_LABELS_JA, capacity_use, current_declarations

from .cache import ReadCache
from .users import User

LIVE = ("proposed", "contacted", "agreed")
DEADLINE = dt.date(2027, 3, 31)  # end of the 経過措置 for 義務 facilities


def days_left(today: dt.date | None = None) -> int:
    return (DEADLINE - (today or dt.date.today())).days


# --- areas -------------------------------------------------------------------------------------


def visible_areas(session: Session, user: User) -> list[AreaRow]:
    return [a for a in list_areas(session) if user.covers_members(m.code for m in a.municipalities)]


def get_visible_area(session: Session, user: User, code: str) -> AreaRow:
    area = session.scalar(
        select(AreaRow).where(AreaRow.code == code).options(selectinload(AreaRow.municipalities))
    )
    if area is None or not user.covers_members(m.code for m in area.municipalities):
        raise NotFoundError(f"地域「{code}」は見つかりません")
    return area


def cached_visible_area(cache: ReadCache, store: Store, user: User, code: str) -> AreaRow:
    """``get_visible_area`` through the cache (the row is detached, its members loaded)."""

    def compute() -> dict[str, AreaRow]:
        with store.read() as s:
            return {
                a.code: a
                for a in s.scalars(select(AreaRow).options(selectinload(AreaRow.municipalities)))
            }

    area = cache.get(("areas",), compute).get(code)
    if area is None or not user.covers_members(m.code for m in area.municipalities):
        raise NotFoundError(f"地域「{code}」は見つかりません")
    return area


def area_codes(area: AreaRow) -> list[str]:
    return sorted(m.code for m in area.municipalities)


# --- facilities --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FacilityState:
    """A facility with its coverage now: latest filing plus agreed proposals."""

    row: FacilityRow
    filing_year: int | None
    covered_filed: int
    covered_agreed: int
    has_partner: bool | None

    @property
    def covered(self) -> int:
        return self.covered_filed | self.covered_agreed

    @property
    def required(self) -> int:
        return FACILITY_KINDS[self.row.kind].required

    @property
    def missing(self) -> int:
        return self.required & ~self.covered

    @property
    def status(self) -> Status:
        return status_of(self.required, self.covered, self.has_partner)


def latest_filings(session: Session, ids: list[str]) -> dict[str, FilingRow]:
    if not ids:
        return {}
    latest = (
        select(FilingRow.facility_id, func.max(FilingRow.filing_year).label("year"))
        .where(FilingRow.facility_id.in_(ids))
        .group_by(FilingRow.facility_id)
        .subquery()
    )
    rows = session.scalars(
        select(FilingRow)
        .join(
            latest,
            (FilingRow.facility_id == latest.c.facility_id)
            & (FilingRow.filing_year == latest.c.year),
        )
        .options(selectinload(FilingRow.partners))
    )
    return {r.facility_id: r for r in rows}


def facility_states(session: Session, rows: list[FacilityRow]) -> list[FacilityState]:
    ids = [r.facility_id for r in rows]
    filings = latest_filings(session, ids)
    agreed: dict[str, int] = {}
    if ids:
        for fid, covers in session.execute(
            select(ProposalRow.facility_id, ProposalRow.covers).where(
                ProposalRow.facility_id.in_(ids), ProposalRow.status == "agreed"
            )
        ):
            agreed[fid] = agreed.get(fid, 0) | covers
    out = []
    for r in rows:
        filing = filings.get(r.facility_id)
        filed, has = 0, None
        if filing is not None:
            filed = filing.covered
            for p in filing.partners:
                filed |= p.covers
            has = filing.has_partner or bool(filing.partners)
        if r.facility_id in agreed:
            has = True
        out.append(
            FacilityState(
                r,
                None if filing is None else filing.filing_year,
                filed,
                agreed.get(r.facility_id, 0),
                has,
            )
        )
    return out


def scoped_facilities(
    session: Session,
    user: User,
    area: AreaRow | None = None,
    kind: str | None = None,
    municipality: str | None = None,
) -> list[FacilityRow]:
    q = select(FacilityRow).where(user.scope_filter(FacilityRow.code5))
    if area is not None:
        five = [c for c in area_codes(area) if len(c) == 5]
        two = [c for c in area_codes(area) if len(c) == 2]
        q = q.where(FacilityRow.code5.in_(five) | func.substr(FacilityRow.code5, 1, 2).in_(two))
    if kind is not None:
        q = q.where(FacilityRow.kind == kind)
    if municipality is not None:
        q = q.where(FacilityRow.code5 == code5_of(municipality))
    return list(session.scalars(q.order_by(FacilityRow.facility_id)))


def get_facility(session: Session, user: User, facility_id: str) -> FacilityRow:
    row = session.get(FacilityRow, facility_id)
    if row is None or not user.covers_code(row.code5):
        raise NotFoundError(f"施設「{facility_id}」は見つかりません")
    return row


def facility_dict(s: FacilityState) -> dict[str, object]:
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
        "filing_year": s.filing_year,
        "unknown": s.has_partner is None and s.covered == 0,
    }


@dataclass(frozen=True)
class FacilityIndex:
    """Every facility's state now, in facility id order, with its JSON form (computed once per
    store change; see ``api.cache``)."""

    states: tuple[FacilityState, ...]
    by_id: dict[str, FacilityState]
    dicts: dict[str, dict[str, object]]


def _all_facility_states(session: Session) -> list[FacilityState]:
    """``facility_states`` of every facility, in three queries whatever their number."""
    rows = list(session.scalars(select(FacilityRow).order_by(FacilityRow.facility_id)))
    latest = (
        select(FilingRow.facility_id, func.max(FilingRow.filing_year).label("year"))
        .group_by(FilingRow.facility_id)
        .subquery()
    )
    is_latest = (FilingRow.facility_id == latest.c.facility_id) & (
        FilingRow.filing_year == latest.c.year
    )
    filings = {
        row[0]: row
        for row in session.execute(
            select(
                FilingRow.facility_id,
                FilingRow.filing_year,
                FilingRow.has_partner,
                FilingRow.covered,
                FilingRow.id,
            ).join(latest, is_latest)
        )
    }
    partner_covers: dict[int, list[int]] = {}
    for fiid, covers in session.execute(
        select(FilingPartnerRow.filing_id, FilingPartnerRow.covers)
        .join(FilingRow, FilingRow.id == FilingPartnerRow.filing_id)
        .join(latest, is_latest)
    ):
        partner_covers.setdefault(fiid, []).append(covers)
    agreed: dict[str, int] = {}
    for fid, covers in session.execute(
        select(ProposalRow.facility_id, ProposalRow.covers).where(ProposalRow.status == "agreed")
    ):
        agreed[fid] = agreed.get(fid, 0) | covers
    out = []
    for r in rows:
        filing = filings.get(r.facility_id)
        filed, has, year = 0, None, None
        if filing is not None:
            _, year, has_partner, filed, fiid = filing
            parts = partner_covers.get(fiid, [])
            for c in parts:
                filed |= c
            has = has_partner or bool(parts)
        if r.facility_id in agreed:
            has = True
        out.append(FacilityState(r, year, filed, agreed.get(r.facility_id, 0), has))
    return out


def facility_index(cache: ReadCache, store: Store) -> FacilityIndex:
    def compute() -> FacilityIndex:
        with store.read() as s:
            states = tuple(_all_facility_states(s))
        return FacilityIndex(
            states,
            {st.row.facility_id: st for st in states},
            {st.row.facility_id: facility_dict(st) for st in states},
        )

    return cache.get(("facility_index",), compute)


def cached_facility_states(
    cache: ReadCache,
    store: Store,
    user: User,
    area: AreaRow | None = None,
    kind: str | None = None,
    municipality: str | None = None,
) -> tuple[FacilityIndex, list[FacilityState]]:
    """``facility_states(scoped_facilities(...))`` from the cached index (same rows, same order),
    with the index they come from."""
    code = None if municipality is None else code5_of(municipality)
    codes = None if area is None else tuple(area_codes(area))

    def compute() -> tuple[FacilityIndex, list[FacilityState]]:
        index = facility_index(cache, store)
        five = tuple(c for c in codes or () if len(c) == 5)
        two = tuple(c for c in codes or () if len(c) == 2)
        return index, [
            st
            for st in index.states
            if user.covers_code(st.row.code5)
            and (codes is None or st.row.code5 in five or st.row.code5[:2] in two)
            and (kind is None or st.row.kind == kind)
            and (code is None or st.row.code5 == code)
        ]

    return cache.get(("facility_states", user.scope, codes, kind, code), compute)


@dataclass(frozen=True)
class FacilityDetail:
    """The facility page's data and its JSON (serialised once per store change)."""

    body: dict[str, object]
    json: bytes


def cached_facility_detail(
    cache: ReadCache, store: Store, user: User, facility_id: str
) -> FacilityDetail:
    """One facility (``facility_dict``) with its partners, proposals, candidates and alternatives
    (404 outside the user's scope). The body does not depend on the user once the facility is in scope: every
    proposal of an in-scope facility is in scope."""
    st = facility_index(cache, store).by_id.get(facility_id)
    if st is None or not user.covers_code(st.row.code5):
        raise NotFoundError(f"施設「{facility_id}」は見つかりません")

    def compute() -> FacilityDetail:
        with store.read() as s:
            row = s.get(FacilityRow, facility_id)
            if row is None:  # deleted since the index was built
                raise NotFoundError(f"施設「{facility_id}」は見つかりません")
            state = facility_states(s, [row])[0]
            filing = latest_filings(s, [facility_id]).get(facility_id)
            partners = [
                {
                    "partner_name": p.partner_name,
                    "institution_id": p.institution_id,
                    "covers": format_capabilities(p.covers),
                }
                for p in (filing.partners if filing else [])
            ]
            proposals = _all_proposals(s, facility_id=facility_id)
            candidates = facility_candidates(s, row)
        body = {
            **facility_dict(state),
            "partners": partners,
            "proposals": [d for _, d in proposals],
            "candidates": candidates,
            "alternatives": [c for c in candidates if c["proposal"] is None][:5],
        }
        return FacilityDetail(body, to_json(body))

    return cache.get(("facility_detail", facility_id), compute)


# --- proposals ---------------------------------------------------------------------------------


def get_proposal(session: Session, user: User, proposal_id: int) -> ProposalRow:
    p = session.get(ProposalRow, proposal_id)
    if p is not None:
        fac = session.get(FacilityRow, p.facility_id)
        if fac is not None and user.covers_code(fac.code5):
            return p
    raise NotFoundError(f"提案 {proposal_id} は見つかりません")


def proposal_dict(
    p: ProposalRow | Row, fac_name: str = "", inst_name: str = ""
) -> dict[str, object]:
    return {
        "id": p.id,
        "facility_id": p.facility_id,
        "facility_name": fac_name,
        "institution_id": p.institution_id,
        "institution_name": inst_name,
        "covers": format_capabilities(p.covers),
        "distance_km": round(p.distance_km, 3),
        "status": p.status,
        "status_ja": STATUS_LABELS_JA[p.status],
        "version": p.version,
        "run_id": p.run_id,
        "updated_at": p.updated_at.isoformat(timespec="seconds"),
        "updated_by": p.updated_by,
    }


_PROPOSAL_COLUMNS = (
    ProposalRow.id,
    ProposalRow.facility_id,
    ProposalRow.institution_id,
    ProposalRow.covers,
    ProposalRow.distance_km,
    ProposalRow.status,
    ProposalRow.version,
    ProposalRow.run_id,
    ProposalRow.updated_at,
    ProposalRow.updated_by,
)


def _all_proposals(
    session: Session, facility_id: str | None = None
) -> list[tuple[str, dict[str, object]]]:
    """(facility code5, proposal dict) of every proposal (or one facility's), in list order:
    plain column rows, no ORM objects."""
    q = (
        select(*_PROPOSAL_COLUMNS, FacilityRow.name, InstitutionRow.name, FacilityRow.code5)
        .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
        .join(InstitutionRow, InstitutionRow.institution_id == ProposalRow.institution_id)
    )
    if facility_id is not None:
        q = q.where(ProposalRow.facility_id == facility_id)
    q = q.order_by(ProposalRow.facility_id, ProposalRow.distance_km, ProposalRow.id)
    return [(row[-1], proposal_dict(row, row[-3], row[-2])) for row in session.execute(q)]


def cached_proposals(
    cache: ReadCache,
    store: Store,
    user: User,
    area: AreaRow | None = None,
    status: Iterable[str] | None = None,
    facility_id: str | None = None,
    institution_id: str | None = None,
) -> list[dict[str, object]]:
    """``scoped_proposals`` from a cached list of all proposals (same items, same order)."""

    def compute() -> list[tuple[str, dict[str, object]]]:
        with store.read() as s:
            return _all_proposals(s)

    everything = cache.get(("proposals",), compute)
    wanted = None if status is None else set(status)
    five = two = ()
    if area is not None:
        codes = area_codes(area)
        five, two = tuple(c for c in codes if len(c) == 5), tuple(c for c in codes if len(c) == 2)
    return [
        d
        for code5, d in everything
        if user.covers_code(code5)
        and (area is None or code5 in five or code5[:2] in two)
        and (wanted is None or d["status"] in wanted)
        and (facility_id is None or d["facility_id"] == facility_id)
        and (institution_id is None or d["institution_id"] == institution_id)
    ]


def scoped_proposals(
    session: Session,
    user: User,
    area: AreaRow | None = None,
    status: Iterable[str] | None = None,
    facility_id: str | None = None,
    institution_id: str | None = None,
) -> list[dict[str, object]]:
    q = (
        select(ProposalRow, FacilityRow.name, InstitutionRow.name)
        .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
        .join(InstitutionRow, InstitutionRow.institution_id == ProposalRow.institution_id)
        .where(user.scope_filter(FacilityRow.code5))
    )
    if area is not None:
        five = [c for c in area_codes(area) if len(c) == 5]
        two = [c for c in area_codes(area) if len(c) == 2]
        q = q.where(FacilityRow.code5.in_(five) | func.substr(FacilityRow.code5, 1, 2).in_(two))
    if status is not None:
        q = q.where(ProposalRow.status.in_(list(status)))
    if facility_id is not None:
        q = q.where(ProposalRow.facility_id == facility_id)
    if institution_id is not None:
        q = q.where(ProposalRow.institution_id == institution_id)
    q = q.order_by(ProposalRow.facility_id, ProposalRow.distance_km, ProposalRow.id)
    return [proposal_dict(p, fn, inn) for p, fn, inn in session.execute(q)]


# --- institutions ------------------------------------------------------------------------------


def _capacity(
    session: Session, rows: list[InstitutionRow], on: dt.date
) -> dict[str, dict[str, object]]:
    decls = current_declarations(session, [r.institution_id for r in rows], on)
    used = capacity_use(session, decls)
    out = {}
    for r in rows:
        d = decls.get(r.institution_id)
        declared = None if d is None else (0 if not d.willing else d.capacity)
        offers = r.offers if d is None or d.offers is None else d.offers
        if r.kind == "clinic":
            offers &= ~4  # MODEL.md: only hospitals admit
        n = used.get(r.institution_id, 0)
        out[r.institution_id] = {
            "declared_capacity": declared,
            "used_capacity": n,
            "remaining_capacity": None if declared is None else max(0, declared - n),
            "offers_mask": offers,
            "willing": True if d is None else d.willing,
        }
    return out


def institution_dict(r: InstitutionRow, cap: dict[str, object]) -> dict[str, object]:
    return {
        "institution_id": r.institution_id,
        "name": r.name,
        "kind": r.kind,
        "kind_ja": {"hospital": "病院", "clinic": "診療所"}.get(r.kind, r.kind),
        "lat": r.lat,
        "lon": r.lon,
        "municipality_code": r.municipality_code,
        "address": r.address,
        "offers": format_capabilities(int(cap["offers_mask"])),  # type: ignore[arg-type]
        "declared_capacity": cap["declared_capacity"],
        "used_capacity": cap["used_capacity"],
        "remaining_capacity": cap["remaining_capacity"],
    }


def scoped_institutions(
    session: Session, user: User, kind: str | None = None, on: dt.date | None = None
) -> list[dict[str, object]]:
    """Institutions in the scope's municipalities or partnered (by a proposal) with its facilities."""
    linked = (
        select(ProposalRow.institution_id)
        .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
        .where(user.scope_filter(FacilityRow.code5))
    )
    q = select(InstitutionRow).where(
        user.scope_filter(InstitutionRow.code5) | InstitutionRow.institution_id.in_(linked)
    )
    if kind is not None:
        q = q.where(InstitutionRow.kind == kind)
    rows = list(session.scalars(q.order_by(InstitutionRow.institution_id)))
    caps = _capacity(session, rows, on or dt.date.today())
    return [institution_dict(r, caps[r.institution_id]) for r in rows]


def get_institution(
    session: Session, user: User, institution_id: str, on: dt.date | None = None
) -> dict[str, object]:
    r = session.get(InstitutionRow, institution_id)
    visible = r is not None and (
        user.covers_code(r.code5)
        or session.scalar(
            select(func.count())
            .select_from(ProposalRow)
            .join(FacilityRow, FacilityRow.facility_id == ProposalRow.facility_id)
            .where(
                ProposalRow.institution_id == institution_id, user.scope_filter(FacilityRow.code5)
            )
        )
    )
    if not visible:
        raise NotFoundError(f"医療機関「{institution_id}」は見つかりません")
    assert r is not None
    return institution_dict(r, _capacity(session, [r], on or dt.date.today())[r.institution_id])


# --- candidates of one facility ----------------------------------------------------------------


def _near_institutions(
    session: Session, lat: float, lon: float, reach_km: float, on: dt.date
) -> list[tuple[str, str, float, float, int]]:
    """(id, kind, lat, lon, offers) of institutions in a box around a point, as plain tuples
    (ORM objects for a few hundred rows would cost more than the whole candidate search)."""
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
            override[iid] = offers
    out = []
    for iid, kind, ilat, ilon, offers in rows:
        offers = override.get(iid, offers)
        if kind == "clinic":
            offers &= ~4  # MODEL.md: only hospitals admit
        out.append((iid, kind, ilat, ilon, offers))
    return out


def facility_candidates(
    session: Session, row: FacilityRow, params: MatchParams | None = None, on: dt.date | None = None
) -> list[dict[str, object]]:
    """Institutions in range that would add one of the facility's missing capabilities, nearest
    first, with remaining capacity and the pair's proposal (if any). Contacted proposals count as
    coverage, as in the store's re-planning."""
    params = params or MatchParams()
    on = on or dt.date.today()
    state = facility_states(session, [row])[0]
    pairs = {
        p.institution_id: p
        for p in session.scalars(
            select(ProposalRow)
            .where(ProposalRow.facility_id == row.facility_id)
            .order_by(ProposalRow.id)
        )
    }
    covered = state.covered
    for p in pairs.values():
        if p.status == "contacted":
            covered |= p.covers
    has_partner = state.has_partner if covered == state.covered else True
    fac = Facility(row.facility_id, row.name, row.kind, row.lat, row.lon, covered, has_partner)
    if not fac.missing:
        return []
    near = _near_institutions(
        session, row.lat, row.lon, params.max_range_km / params.road_factor + 1.0, on
    )
    # Capacity does not change which pairs are candidates: it is looked up for those only.
    models = [
        Institution(iid, "", kind, ilat, ilon, offers) for iid, kind, ilat, ilon, offers in near
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
    caps = _capacity(session, list(by_id.values()), on)
    out = []
    for k, iid in enumerate(found):
        r = by_id[iid]
        p = pairs.get(iid)
        live = p if p is not None and p.status in LIVE + ("declined",) else None
        out.append(
            {
                "rank": k + 1,
                **institution_dict(r, caps[iid]),
                "distance_km": round(float(cand.km[k]), 3),
                "covers": format_capabilities(int(cand.covers[k])),
                "proposal": None if live is None else proposal_dict(live),
                "declined": live is not None and live.status == "declined",
            }
        )
    return out


# --- status table and dashboard ----------------------------------------------------------------

STATUS_COLUMNS = (
    ("all", "①全ての要件を満たす"),
    ("partial", "②要件の一部を満たす"),
    ("none", "③要件を満たさないが協力医療機関あり"),
    ("no_partner", "協力医療機関なし"),
    ("unknown", "④集計していない(届出なし)"),
)


def status_counts(states: Iterable[FacilityState]) -> dict[str, dict[str, int]]:
    """Counts per kind and status (kinds in MODEL.md order, plus a 計 row)."""
    table = {k: {s: 0 for s, _ in STATUS_COLUMNS} for k in FACILITY_KINDS}
    for s in states:
        table[s.row.kind][s.status.value] += 1
    table["total"] = {s: sum(table[k][s] for k in FACILITY_KINDS) for s, _ in STATUS_COLUMNS}
    return table


def status_table(session: Session, user: User, areas: list[AreaRow]) -> list[dict[str, object]]:
    """The seed table's form: one row per (area, kind) with ①②③④ counts and shares."""
    rows = []
    for area in areas:
        counts = status_counts(facility_states(session, scoped_facilities(session, user, area)))
        for kind, c in counts.items():
            total = sum(c.values())
            rows.append(
                {
                    "area_code": area.code,
                    "area_name": area.name,
                    "kind": kind,
                    "kind_ja": "計" if kind == "total" else FACILITY_KINDS[kind].label_ja,
                    **c,
                    "total": total,
                    **{
                        f"share_{s}": (round(100 * c[s] / total, 1) if total else 0.0)
                        for s, _ in STATUS_COLUMNS
                    },
                }
            )
    return rows


def latest_runs(session: Session, areas: list[AreaRow], limit: int = 10) -> list[RunRow]:
    ids = [a.id for a in areas]
    if not ids:
        return []
    return list(
        session.scalars(
            select(RunRow).where(RunRow.area_id.in_(ids)).order_by(RunRow.id.desc()).limit(limit)
        )
    )


def map_layers(session: Session, user: User, area: AreaRow | None = None) -> dict[str, object]:
    """Facilities coloured by status, institutions near them sized by remaining capacity, and the
    live proposals as lines."""
    facs = facility_states(session, scoped_facilities(session, user, area))
    fac_out = [
        {
            k: v
            for k, v in facility_dict(s).items()
            if k
            in ("facility_id", "name", "kind_ja", "lat", "lon", "status", "status_ja", "missing")
        }
        for s in facs
    ]
    props = []
    ids = [s.row.facility_id for s in facs]
    inst_ids: set[str] = set()
    if ids:
        for p in session.scalars(
            select(ProposalRow).where(
                ProposalRow.facility_id.in_(ids), ProposalRow.status.in_(LIVE)
            )
        ):
            props.append(
                {
                    "id": p.id,
                    "facility_id": p.facility_id,
                    "institution_id": p.institution_id,
                    "status": p.status,
                }
            )
            inst_ids.add(p.institution_id)
    insts: list[InstitutionRow] = []
    if facs:
        pad = 0.2
        lat0, lat1 = min(s.row.lat for s in facs) - pad, max(s.row.lat for s in facs) + pad
        lon0, lon1 = min(s.row.lon for s in facs) - pad, max(s.row.lon for s in facs) + pad
        insts = list(
            session.scalars(
                select(InstitutionRow)
                .where(
                    (
                        InstitutionRow.lat.between(lat0, lat1)
                        & InstitutionRow.lon.between(lon0, lon1)
                    )
                    | InstitutionRow.institution_id.in_(sorted(inst_ids))
                )
                .order_by(InstitutionRow.institution_id)
            )
        )
    caps = _capacity(session, insts, dt.date.today())
    inst_out = [
        {
            k: v
            for k, v in institution_dict(r, caps[r.institution_id]).items()
            if k
            in (
                "institution_id",
                "name",
                "kind",
                "lat",
                "lon",
                "offers",
                "declared_capacity",
                "remaining_capacity",
            )
        }
        for r in insts
    ]
    return {"facilities": fac_out, "institutions": inst_out, "proposals": props}
