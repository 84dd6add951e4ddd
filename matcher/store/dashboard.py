"""The overview a coordinator starts from, within a scope of municipality codes: counts of
facilities per kind and status (the seed table's ①②③④ form), latest runs, map layers.

Every count reads the facilities' state from ``store.state``, as lists and exports do.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..model import FACILITY_KINDS
from ..vocab import CodeSet, Status
from ..vocab import days_left as days_left  # the pages' countdown (one definition, vocab)
from ..wareki import today as today_jp
from .facilities import facility_dict, scoped_states
from .institutions import institution_dict
from .models import ACTIVE_STATUSES, AreaRow, InstitutionRow, ProposalRow, RunRow
from .state import FacilityState, institution_states

# (code, heading) of the status columns: the vocabulary's statuses in order, headed as every
# status table heads them (``Status.heading_ja``).
STATUS_COLUMNS = tuple((s.value, s.heading_ja) for s in Status)
# Beside the ①②③④ columns (not a status: a facility of any status may have one).
INFECTION_COLUMN = ("infection_partner", "第二種協定指定医療機関を協力医療機関に含む")


def status_counts(states: Iterable[FacilityState]) -> dict[str, dict[str, int]]:
    """Counts per kind and status (kinds in MODEL.md order, plus a ``total`` row)."""
    table = {k: {s: 0 for s, _ in STATUS_COLUMNS} for k in FACILITY_KINDS}
    for s in states:
        table[s.row.kind][s.status.value] += 1
    table["total"] = {s: sum(table[k][s] for k in FACILITY_KINDS) for s, _ in STATUS_COLUMNS}
    return table


def infection_counts(states: Iterable[FacilityState]) -> dict[str, int]:
    """Facilities with a 第二種協定指定医療機関 among their partners, per kind (plus ``total``)."""
    out = dict.fromkeys(FACILITY_KINDS, 0)
    for s in states:
        out[s.row.kind] += s.has_infection_partner
    out["total"] = sum(out.values())
    return out


def status_table(session: Session, scope: CodeSet, areas: list[AreaRow]) -> list[dict[str, object]]:
    """The seed table's form: one row per (area, kind) with ①②③④ counts and shares."""
    rows = []
    key = INFECTION_COLUMN[0]
    for area in areas:
        states = scoped_states(session, scope, area)
        counts = status_counts(states)
        infection = infection_counts(states)
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
                    key: infection[kind],
                    f"share_{key}": (round(100 * infection[kind] / total, 1) if total else 0.0),
                }
            )
    return rows


def latest_runs(session: Session, areas: list[AreaRow], limit: int = 10) -> list[RunRow]:
    """The latest runs of ``areas``, newest first."""
    ids = [a.id for a in areas]
    if not ids:
        return []
    return list(
        session.scalars(
            select(RunRow).where(RunRow.area_id.in_(ids)).order_by(RunRow.id.desc()).limit(limit)
        )
    )


_MAP_FACILITY = ("facility_id", "name", "kind_ja", "lat", "lon", "status", "status_ja", "missing")
_MAP_INSTITUTION = (
    "institution_id",
    "name",
    "kind",
    "lat",
    "lon",
    "offers",
    "declared_capacity",
    "remaining_capacity",
)


def map_layers(session: Session, scope: CodeSet, area: AreaRow | None = None) -> dict[str, object]:
    """Facilities coloured by status, institutions near them sized by remaining capacity, and the
    live proposals as lines."""
    facs = scoped_states(session, scope, area)
    fac_out = [{k: v for k, v in facility_dict(s).items() if k in _MAP_FACILITY} for s in facs]
    props = []
    inst_ids: set[str] = set()
    if facs:
        q = select(ProposalRow).where(
            ProposalRow.facility_id.in_([s.facility_id for s in facs]),
            ProposalRow.status.in_(ACTIVE_STATUSES),
        )
        for p in session.scalars(q):
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
    states = institution_states(session, insts, today_jp())
    inst_out = [
        {
            k: v
            for k, v in institution_dict(states[r.institution_id]).items()
            if k in _MAP_INSTITUTION
        }
        for r in insts
    ]
    return {"facilities": fac_out, "institutions": inst_out, "proposals": props}
