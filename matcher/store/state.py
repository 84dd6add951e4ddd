"""A facility's state in the store, defined once (MODEL.md "A facility's state in the store").

- ``covered_now`` = what its latest filing covers ∪ what its **agreed** proposals cover; the
  status (``all``/``partial``/…) is computed from it; ``has_partner`` when it has a filed partner
  or an agreed proposal; ``unknown`` only with no filing and no agreement.
- ``pending`` = what its **contacted** proposals would add: shown as 打診中, never coverage.
- An institution's capacity used = its agreed (from the declaration's start on) + contacted.
- 第二種協定指定医療機関 (issue 16): an institution is one when a current filing (the latest
  filing of some facility) names it as one or its declaration in force says so
  (``infection_institutions``); a facility ``has_infection_partner`` when one of its partners in
  its latest filing is filed as one or is such an institution, or an **agreed** proposal is to
  one (contacted ones are not partners yet).

The dashboard, the status table, lists, the facility page, exports, reports of stored runs and
the planner (``planner_input.load_state``) all read these functions; nothing else computes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, FromClause, Subquery, func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..infection import FACILITY_KEY, INSTITUTION_KEY, flagged
from ..model import (
    FACILITY_KINDS,
    FILING_KEYS,
    FILING_YEAR_KEY,
    PARTNER_IDS_KEY,
    Facility,
    Institution,
    Status,
    status_of,
)
from ..sites import site_ids
from ..sources.declarations import declared_terms
from ..vocab import ALL_MASK, GeocodePrecision, InstitutionKind, ProposalStatus, admissible_offers
from ..wareki import day_of
from ..wareki import today as today_jp
from .models import (
    ACTIVE_STATUSES,
    DeclarationRow,
    FacilityRow,
    FilingPartnerRow,
    FilingRow,
    InstitutionRow,
    ProposalHistoryRow,
    ProposalRow,
)

# Above this many facilities one query over every row is cheaper than a long IN list (and stays
# under SQLite's limit on bound parameters).
_IN_LIMIT = 2000


@dataclass(frozen=True)
class FacilityState:
    """One facility now: its latest filing, its agreed and its contacted proposals."""

    row: FacilityRow
    filing_year: int | None  # None: no filing
    covered_filed: int
    filed_partner: bool | None  # None: no filing
    covered_agreed: int
    n_agreed: int
    covered_contacted: int
    n_contacted: int
    has_infection_partner: bool = False  # a filed or agreed partner is 第二種協定指定医療機関
    filed_partner_ids: tuple[str, ...] = ()  # registry ids of the partners its latest filing names
    filed_infection: bool = False  # the part of ``has_infection_partner`` its filing gives

    @property
    def facility_id(self) -> str:
        return self.row.facility_id

    @property
    def required(self) -> int:
        return FACILITY_KINDS[self.row.kind].required

    @property
    def covered(self) -> int:
        """``covered_now``: latest filing ∪ agreed proposals."""
        return self.covered_filed | self.covered_agreed

    @property
    def has_partner(self) -> bool | None:
        """A filed partner or an agreed proposal; ``None`` with no filing and no agreement."""
        if self.n_agreed:
            return True
        return self.filed_partner

    @property
    def missing(self) -> int:
        return self.required & ~self.covered

    @property
    def status(self) -> Status:
        return status_of(self.required, self.covered, self.has_partner)

    @property
    def unknown(self) -> bool:
        return self.status is Status.UNKNOWN

    @property
    def pending(self) -> int:
        """What the contacted proposals would add (打診中), never counted as coverage."""
        return self.covered_contacted & ~self.covered & ALL_MASK

    @property
    def planning_covered(self) -> int:
        """What a re-plan takes as already arranged: ``covered_now`` plus the contacted pairs,
        which the plan keeps as they are (they are not proposed again)."""
        return self.covered | self.covered_contacted

    @property
    def planning_has_partner(self) -> bool | None:
        return True if self.n_contacted else self.has_partner

    def planning_facility(self) -> Facility:
        """The planner's input for this facility (contacted pairs carried, see ``load_state``)."""
        return registry_facility(
            self.row, self.planning_covered, self.planning_has_partner, self._planning_extra()
        )

    def filed_facility(self) -> Facility:
        """The facility as its registry and latest filing say, in the simple format's terms
        (``covered``, ``has_partner``, ``partner_ids``, ``filing_year``): what an export writes
        and ``db import-csv`` reads back into the same state."""
        extra = {k: v for k, v in (self.row.extra or {}).items() if k not in FILING_KEYS}
        if self.filed_partner_ids:
            extra[PARTNER_IDS_KEY] = "+".join(self.filed_partner_ids)
        if self.filing_year is not None:
            extra[FILING_YEAR_KEY] = str(self.filing_year)
        covered = 0 if self.filing_year is None else self.covered_filed
        return registry_facility(self.row, covered, self.filed_partner, extra)

    def _planning_extra(self) -> dict[str, str]:
        """Registry extra, the 第二種協定 flag and the filed partners (never proposed as new:
        ``model.filed_partner_pairs``)."""
        extra = flagged(self.row.extra, FACILITY_KEY, self.has_infection_partner)
        extra.pop(PARTNER_IDS_KEY, None)  # the latest filing's partners, not what a file once said
        if self.filed_partner_ids:
            extra[PARTNER_IDS_KEY] = "+".join(self.filed_partner_ids)
        return extra


