"""The planner's input: an area's state as an ``Instance``, and the releases a run makes first.

Decisions and the next run:

- ``agreed``: the partnership is existing coverage for the facility and consumes the
  institution's declared capacity (when agreed on or after the declaration's start);
- ``contacted``: kept as it is (coverage and capacity as if agreed) unless the coordinator
  releases it (→ ``withdrawn``), or it can no longer happen (``impossible_contacted``);
- ``declined``: the pair is never proposed again;
- ``proposed`` by an earlier run: kept when the new run proposes the same pair, otherwise
  withdrawn by the run (history note says so);
- ``withdrawn``: no effect; the pair may be proposed again.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..geo import haversine_km
from ..model import Instance, Institution, format_capabilities_ja
from ..params import MatchParams
from ..wareki import today as today_jp
from .areas import area_facilities, get_area
from .errors import TransitionError
from .models import InstitutionRow, ProposalRow
from .proposal_commands import STATUS_LABELS_JA
from .proposals import proposal_row
from .state import (
    FacilityState,
    facility_states,
    institution_states,
    proposal_states,
)

_KM_PER_DEG_LAT = 111.0


@dataclass(frozen=True)
class AreaState:
    """What a run of an area starts from."""

    area_code: str
    instance: Instance
    forbidden: frozenset[tuple[str, str]]  # declined, plus pairs already agreed or contacted
    declined: frozenset[tuple[str, str]]
    kept: tuple[int, ...]  # ids of contacted proposals carried into the plan
    agreed: tuple[int, ...]
    capacity_declared: dict[str, int | None]  # before agreed/contacted consumption
    capacity_used: dict[str, int]
    states: tuple[FacilityState, ...] = ()  # each facility's state (status, pending) as shown

    @functools.cached_property
    def input_hash(self) -> str:
        """``snapshot_hash`` of the state (computed once: a run compares and stores it)."""
        return snapshot_hash(self.instance, self.forbidden)


def snapshot_hash(instance: Instance, forbidden: Iterable[tuple[str, str]] = ()) -> str:
    """SHA-256 of everything a run's answer depends on besides its parameters."""
    payload = {
        "facilities": [
            [f.facility_id, f.kind, round(f.lat, 7), round(f.lon, 7), f.covered, f.has_partner]
            for f in instance.facilities
        ],
        "institutions": [
            [i.institution_id, i.kind, round(i.lat, 7), round(i.lon, 7), i.offers, i.capacity]
            for i in instance.institutions
        ],
        "forbidden": sorted(map(list, forbidden)),
    }
    return hashlib.sha256(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def load_state(
    session: Session,
    area_code: str,
    params: MatchParams | None = None,
    on: dt.date | None = None,
    create_area: bool = False,
    as_of: dt.datetime | None = None,
) -> AreaState:
    """The planner's input for an area, read from the facilities' state (``store.state``).

    Each facility enters with ``covered_now`` (latest filing ∪ agreed) plus what its contacted
    pairs cover: those pairs are kept by the plan as they are (never proposed again, ``kept``)
    and consume the institution's capacity, but they are not coverage of the facility's status
    (``states`` holds the status every view shows). Institutions within reach come with their
    capacity net of what agreed and contacted pairs use.

    ``as_of`` (naive UTC) takes the proposals' statuses at that moment instead of now, to
    rebuild what a past run started from; registry rows, filings and declarations are always
    the stored ones.
    """
    params = params or MatchParams()
    on = on or today_jp()
    area = get_area(session, area_code, create=create_area)
    fac_rows = area_facilities(session, area)
    fac_ids = [f.facility_id for f in fac_rows]
    states = facility_states(session, fac_rows, as_of)
    ps = proposal_states(as_of)
    decided = (
        list(
            session.execute(
                select(ps)
                .where(
                    ps.c.facility_id.in_(fac_ids),
                    ps.c.status.in_(("contacted", "agreed", "declined")),
                )
                .order_by(ps.c.id)
            )
        )
        if fac_ids
        else []
    )
    facilities = [st.planning_facility() for st in states]
    institutions: list[Institution] = []
    declared: dict[str, int | None] = {}
    used: dict[str, int] = {}
    if fac_rows:
        # Everything within reach of a facility: a bounding box around the area, widened by the
        # longest range (road distances are never shorter than the arc).
        reach = params.max_range_km / params.road_factor + 1.0
        lat0, lat1 = min(f.lat for f in fac_rows), max(f.lat for f in fac_rows)
        lon0, lon1 = min(f.lon for f in fac_rows), max(f.lon for f in fac_rows)
        dlat = reach / _KM_PER_DEG_LAT
        dlon = reach / (
            _KM_PER_DEG_LAT * max(0.1, math.cos(math.radians(max(abs(lat0), abs(lat1)) + dlat)))
        )
        inst_rows = list(
            session.scalars(
                select(InstitutionRow)
                .where(
                    InstitutionRow.lat.between(lat0 - dlat, lat1 + dlat),
                    InstitutionRow.lon.between(lon0 - dlon, lon1 + dlon),
                )
                .order_by(InstitutionRow.institution_id)
            )
        )
        inst_states = institution_states(session, inst_rows, on, as_of, replanned=fac_ids)
        for r in inst_rows:
            ist = inst_states[r.institution_id]
            declared[r.institution_id] = ist.declared
            if ist.used:
                used[r.institution_id] = ist.used
            institutions.append(ist.institution(ist.remaining))
    declined = frozenset(
        (p.facility_id, p.institution_id) for p in decided if p.status == "declined"
    )
    forbidden = frozenset((p.facility_id, p.institution_id) for p in decided)
    return AreaState(
        area_code=area.code,
        instance=Instance.of(facilities, institutions),
        forbidden=forbidden,
        declined=declined,
        kept=tuple(p.id for p in decided if p.status == "contacted"),
        agreed=tuple(p.id for p in decided if p.status == "agreed"),
        capacity_declared=declared,
        capacity_used=used,
        states=tuple(states),
    )


@dataclass(frozen=True)
class Release:
    """A proposal a run withdraws before planning, and why (the history row's note)."""

    proposal_id: int
    reason: str
    by_run: bool = True  # False: the coordinator's own release (history without the run's id)


def impossible_contacted(
    session: Session, state: AreaState, params: MatchParams, on: dt.date | None = None
) -> list[Release]:
    """Contacted proposals of the area that can no longer happen, with the reason: the
    institution's capacity is 0 (or not willing) or exceeded, it no longer offers anything the
    proposal covers, or it is now out of range for all of it (moved, or the limits changed).

    Over capacity, the most recently contacted proposals are released first.
    """
    if not state.kept:
        return []
    on = on or today_jp()
    rows = list(
        session.scalars(
            select(ProposalRow)
            .where(ProposalRow.id.in_(state.kept))
            .order_by(ProposalRow.status_at.desc(), ProposalRow.id.desc())
        )
    )
    inst_rows = list(
        session.scalars(
            select(InstitutionRow).where(
                InstitutionRow.institution_id.in_(sorted({p.institution_id for p in rows}))
            )
        )
    )
    insts = institution_states(session, inst_rows, on)
    facs = {f.facility_id: f for f in state.instance.facilities}
    used = {iid: st.firm for iid, st in insts.items()}  # proposals never displace contacted
    out: list[Release] = []
    for p in rows:
        ist, f = insts[p.institution_id], facs.get(p.facility_id)
        if f is None:
            continue
        i, offers, cap = ist.row, ist.offers, ist.declared
        km = float(haversine_km(f.lat, f.lon, i.lat, i.lon)) * params.road_factor
        reach = params.reach(km)
        if cap == 0:
            reason = f"医療機関 {i.institution_id} の受入枠が0になったため解放"
        elif cap is not None and used.get(i.institution_id, 0) > cap:
            reason = (
                f"医療機関 {i.institution_id} の受入枠 {cap} を超えたため解放 "
                f"(合意・打診中 {used[i.institution_id]} 件)"
            )
            used[i.institution_id] -= 1
        # covers 0: a site's partner for a registration that needs nothing of it (matcher.sites)
        elif p.covers and not p.covers & offers:
            reason = (
                f"医療機関 {i.institution_id} が {format_capabilities_ja(p.covers)} "
                "を提供しなくなったため解放"
            )
        elif p.covers and not p.covers & offers & reach:
            reason = f"距離 {km:.1f} km が上限を超えたため解放"
        else:
            continue
        out.append(Release(p.id, reason))
    return out


def _withdraw_what_if(session: Session, ids: list[int]) -> None:
    session.execute(update(ProposalRow).where(ProposalRow.id.in_(ids)).values(status="withdrawn"))


def prepare(
    session: Session,
    area_code: str,
    params: MatchParams,
    on: dt.date | None,
    release: Iterable[int],
    note: str,
) -> tuple[AreaState, list[Release]]:
    """The state a run plans from, as if the coordinator's ``release`` and the impossible
    contacted proposals were already withdrawn (tried in a savepoint that is rolled back: the
    withdrawals are written by the run's commit, with the run's id in their history)."""
    releases: list[Release] = []
    nested = session.begin_nested()
    try:
        for pid in release:
            p = proposal_row(session, pid)
            if p.status not in ("proposed", "contacted"):
                raise TransitionError(
                    f"提案 {pid} は「{STATUS_LABELS_JA[p.status]}」のため解放できません"
                )
            releases.append(Release(pid, note or "再計画のため解放", by_run=False))
        if releases:
            _withdraw_what_if(session, [r.proposal_id for r in releases])
        state = load_state(session, area_code, params, on)
        impossible = impossible_contacted(session, state, params, on)
        if impossible:
            _withdraw_what_if(session, [r.proposal_id for r in impossible])
            state = load_state(session, area_code, params, on)
            releases += impossible
    finally:
        nested.rollback()
    return state, releases
