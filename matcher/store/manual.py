"""Limits a proposal entered by hand must respect, as the planner does: the distance limits of
the latest run of an area holding the facility (defaults when none has run) and the
institution's remaining declared capacity. ``proposal_commands.propose`` refuses a proposal
beyond them unless the coordinator gives a reason to override, which is kept in the proposal's
history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .._errors import InputError, RowIssue
from ..geo import haversine_km
from ..model import FACILITY_KINDS, format_capabilities_ja
from ..params import MatchParams
from ..vocab import CAPABILITIES, ProposalStatus
from ..wareki import today as today_jp
from .models import AreaMunicipalityRow, FacilityRow, InstitutionRow, ProposalRow, RunRow
from .state import LEDGER_STATUSES, facility_states, institution_states, site_of_facilities


class LimitExceeded(InputError):
    """A hand-made proposal beyond the run's distance limits or the declared capacity, without
    an override reason (web: 422)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            [RowIssue("", None, "override_reason", None, p) for p in problems]
            + [
                RowIssue(
                    "",
                    None,
                    "override_reason",
                    None,
                    "条件を超えて提案するには、理由 (override_reason) を書いてください",
                )
            ]
        )


def run_params(session: Session, code5: str) -> tuple[MatchParams, int | None]:
    """The parameters of the latest run of an area that holds the municipality ``code5`` (its
    id), or the defaults (``None``)."""
    run = session.scalar(
        select(RunRow)
        .join(AreaMunicipalityRow, AreaMunicipalityRow.area_id == RunRow.area_id)
        .where(AreaMunicipalityRow.code.in_((code5, code5[:2])))
        .order_by(RunRow.id.desc())
        .limit(1)
    )
    if run is None:
        return MatchParams(), None
    return MatchParams.from_dict(run.params or {}), run.id


def remaining_capacity(session: Session, institution_id: str, on: dt.date) -> int | None:
    """The institution's declared capacity in force on ``on`` less the ledger
    (``state.capacity_use``); ``None`` when nothing is declared (unlimited)."""
    row = session.get(InstitutionRow, institution_id)
    if row is None:
        return None
    return institution_states(session, [row], on)[institution_id].remaining


def _same_site_partner(session: Session, fac: FacilityRow, institution_id: str) -> bool:
    """Whether another registration of the facility's site (``matcher.sites``) already uses
    this institution's capacity: the site counts once, so a proposal for it uses nothing more."""
    others = [
        str(f)
        for f in session.scalars(
            select(ProposalRow.facility_id).where(
                ProposalRow.institution_id == institution_id,
                ProposalRow.status.in_(LEDGER_STATUSES),
                ProposalRow.facility_id != fac.facility_id,
            )
        )
    ]
    if not others:
        return False
    site = site_of_facilities(session, sorted({*others, fac.facility_id}))
    mine = site.get(fac.facility_id)
    return mine is not None and any(site.get(o) == mine for o in others)


@dataclass(frozen=True)
class HandProposal:
    """What a proposal entered by hand would be, and every planner rule it breaks."""

    covers: int
    km: float  # great-circle
    problems: tuple[str, ...]  # rules a stated reason may override
    filed_partner: bool = False  # the facility's filing names it: never a new proposal


def check_proposal(
    session: Session,
    fac: FacilityRow,
    inst: InstitutionRow,
    covers: int | None = None,
    on: dt.date | None = None,
) -> HandProposal:
    """The planner's candidate rule applied to one hand-made pair, each broken rule said in
    Japanese: the offers in force (the declaration's, clinics never admitting), what the facility
    still misses, the range per requirement of the area's latest run, the capacity ledger (a site
    counting once) and a pair already declined. ``covers`` defaults to what the institution
    offers of the facility's missing requirements within range."""
    on = on or today_jp()
    params, run_id = run_params(session, fac.code5)
    source = f"計算 {run_id} の条件" if run_id is not None else "既定の条件"
    ist = institution_states(session, [inst], on)[inst.institution_id]
    state = facility_states(session, [fac])[0]
    km = float(haversine_km(fac.lat, fac.lon, inst.lat, inst.lon))
    road_km = km * params.road_factor
    reach = params.reach(road_km)
    missing = state.missing or FACILITY_KINDS[fac.kind].required
    if covers is None:
        covers = ist.offers & missing & reach or ist.offers & missing
    problems: list[str] = []
    unoffered = covers & ~ist.offers
    if unoffered:
        problems.append(
            f"提供: {inst.name} は{format_capabilities_ja(unoffered)}を申出・登録で提供していません"
        )
    if not covers & ist.offers:
        problems.append(f"提供: {inst.name} は施設に不足している要件を提供していません")
    problems += [
        f"距離: {c.label_ja}は {road_km:.1f} km が上限 {params.max_km[c]:g} km を超えます "
        f"({source})"
        for c in CAPABILITIES
        if covers & c and road_km > params.max_km[c]
    ]
    left = ist.remaining
    if left is not None and left <= 0 and not _same_site_partner(session, fac, inst.institution_id):
        problems.append(
            f"受入枠: {inst.name} の受入枠 {ist.declared} はすべて使われています "
            f"(提案中・打診中・合意 {ist.used} 件)"
        )
    declined = session.scalar(
        select(ProposalRow.id).where(
            ProposalRow.facility_id == fac.facility_id,
            ProposalRow.institution_id == inst.institution_id,
            ProposalRow.status == ProposalStatus.DECLINED.value,
        )
    )
    if declined is not None:
        problems.append(f"辞退: この組み合わせは提案 {declined} で辞退されています")
    filed = inst.institution_id in state.filed_partner_ids
    return HandProposal(covers, km, tuple(problems), filed)