def proposal_states(as_of: dt.datetime | None = None) -> FromClause:
    """Every proposal with the status it had at ``as_of`` (naive UTC; now when ``None``): a table
    with at least the columns id, facility_id, institution_id, covers, status, status_at.

    The status at a past moment is the last history row written by then; proposals created
    later are absent.
    """
    if as_of is None:
        return ProposalRow.__table__
    last = (
        select(ProposalHistoryRow.proposal_id, func.max(ProposalHistoryRow.id).label("history_id"))
        .where(ProposalHistoryRow.at <= as_of)
        .group_by(ProposalHistoryRow.proposal_id)
        .subquery()
    )
    return (
        select(
            ProposalRow.id,
            ProposalRow.facility_id,
            ProposalRow.institution_id,
            ProposalRow.covers,
            ProposalHistoryRow.to_status.label("status"),
            ProposalHistoryRow.at.label("status_at"),
        )
        .join(last, last.c.proposal_id == ProposalRow.id)
        .join(ProposalHistoryRow, ProposalHistoryRow.id == last.c.history_id)
        .subquery("proposal_states")
    )


def latest_year(ids: Sequence[str] | None) -> tuple[Subquery, ColumnElement[bool]]:
    """The latest filing year of each facility of ``ids`` (all when ``None``) as a subquery, and
    the join condition that keeps only ``FilingRow``s of that year."""
    q = select(FilingRow.facility_id, func.max(FilingRow.filing_year).label("year"))
    if ids is not None:
        q = q.where(FilingRow.facility_id.in_(ids))
    latest = q.group_by(FilingRow.facility_id).subquery()
    return latest, (FilingRow.facility_id == latest.c.facility_id) & (
        FilingRow.filing_year == latest.c.year
    )


def latest_filings(session: Session, facility_ids: Sequence[str]) -> dict[str, FilingRow]:
    """The latest filing of each facility, with its named partners loaded."""
    if not facility_ids:
        return {}
    latest, is_latest = latest_year(list(facility_ids))
    rows = session.scalars(
        select(FilingRow).join(latest, is_latest).options(selectinload(FilingRow.partners))
    )
    return {r.facility_id: r for r in rows}


def _filed(
    session: Session,
    ids: Sequence[str] | None,
    partners: dict[str, list[tuple[str | None, bool]]],
    named: dict[str, list[str]],
) -> dict[str, tuple[int, int, bool]]:
    """facility id → (filing year, covered by the filing and its partners, filed partner);
    ``partners`` receives facility id → [(institution id, filed as 第二種協定)] and ``named``
    facility id → [the partner's id as filed: its institution, else the id it was filed under
    before that institution was imported (``imports.link_filed_partners``)]."""
    latest, is_latest = latest_year(ids)
    out: dict[str, tuple[int, int, bool]] = {}
    by_filing: dict[int, str] = {}
    for fid, year, has_partner, covered, filing_id in session.execute(
        select(
            FilingRow.facility_id,
            FilingRow.filing_year,
            FilingRow.has_partner,
            FilingRow.covered,
            FilingRow.id,
        ).join(latest, is_latest)
    ):
        out[fid] = (year, covered, bool(has_partner))
        by_filing[filing_id] = fid
    for filing_id, covers, iid, infection, as_filed in session.execute(
        select(
            FilingPartnerRow.filing_id,
            FilingPartnerRow.covers,
            FilingPartnerRow.institution_id,
            FilingPartnerRow.infection_agreement,
            FilingPartnerRow.filed_institution_id,
        )
        .join(FilingRow, FilingRow.id == FilingPartnerRow.filing_id)
        .join(latest, is_latest)
        .order_by(FilingPartnerRow.filing_id, FilingPartnerRow.position)
    ):
        fid = by_filing[filing_id]
        year, covered, _ = out[fid]
        out[fid] = (year, covered | covers, True)
        partners.setdefault(fid, []).append((iid, bool(infection)))
        if iid or as_filed:
            named.setdefault(fid, []).append(str(iid or as_filed))
    return out


