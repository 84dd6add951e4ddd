"""An area's picture read from the store: the core's ``gaps.area_view`` on the area's facilities
as they stand, its institutions with the capacity ledger and its proposals.

Every figure comes through the store's one definitions: facilities' state and the planner's input
from ``planner_input.load_state`` (which reads ``state.facility_states``), institutions' declared
and used capacity from ``state.institution_states``; membership is the area's ``CodeSet``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..gaps.area_view import (
    AreaInfo,
    AreaView,
    LedgerInstitution,
    NamedArea,
    ProposalNow,
    area_view,
)
from ..params import MatchParams
from ..vocab import CodeSet
from ..wareki import today as today_jp
from .area_tables import AREA_KIND_LABELS_JA, area_kind, same_kind_areas
from .areas import area_codes, get_visible_area
from .models import AreaRow, InstitutionRow, ProposalRow
from .planner_input import load_state
from .state import institution_states, registry_facility

_CHUNK = 1000  # ids per IN list (SQLite's bound-parameter limit)


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[k : k + _CHUNK] for k in range(0, len(ids), _CHUNK)]


def area_info(area: AreaRow) -> AreaInfo:
    kind = area_kind(area)
    return AreaInfo(
        area.code, area.name, kind, AREA_KIND_LABELS_JA.get(kind, kind), area_codes(area)
    )


def area_report(
    session: Session,
    scope: CodeSet,
    code: str,
    params: MatchParams | None = None,
    today: dt.date | None = None,
    whatif: bool = False,
    site_capacity: int | None = 5,
) -> AreaView:
    """The picture of area ``code`` if it lies within ``scope`` (else ``NotFoundError``)."""
    area = get_visible_area(session, scope, code)
    return area_report_of(session, area, params, today, whatif, site_capacity)


def area_report_of(
    session: Session,
    area: AreaRow,
    params: MatchParams | None = None,
    today: dt.date | None = None,
    whatif: bool = False,
    site_capacity: int | None = 5,
) -> AreaView:
    """The picture of a stored area (no scope check: the CLI and the reports)."""
    params = params or MatchParams()
    today = today or today_jp()
    state = load_state(session, area.code, params, on=today)
    facilities = [registry_facility(st.row, st.covered, st.has_partner) for st in state.states]
    pending = {st.facility_id: st.pending for st in state.states if st.pending}
    inst_ids = [i.institution_id for i in state.instance.institutions]
    rows: list[InstitutionRow] = []
    for part in _chunks(inst_ids):
        rows += session.scalars(
            select(InstitutionRow).where(InstitutionRow.institution_id.in_(part))
        )
    ledger = institution_states(session, rows, today)
    institutions = [
        LedgerInstitution(st.institution(st.declared), st.declared, st.used, st.willing)
        for st in ledger.values()
    ]
    proposals: list[ProposalNow] = []
    for part in _chunks([st.facility_id for st in state.states]):
        q = select(ProposalRow).where(ProposalRow.facility_id.in_(part))
        proposals += [
            ProposalNow(
                p.id, p.facility_id, p.institution_id, p.status, int(p.covers), p.distance_km
            )
            for p in session.scalars(q)
        ]
    proposals.sort(key=lambda p: p.id)
    others = same_kind_areas(session, area)
    neighbours = [NamedArea(a.code, a.name, area_codes(a)) for a in others]
    mine = area_codes(area)
    shared: dict[str, tuple[str, ...]] = {}
    for n in neighbours:
        for code in mine.municipalities & n.members.municipalities:
            shared[code] = (*shared.get(code, ()), n.name)
    return area_view(
        area_info(area),
        facilities,
        institutions,
        proposals,
        state.instance,
        params,
        today,
        pending,
        state.forbidden,
        neighbours,
        shared if area_kind(area) == "ishikai" else {},
        whatif,
        site_capacity,
    )
