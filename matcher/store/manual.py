"""Limits a proposal entered by hand must respect, as the planner does: the distance limits of
the latest run of an area holding the facility (defaults when none has run) and the
institution's remaining declared capacity. ``workflow.propose`` refuses a proposal beyond them
unless the coordinator gives a reason to override, which is kept in the proposal's history."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .._errors import InputError, RowIssue
from ..params import MatchParams
from ..vocab import CAPABILITIES
from .models import AreaMunicipalityRow, FacilityRow, InstitutionRow, ProposalRow, RunRow
from .state import current_declarations


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
    """Declared capacity in force on ``on`` less live proposals (proposed, contacted, and agreed
    since the declaration's start); ``None`` when nothing is declared."""
    decl = current_declarations(session, [institution_id], on).get(institution_id)
    if decl is None:
        return None
    if not decl.willing:
        return 0
    if decl.capacity is None:
        return None
    start = dt.datetime.combine(decl.valid_from, dt.time())
    used = session.scalar(
        select(func.count()).where(
            ProposalRow.institution_id == institution_id,
            or_(
                ProposalRow.status.in_(("proposed", "contacted")),
                (ProposalRow.status == "agreed") & (ProposalRow.status_at >= start),
            ),
        )
    )
    return max(0, decl.capacity - int(used or 0))


def limit_problems(
    session: Session, fac: FacilityRow, inst: InstitutionRow, covers: int, km: float
) -> list[str]:
    """What a proposal of ``inst`` for ``fac`` covering ``covers`` at ``km`` (great-circle)
    would exceed, in Japanese (empty: nothing)."""
    params, run_id = run_params(session, fac.code5)
    source = f"計算 {run_id} の条件" if run_id is not None else "既定の条件"
    road_km = km * params.road_factor
    problems = [
        f"{c.label_ja}: 距離 {road_km:.1f} km が上限 {params.max_km[c]:g} km を超えます ({source})"
        for c in CAPABILITIES
        if covers & c and road_km > params.max_km[c]
    ]
    left = remaining_capacity(session, inst.institution_id, dt.date.today())
    if left is not None and left <= 0:
        problems.append(f"{inst.name} の受入枠に残りがありません (申出の受入枠を使い切っています)")
    return problems