def _decided(
    session: Session,
    ids: Sequence[str] | None,
    as_of: dt.datetime | None,
    partners: dict[str, list[tuple[str | None, bool]]],
) -> dict[str, list[int]]:
    """facility id → [agreed covers, agreed count, contacted covers, contacted count];
    ``partners`` receives the agreed institutions (not filed as anything)."""
    ps = proposal_states(as_of)
    q = select(ps.c.facility_id, ps.c.status, ps.c.covers, ps.c.institution_id).where(
        ps.c.status.in_((ProposalStatus.AGREED.value, ProposalStatus.CONTACTED.value))
    )
    if ids is not None:
        q = q.where(ps.c.facility_id.in_(ids))
    out: dict[str, list[int]] = {}
    for row in session.execute(q):
        fid, status, covers = str(row[0]), row[1], int(row[2])
        acc = out.setdefault(fid, [0, 0, 0, 0])
        k = 0 if status == ProposalStatus.AGREED else 2
        acc[k] |= covers
        acc[k + 1] += 1
        if k == 0:
            partners.setdefault(fid, []).append((str(row[3]), False))
    return out


def facility_states(
    session: Session, rows: Sequence[FacilityRow], as_of: dt.datetime | None = None
) -> list[FacilityState]:
    """The state of each facility of ``rows`` (same order), with the proposals' statuses as at
    ``as_of`` (naive UTC; now when ``None``). Three queries whatever the number of rows."""
    if not rows:
        return []
    ids: list[str] | None = [r.facility_id for r in rows]
    if len(ids) > _IN_LIMIT:  # type: ignore[arg-type]
        ids = None
    partners: dict[str, list[tuple[str | None, bool]]] = {}
    named_as: dict[str, list[str]] = {}
    filed = _filed(session, ids, partners, named_as)  # the filed partners
    filed_ids = {f: tuple(dict.fromkeys(ps)) for f, ps in named_as.items()}
    agreed_with: dict[str, list[tuple[str | None, bool]]] = {}  # the agreed ones
    decided = _decided(session, ids, as_of, agreed_with)
    every = (*partners.values(), *agreed_with.values())
    named = sorted({i for ps in every for i, said in ps if i and not said})
    infection = infection_institutions(session, named, (day_of(as_of) if as_of else today_jp()))
    out = []
    for r in rows:
        year, covered, partner = filed.get(r.facility_id, (None, 0, None))
        agreed, n_agreed, contacted, n_contacted = decided.get(r.facility_id, (0, 0, 0, 0))
        by_filing = any(said or i in infection for i, said in partners.get(r.facility_id, ()))
        by_agreement = any(i in infection for i, _ in agreed_with.get(r.facility_id, ()))
        out.append(
            FacilityState(
                r,
                year,
                covered,
                partner,
                agreed,
                n_agreed,
                contacted,
                n_contacted,
                by_filing or by_agreement,
                filed_ids.get(r.facility_id, ()),
                by_filing,
            )
        )
    return out


def refresh_states(session: Session, states: Sequence[FacilityState]) -> list[FacilityState]:
    """``states`` brought up to date after changes of their proposals only (registry rows and
    filings as they were): ``facility_states`` of the same rows, reading only the proposals (and
    whether newly agreed partners are 第二種協定指定医療機関)."""
    if not states:
        return []
    ids = [st.facility_id for st in states]
    agreed_with: dict[str, list[tuple[str | None, bool]]] = {}
    decided = _decided(session, ids if len(ids) <= _IN_LIMIT else None, None, agreed_with)
    named = sorted({i for ps in agreed_with.values() for i, _ in ps if i})
    infection = infection_institutions(session, named, today_jp()) if named else set()
    out = []
    for st in states:
        agreed, n_agreed, contacted, n_contacted = decided.get(st.facility_id, (0, 0, 0, 0))
        by_agreement = any(i in infection for i, _ in agreed_with.get(st.facility_id, ()))
        out.append(
            replace(
                st,
                covered_agreed=agreed,
                n_agreed=n_agreed,
                covered_contacted=contacted,
                n_contacted=n_contacted,
                has_infection_partner=st.filed_infection or by_agreement,
            )
        )
    return out


def all_facility_states(session: Session) -> list[FacilityState]:
    """Every facility's state, in facility id order."""
    rows = list(session.scalars(select(FacilityRow).order_by(FacilityRow.facility_id)))
    return facility_states(session, rows)


# --- institutions ------------------------------------------------------------------------------


def current_declarations(
    session: Session, institution_ids: list[str] | None, on: dt.date
) -> dict[str, DeclarationRow]:
    """The declaration in force on ``on`` per institution (latest start wins)."""
    q = select(DeclarationRow).where(
        DeclarationRow.valid_from <= on,
        or_(DeclarationRow.valid_to.is_(None), DeclarationRow.valid_to >= on),
    )
    if institution_ids is not None:
        q = q.where(DeclarationRow.institution_id.in_(institution_ids))
    out: dict[str, DeclarationRow] = {}
    for d in session.scalars(q.order_by(DeclarationRow.valid_from)):
        out[d.institution_id] = d
    return out


def terms_in_force(
    kind: str, registry_offers: int, declaration: DeclarationRow | None
) -> tuple[int, int | None]:
    """(offers, declared capacity) of an institution under its declaration in force, by the
    rule ``kyoryoku match``'s declarations file follows too (``sources.declarations.
    declared_terms``: not willing → capacity 0, offers kept); without a declaration the
    registry's offers and no capacity declared (unlimited)."""
    if declaration is None:
        return admissible_offers(kind, registry_offers), None
    return declared_terms(
        kind, registry_offers, bool(declaration.willing), declaration.offers, declaration.capacity
    )


def offers_in_force(kind: str, registry_offers: int, declaration: DeclarationRow | None) -> int:
    """What an institution offers now: its declaration in force's offers, or the registry's when
    that declaration states none (``offers`` NULL; an older declaration never fills in), clinics
    never admitting (``terms_in_force``). The ledger, the planner and the facility page's
    candidates all read this."""
    return terms_in_force(kind, registry_offers, declaration)[0]


# The statuses whose partnerships use an institution's declared capacity (the one ledger): live
# proposals (proposed, contacted) of every run of every area and by hand, and agreed ones — the
# store's ACTIVE_STATUSES (its change-log triggers follow the same set, revision 0007).
LEDGER_STATUSES = ACTIVE_STATUSES
_FIRM = (ProposalStatus.CONTACTED.value, ProposalStatus.AGREED.value)


@dataclass(frozen=True)
class CapacityUse:
    """One institution's line of the capacity ledger (a site counts once)."""

    used: int  # proposed + contacted + agreed (from the declaration's start)
    firm: int  # contacted + agreed only: what no re-plan displaces


_NO_USE = CapacityUse(0, 0)


def capacity_use(
    session: Session,
    ids: Sequence[str],
    decls: dict[str, DeclarationRow],
    as_of: dt.datetime | None = None,
    replanned: Collection[str] = (),
) -> dict[str, CapacityUse]:
    """The capacity ledger (MODEL.md): per institution of ``ids``, the partnerships that use its
    capacity — proposed and contacted ones, and agreed ones (from the start of its declaration
    in force, ``decls``, when it has one: agreements before it are what it declared around; one
    that declared nothing counts every agreement, and has no limit) — across every run of every
    area and hand-made proposals; statuses as at ``as_of``. A site
    (``matcher.sites``) counts once: its registrations share their partners. Which of an
    institution's partner facilities are one site is decided among those partners alone, so an
    institution's line is the same whichever other institutions are asked with it (the facility
    page's one institution, a run's whole area, the web's ledger of every institution).

    ``replanned`` names facilities a run is about to plan again: their *proposed* pairs are left
    out (the run replaces them), their contacted and agreed ones stay."""
    if not ids:
        return {}
    ps = proposal_states(as_of)
    wanted = set(ids)
    q = select(ps.c.institution_id, ps.c.facility_id, ps.c.status, ps.c.status_at).where(
        ps.c.status.in_(LEDGER_STATUSES)
    )
    # every institution (the web's ledger): no IN list of thousands of ids
    rows = session.execute(
        q if len(wanted) > _IN_LIMIT else q.where(ps.c.institution_id.in_(sorted(wanted)))
    )
    again = set(replanned)
    partners: dict[str, dict[str, bool]] = {}  # institution → facility → firm
    for row in rows:
        iid, fid, status, at = str(row[0]), str(row[1]), str(row[2]), row[3]
        if iid not in wanted or (status == ProposalStatus.PROPOSED and fid in again):
            continue
        decl = decls.get(iid)
        if status != ProposalStatus.AGREED or decl is None or day_of(at) >= decl.valid_from:
            mine = partners.setdefault(iid, {})
            mine[fid] = mine.get(fid, False) or status in _FIRM
    shared = sorted({fid for mine in partners.values() if len(mine) > 1 for fid in mine})
    facilities = {f.facility_id: f for f in registry_facilities(session, shared)}
    out = {}
    for iid, mine in partners.items():
        site: dict[str, str] = {}
        if len(mine) > 1:  # sites among this institution's partners (``site_of_facilities``)
            site = site_ids([facilities[f] for f in sorted(mine) if f in facilities])
        used = {site.get(fid, fid) for fid in mine}
        firm = {site.get(fid, fid) for fid, is_firm in mine.items() if is_firm}
        out[iid] = CapacityUse(len(used), len(firm))
    return out


def registry_facility(
    r: FacilityRow,
    covered: int = 0,
    has_partner: bool | None = None,
    extra: dict[str, str] | None = None,
) -> Facility:
    """A stored facility as the core's ``Facility``: its registry data, with no filing state
    unless ``covered``/``has_partner`` are given, and its stored extra unless ``extra`` is."""
    return Facility(
        r.facility_id,
        r.name,
        r.kind,
        r.lat,
        r.lon,
        covered,
        has_partner,
        r.municipality_code,
        r.address,
        GeocodePrecision(r.geocode),
        extra if extra is not None else {str(k): str(v) for k, v in (r.extra or {}).items()},
    )


def registry_institution(
    r: InstitutionRow,
    offers: int | None = None,
    capacity: int | None = None,
    extra: dict[str, str] | None = None,
) -> Institution:
    """A stored institution as the core's ``Institution``: its registry data, its stored offers
    unless ``offers`` is given, ``capacity`` (``None``: not declared) and its stored extra unless
    ``extra`` is."""
    return Institution(
        r.institution_id,
        r.name,
        InstitutionKind(r.kind),
        r.lat,
        r.lon,
        r.offers if offers is None else offers,
        capacity,
        r.municipality_code,
        r.address,
        GeocodePrecision(r.geocode),
        dict(r.extra) if extra is None else extra,
    )


def registry_facilities(session: Session, facility_ids: Sequence[str]) -> list[Facility]:
    """The registry's facilities of ``facility_ids`` (of a kind the model knows), in id order."""
    rows: list[FacilityRow] = []
    for k in range(0, len(facility_ids), _IN_LIMIT):
        part = facility_ids[k : k + _IN_LIMIT]
        rows += list(session.scalars(select(FacilityRow).where(FacilityRow.facility_id.in_(part))))
    return sorted(
        (registry_facility(r) for r in rows if r.kind in FACILITY_KINDS),
        key=lambda f: f.facility_id,
    )


def site_of_facilities(session: Session, facility_ids: Sequence[str]) -> dict[str, str]:
    """facility_id → site id for those of ``facility_ids`` that share a site among themselves
    (``matcher.sites.site_ids``)."""
    if len(facility_ids) < 2:
        return {}
    return site_ids(registry_facilities(session, facility_ids))


def _filed_infection(session: Session, institution_ids: Sequence[str] | None) -> set[str]:
    """Institutions that a current filing (the latest of some facility) names as 第二種協定."""
    if institution_ids is not None and not institution_ids:
        return set()
    latest, is_latest = latest_year(None)
    q = (
        select(FilingPartnerRow.institution_id)
        .join(FilingRow, FilingRow.id == FilingPartnerRow.filing_id)
        .join(latest, is_latest)
        .where(
            FilingPartnerRow.infection_agreement.is_(True),
            FilingPartnerRow.institution_id.is_not(None),
        )
        .distinct()
    )
    if institution_ids is not None and len(institution_ids) <= _IN_LIMIT:
        q = q.where(FilingPartnerRow.institution_id.in_(list(institution_ids)))
    return {str(i) for i in session.scalars(q)}


def infection_institutions(
    session: Session, institution_ids: Sequence[str] | None, on: dt.date
) -> set[str]:
    """Which of ``institution_ids`` (all when ``None``) are 第二種協定指定医療機関 on ``on``: a
    current filing names them as one, or their declaration in force on ``on`` says so."""
    found = _filed_infection(session, institution_ids)
    ids = None if institution_ids is None else list(institution_ids)
    if ids is None or len(ids) <= _IN_LIMIT:
        decls = current_declarations(session, ids, on)
    else:
        decls = current_declarations(session, None, on)
    found |= {i for i, d in decls.items() if d.infection_agreement}
    if ids is not None:
        found &= set(ids)
    return found


@dataclass(frozen=True)
class InstitutionState:
    """An institution now: what it offers and how much of its declared capacity is used."""

    row: InstitutionRow
    offers: int  # ``offers_in_force``: the declaration in force's, else the registry's
    declared: int | None  # None: not declared (unlimited); 0 when unwilling
    used: int  # the ledger: proposed + contacted + agreed (``capacity_use``)
    willing: bool
    infection_agreement: bool = False  # 第二種協定指定医療機関 (``infection_institutions``)
    firm: int = 0  # contacted + agreed only

    @property
    def remaining(self) -> int | None:
        return None if self.declared is None else max(0, self.declared - self.used)

    def planning_extra(self) -> dict[str, str]:
        """The registry's extra plus the 第二種協定 flag the core reads (``matcher.infection``)."""
        r = self.row
        return flagged(r.extra, INSTITUTION_KEY, self.infection_agreement)

    def institution(self, capacity: int | None) -> Institution:
        """The core's ``Institution``: registry data, the offers in force and ``capacity`` (the
        planner passes what is left for its run, an export the declared capacity)."""
        return registry_institution(self.row, self.offers, capacity, self.planning_extra())


def institution_states(
    session: Session,
    rows: Sequence[InstitutionRow],
    on: dt.date,
    as_of: dt.datetime | None = None,
    replanned: Collection[str] = (),
) -> dict[str, InstitutionState]:
    """Each institution's offers and capacity on ``on`` (proposal statuses as at ``as_of``;
    ``replanned``: see ``capacity_use``)."""
    ids = [r.institution_id for r in rows]
    decls = current_declarations(session, ids, on) if rows else {}
    use = capacity_use(session, ids, decls, as_of, replanned)
    infection = _filed_infection(session, ids if len(ids) <= _IN_LIMIT else None)
    infection |= {i for i, d in decls.items() if d.infection_agreement}
    out = {}
    for r in rows:
        d = decls.get(r.institution_id)
        offers, declared = terms_in_force(r.kind, r.offers, d)
        out[r.institution_id] = InstitutionState(
            r,
            offers,
            declared,
            use.get(r.institution_id, _NO_USE).used,
            True if d is None else bool(d.willing),
            r.institution_id in infection,
            use.get(r.institution_id, _NO_USE).firm,
        )
    return out


# --- filing years ------------------------------------------------------------------------------


def filed_statuses(session: Session, rows: Sequence[FacilityRow]) -> dict[str, dict[int, Status]]:
    """facility id → {年度: status as filed that year}: each filing on its own (its ``covered``
    ∪ its partners' covers, a partner when it names one), proposals not counted — the seed
    table's ①②③ by filing year. A year a facility did not file is ④ (``unknown``) for the
    caller; the current status is ``FacilityState.status``."""
    if not rows:
        return {}
    ids: list[str] | None = [r.facility_id for r in rows]
    if len(ids) > _IN_LIMIT:  # type: ignore[arg-type]
        ids = None
    q = select(
        FilingRow.id,
        FilingRow.facility_id,
        FilingRow.filing_year,
        FilingRow.has_partner,
        FilingRow.covered,
    )
    pq = select(FilingPartnerRow.filing_id, FilingPartnerRow.covers).join(
        FilingRow, FilingRow.id == FilingPartnerRow.filing_id
    )
    if ids is not None:
        q = q.where(FilingRow.facility_id.in_(ids))
        pq = pq.where(FilingRow.facility_id.in_(ids))
    filings = {
        fid: (str(fac), int(year), bool(has), int(covered))
        for fid, fac, year, has, covered in session.execute(q)
    }
    named: dict[int, int] = {}
    for filing_id, covers in session.execute(pq):
        named[filing_id] = named.get(filing_id, 0) | int(covers)
    required = {r.facility_id: FACILITY_KINDS[r.kind].required for r in rows}
    out: dict[str, dict[int, Status]] = {r.facility_id: {} for r in rows}
    for filing_id, (fac, year, has, covered) in filings.items():
        if fac not in required:
            continue
        partner = has or filing_id in named
        out[fac][year] = status_of(required[fac], covered | named.get(filing_id, 0), partner)
    return out
