"""The picture of one area (構想区域, 郡市医師会, 拠点 area alike) for its meeting or association.

``area_view`` is pure: plain data in (the area's facilities as they stand, the institutions with
their capacity ledger, the proposals and their answers, the planner's input), an ``AreaView``
out. Figures, all for the facilities of the area:

- the seed table (①②③④ per kind) and the facilities still short, by duty and by requirement,
  with what their contacted proposals would add (打診中, never coverage);
- days to the 経過措置 deadline (``vocab.days_left``);
- institutions able to help — any institution in range of a facility still short, inside the
  area or not — with their declared capacity, what the ledger already uses and how many of the
  area's facilities need them (``needed``), and the proposals to them so far;
- facilities no institution in range can cover (``gaps.uncoverable``), the range that would
  reach each, and the what-if of ``kyoryoku gaps`` on the area's own planning input, ranked: one
  more unit of an institution's capacity (``capacity_whatif``) and a new 在宅療養支援診療所
  (①②) at a municipality office of the area (``site_whatif``);
- the hospitals a 調整会議 should discuss (the nearest institution of the most uncoverable
  facilities, and those whose capacity would complete most);
- 広域 cases: facilities whose best partner — the partner of their live proposal, else the
  candidate that adds most, nearest first — lies outside the area, with both sides named
  (another area of the same kind, another prefecture).

The planning input (``plan``) is the planner's own (``store.planner_input.load_state``): contacted
pairs count as arranged, institutions carry the capacity left for a re-plan of this area; the
candidate graph leaves out declined and filed pairs as a run does (``match.candidate_graph``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..match import candidate_graph
from ..model import (
    CAPABILITIES,
    FACILITY_KINDS,
    Facility,
    Instance,
    Institution,
    format_capabilities_ja,
)
from ..params import MatchParams
from ..progress import municipality_names
from ..reference import municipalities
from ..vocab import (
    ALL_MASK,
    CAPABILITY_CODES,
    Capability,
    CodeSet,
    Duty,
    ProposalStatus,
    Status,
    code5_of,
    days_left,
)
from ..wareki import today as today_jp
from .region import Region
from .uncoverable import uncoverable
from .whatif import capacity_whatif, site_whatif

CLINIC_OFFERS = int(Capability.CONSULT | Capability.CARE)  # a new 在宅療養支援診療所: ①②
LIVE = (ProposalStatus.AGREED, ProposalStatus.CONTACTED, ProposalStatus.PROPOSED)
_CAPABILITY_OF = {code: cap for cap, code in CAPABILITY_CODES.items()}


@dataclass(frozen=True)
class AreaInfo:
    """The area: its store code, name, kind (``kousou``/``ishikai``/``renkei``/…) and members."""

    code: str
    name: str
    kind: str
    kind_ja: str
    members: CodeSet


@dataclass(frozen=True)
class NamedArea:
    """Another area of the same kind, to name the far side of a 広域 case."""

    code: str
    name: str
    members: CodeSet


@dataclass(frozen=True)
class LedgerInstitution:
    """An institution as every view shows it: declared capacity (``None`` = not declared) and
    what the ledger uses (``store.state.capacity_use``)."""

    institution: Institution
    declared: int | None
    used: int
    willing: bool = True

    @property
    def remaining(self) -> int | None:
        return None if self.declared is None else max(0, self.declared - self.used)


@dataclass(frozen=True)
class ProposalNow:
    """A stored proposal of a facility of the area, with its current status."""

    id: int
    facility_id: str
    institution_id: str
    status: str
    covers: int
    distance_km: float


@dataclass(frozen=True)
class StatusRow:
    """One line of the seed table: a kind (or ``total``) and its counts per status."""

    kind: str
    kind_ja: str
    duty_ja: str
    counts: tuple[int, ...]  # per ``Status``, in its order

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class ShortFacility:
    """A facility of the area whose partners do not yet cover all it must (or should) have."""

    facility_id: str
    name: str
    kind: str
    kind_ja: str
    duty: Duty
    municipality_code: str
    municipality_name: str
    status: Status
    missing: int
    pending: int  # 打診中: what contacted proposals would add
    coverable: int  # what some institution in range offers (of ``missing`` less ``pending``)
    proposals: tuple[tuple[str, int], ...]  # (status, count) of its proposals
    shared_with: tuple[str, ...] = ()  # other areas sharing its municipality (split 郡市医師会)

    @property
    def missing_ja(self) -> str:
        return format_capabilities_ja(self.missing)

    @property
    def uncoverable(self) -> int:
        """What no institution in range can cover."""
        return self.missing & ~self.pending & ~self.coverable & ALL_MASK


@dataclass(frozen=True)
class HelpingInstitution:
    """An institution in range of some facility of the area that is still short."""

    institution_id: str
    name: str
    kind: str
    municipality_code: str
    municipality_name: str
    inside: bool
    offers: int
    declared: int | None
    used: int
    remaining: int | None
    needed: int  # facilities of the area still short that it could add something for
    proposals: tuple[tuple[str, int], ...]  # (status, count) of the area's proposals to it


@dataclass(frozen=True)
class UncoverableRow:
    """A (facility, requirement) no institution offers within range, and the nearest one."""

    facility_id: str
    name: str
    municipality_name: str
    capability: int
    range_km: float
    nearest_institution_id: str
    nearest_name: str
    nearest_km: float


@dataclass(frozen=True)
class RangeStep:
    """Widening one requirement's range to ``km`` would bring ``facilities`` (cumulative) of the
    uncoverable ones within reach of some institution offering it."""

    capability: int
    range_km: float
    km: float
    facilities: int


@dataclass(frozen=True)
class Change:
    """One change of the what-if (exact: re-solved), with how many more facilities the optimal
    proposal would fully cover."""

    change: str  # "capacity" | "clinic"
    target: str  # institution id or municipality code
    label: str
    gain_mandatory: int
    gain_effort: int

    @property
    def gain(self) -> int:
        return self.gain_mandatory + self.gain_effort


@dataclass(frozen=True)
class DiscussInstitution:
    """An institution whose role a 調整会議 should discuss."""

    institution_id: str
    name: str
    kind: str
    municipality_name: str
    inside: bool
    nearest_for: tuple[str, ...]  # names of uncoverable facilities it is the nearest one for
    farthest_km: float  # the longest of those distances
    capacity_gain: int  # facilities one more unit of its capacity would complete (what-if)

    @property
    def score(self) -> int:
        return len(self.nearest_for) + self.capacity_gain


@dataclass(frozen=True)
class CrossBorder:
    """A 広域 case: the facility's best partner lies outside the area."""

    facility_id: str
    facility_name: str
    facility_municipality: str
    institution_id: str
    institution_name: str
    institution_municipality: str
    other_side: str  # the institution's area (same kind) or prefecture
    other_prefecture: bool
    distance_km: float
    covers: int
    basis: str  # the proposal's status, or "candidate"


@dataclass(frozen=True)
class AreaView:
    """Everything the area's page, meeting material and letter show."""

    area: AreaInfo
    today: dt.date
    days_left: int
    params: MatchParams
    status_rows: tuple[StatusRow, ...]
    short: tuple[ShortFacility, ...]
    institutions: tuple[HelpingInstitution, ...]
    proposal_counts: tuple[tuple[str, int], ...]
    answers: tuple[ProposalNow, ...]  # agreed and declined, newest first by id
    uncoverable: tuple[UncoverableRow, ...]
    ranges: tuple[RangeStep, ...]
    discuss: tuple[DiscussInstitution, ...]
    cross: tuple[CrossBorder, ...]
    changes: tuple[Change, ...] | None = None  # None: the what-if was not computed
    facilities: tuple[Facility, ...] = field(default=(), compare=False)  # as they stand (maps)
    reach: tuple[Institution, ...] = field(default=(), compare=False)  # within reach (maps)

    @property
    def n_facilities(self) -> int:
        return self.status_rows[-1].total if self.status_rows else 0

    def short_by_duty(self) -> dict[Duty, int]:
        return {d: sum(f.duty is d for f in self.short) for d in Duty}

    def short_by_requirement(self) -> dict[Duty, dict[Capability, int]]:
        """Facilities still short of each requirement, per duty."""
        return {
            d: {
                c: sum(f.duty is d and bool(f.missing & c) for f in self.short)
                for c in CAPABILITIES
            }
            for d in Duty
        }

    @property
    def needed(self) -> int:
        """Facilities still short that some institution in range could help."""
        return sum(bool(f.coverable) for f in self.short)

    @property
    def declared_remaining(self) -> int:
        """Capacity left at the helping institutions that declared one."""
        return sum(i.remaining or 0 for i in self.institutions if i.declared is not None)

    @property
    def undeclared(self) -> int:
        """Helping institutions that declared no capacity (counted without a limit)."""
        return sum(i.declared is None for i in self.institutions)

    @property
    def neighbour_prefecture_dependent(self) -> tuple[CrossBorder, ...]:
        return tuple(c for c in self.cross if c.other_prefecture)


def status_table(facilities: Sequence[Facility]) -> tuple[StatusRow, ...]:
    """The seed table's form for ``facilities`` (their status as they stand): kinds in
    MODEL.md order, then the total."""
    count = Counter((f.kind, f.status) for f in facilities)
    rows = [
        StatusRow(
            k,
            info.label_ja,
            info.duty.label_ja,
            tuple(count[(k, s)] for s in Status),
        )
        for k, info in FACILITY_KINDS.items()
    ]
    total = tuple(sum(r.counts[j] for r in rows) for j in range(len(Status)))
    return (*rows, StatusRow("total", "計", "", total))


def _marks(mask: int) -> str:
    return "".join(c.mark for c in CAPABILITIES if mask & c)


def _prefecture_names() -> dict[str, str]:
    return {m.prefecture_code: m.prefecture for m in municipalities()}


def area_view(
    area: AreaInfo,
    facilities: Sequence[Facility],
    institutions: Sequence[LedgerInstitution],
    proposals: Sequence[ProposalNow],
    plan: Instance,
    params: MatchParams | None = None,
    today: dt.date | None = None,
    pending: Mapping[str, int] | None = None,
    forbidden: frozenset[tuple[str, str]] = frozenset(),
    neighbours: Sequence[NamedArea] = (),
    shared: Mapping[str, tuple[str, ...]] | None = None,
    whatif: bool = False,
    site_capacity: int | None = 5,
) -> AreaView:
    """The area's picture (see the module docstring).

    ``facilities`` are the area's facilities as they stand (``covered`` = covered now), ``plan``
    the planner's input for the area (same facilities, contacted pairs counted as arranged;
    institutions within reach with the capacity left for a re-plan), ``institutions`` the same
    institutions with their ledger. ``shared`` names, per municipality, the other areas that
    also hold it. ``whatif`` re-solves (seconds on a large area): without it ``changes`` is
    ``None`` and the institutions to discuss rest on the nearest ones alone.
    """
    params = params or MatchParams()
    today = today or today_jp()
    pending = pending or {}
    shared = shared or {}
    names = municipality_names()
    prefs = _prefecture_names()
    problem, cand = candidate_graph(plan, params, forbidden=forbidden)
    region = Region(plan, params, problem, cand)
    fpos = {f.facility_id: k for k, f in enumerate(plan.facilities)}
    coverable = np.zeros(problem.n_fac, np.uint8)
    np.bitwise_or.at(coverable, cand.fac, cand.covers)
    by_facility: dict[str, Counter[str]] = {}
    by_institution: dict[str, Counter[str]] = {}
    for p in proposals:
        by_facility.setdefault(p.facility_id, Counter())[p.status] += 1
        by_institution.setdefault(p.institution_id, Counter())[p.status] += 1
    short = []
    for f in facilities:
        if not f.missing:
            continue
        k = fpos.get(f.facility_id)
        code = code5_of(f.municipality_code)
        short.append(
            ShortFacility(
                f.facility_id,
                f.name,
                f.kind,
                f.info.label_ja,
                f.info.duty,
                code,
                names.get(code, code),
                f.status,
                f.missing,
                pending.get(f.facility_id, 0) & f.missing,
                int(coverable[k]) if k is not None else 0,
                _counted(by_facility.get(f.facility_id)),
                shared.get(code, ()),
            )
        )
    short.sort(key=lambda s: (s.duty is not Duty.MANDATORY, s.municipality_code, s.facility_id))
    ledger = {li.institution.institution_id: li for li in institutions}
    helping = _helping(region, ledger, area.members, names, by_institution)
    unc = uncoverable(region)
    inst_names = {i.institution_id: i.name for i in plan.institutions}
    unc_rows = tuple(
        UncoverableRow(
            r.facility_id,
            r.name,
            names.get(str(r.municipality_code), str(r.municipality_code)),
            int(_CAPABILITY_OF[str(r.capability)]),
            float(r.range_km),
            str(r.nearest_institution_id),
            inst_names.get(str(r.nearest_institution_id), ""),
            float(r.nearest_km),
        )
        for r in unc.itertuples(index=False)
    )
    changes = _changes(region, area, inst_names, names, site_capacity) if whatif else None
    discuss = _discuss(unc_rows, changes, plan, area.members, names)
    cross = _cross(region, proposals, area, neighbours, names, prefs)
    return AreaView(
        area=area,
        today=today,
        days_left=days_left(today),
        params=params,
        status_rows=status_table(facilities),
        short=tuple(short),
        institutions=helping,
        proposal_counts=_counted(Counter(p.status for p in proposals)),
        answers=tuple(
            sorted(
                (p for p in proposals if p.status in ("agreed", "declined")),
                key=lambda p: -p.id,
            )
        ),
        uncoverable=unc_rows,
        ranges=_ranges(unc_rows),
        discuss=discuss,
        cross=cross,
        changes=changes,
        facilities=tuple(facilities),
        reach=plan.institutions,
    )


_STATUS_ORDER = {s.value: k for k, s in enumerate(ProposalStatus)}


def _counted(c: Counter[str] | None) -> tuple[tuple[str, int], ...]:
    """(status, count) in the vocabulary's order of proposal statuses."""
    return tuple(sorted((c or Counter()).items(), key=lambda kv: _STATUS_ORDER.get(kv[0], 99)))


def _helping(
    region: Region,
    ledger: Mapping[str, LedgerInstitution],
    members: CodeSet,
    names: Mapping[str, str],
    by_institution: Mapping[str, Counter[str]],
) -> tuple[HelpingInstitution, ...]:
    """Institutions with a candidate pair to a facility still short (plan), most needed first."""
    p, c = region.problem, region.cand
    short = p.missing[c.fac] > 0
    need = np.bincount(c.inst[short], minlength=p.n_inst)
    out = []
    for k in np.flatnonzero(need):
        inst = region.instance.institutions[k]
        li = ledger.get(inst.institution_id)
        code = code5_of(inst.municipality_code)
        out.append(
            HelpingInstitution(
                inst.institution_id,
                inst.name,
                str(inst.kind),
                code,
                names.get(code, code),
                members.contains(code),
                int(p.offers[k]),
                li.declared if li else inst.capacity,
                li.used if li else 0,
                li.remaining if li else inst.capacity,
                int(need[k]),
                _counted(by_institution.get(inst.institution_id)),
            )
        )
    out.sort(key=lambda h: (-h.needed, not h.inside, h.institution_id))
    return tuple(out)


def _ranges(rows: Sequence[UncoverableRow]) -> tuple[RangeStep, ...]:
    """Per requirement, each distance (rounded up to 0.1 km) at which more uncoverable
    facilities come within reach, cumulative."""
    out = []
    for cap in CAPABILITIES:
        mine = [r for r in rows if r.capability == int(cap) and np.isfinite(r.nearest_km)]
        seen = Counter(float(np.ceil(r.nearest_km * 10) / 10) for r in mine)
        total = 0
        for km in sorted(seen):
            total += seen[km]
            out.append(RangeStep(int(cap), mine[0].range_km, km, total))
    return tuple(out)


def _improves(mandatory: int, effort: int) -> bool:
    """Whether a change is better as the matching ranks proposals: more fully covered 義務
    facilities first, then 努力義務 (+4 義務 −4 努力義務 nets 0 but is better)."""
    return (mandatory, effort) > (0, 0)


def _changes(
    region: Region,
    area: AreaInfo,
    inst_names: Mapping[str, str],
    names: Mapping[str, str],
    site_capacity: int | None,
) -> tuple[Change, ...]:
    """The what-if of ``kyoryoku gaps`` on the area's planning input, ranked: gains only."""
    cap = capacity_whatif(region)
    sites = [m for m in municipalities() if area.members.contains(m.code5)]
    site = (
        site_whatif(region, sites=sites, capacity=site_capacity, offers=CLINIC_OFFERS)
        if sites
        else pd.DataFrame(columns=["municipality_code", "gain_mandatory_full", "gain_effort_full"])
    )
    out = [
        Change(
            "capacity",
            str(r.institution_id),
            f"{inst_names.get(str(r.institution_id), r.institution_id)} の受入枠を 1 増やす",
            int(r.gain_mandatory_full),
            int(r.gain_effort_full),
        )
        for r in cap.itertuples(index=False)
        if _improves(int(r.gain_mandatory_full), int(r.gain_effort_full))
    ]
    limit = "受入枠の上限なし" if site_capacity is None else f"受入 {site_capacity} 施設まで"
    out += [
        Change(
            "clinic",
            str(r.municipality_code),
            f"{names.get(str(r.municipality_code), r.municipality_code)}(役所付近)に"
            f"在宅療養支援診療所({_marks(CLINIC_OFFERS)}、{limit})",
            int(r.gain_mandatory_full),
            int(r.gain_effort_full),
        )
        for r in site.itertuples(index=False)
        if _improves(int(r.gain_mandatory_full), int(r.gain_effort_full))
    ]
    out.sort(key=lambda c: (-c.gain_mandatory, -c.gain_effort, c.change, c.target))
    return tuple(out)


def _discuss(
    rows: Sequence[UncoverableRow],
    changes: Sequence[Change] | None,
    plan: Instance,
    members: CodeSet,
    names: Mapping[str, str],
) -> tuple[DiscussInstitution, ...]:
    """Institutions nearest to the most uncoverable facilities, and those whose capacity would
    complete most, ranked by the two together."""
    nearest: dict[str, dict[str, float]] = {}
    for r in rows:
        if r.nearest_institution_id:
            got = nearest.setdefault(r.nearest_institution_id, {})
            got[r.name] = max(got.get(r.name, 0.0), r.nearest_km)
    gain = {c.target: c.gain for c in changes or () if c.change == "capacity"}
    insts = {i.institution_id: i for i in plan.institutions}
    out = []
    for iid in sorted(set(nearest) | set(gain)):
        inst = insts[iid]
        code = code5_of(inst.municipality_code)
        near = nearest.get(iid, {})
        out.append(
            DiscussInstitution(
                iid,
                inst.name,
                str(inst.kind),
                names.get(code, code),
                members.contains(code),
                tuple(sorted(near)),
                max(near.values(), default=0.0),
                gain.get(iid, 0),
            )
        )
    out.sort(key=lambda d: (-d.score, -len(d.nearest_for), d.institution_id))
    return tuple(out)


def _cross(
    region: Region,
    proposals: Sequence[ProposalNow],
    area: AreaInfo,
    neighbours: Sequence[NamedArea],
    names: Mapping[str, str],
    prefs: Mapping[str, str],
) -> tuple[CrossBorder, ...]:
    """Facilities whose best partner lies outside the area (see the module docstring)."""
    plan = region.instance
    insts = {i.institution_id: i for i in plan.institutions}
    facs = {f.facility_id: f for f in plan.facilities}
    rank = {s.value: k for k, s in enumerate(LIVE)}
    best: dict[str, tuple[str, float, int, str]] = {}  # facility → (institution, km, covers, basis)
    for p in sorted(proposals, key=lambda p: (rank.get(p.status, 9), -p.covers, p.distance_km)):
        if p.status in rank and p.facility_id not in best and p.institution_id in insts:
            best[p.facility_id] = (p.institution_id, p.distance_km, p.covers, p.status)
    c, prob = region.cand, region.problem
    for k, f in enumerate(plan.facilities):
        if f.facility_id in best or not prob.missing[k]:
            continue
        pairs = np.flatnonzero(c.fac == k)
        if not len(pairs):
            continue
        adds = np.array([bin(int(v)).count("1") for v in c.covers[pairs]])
        # most requirements added, then nearest (pairs are sorted by km within a facility)
        j = pairs[int(np.argmax(adds))]
        best[f.facility_id] = (
            plan.institutions[c.inst[j]].institution_id,
            float(c.km[j]),
            int(c.covers[j]),
            "candidate",
        )
    out = []
    for fid, (iid, km, covers, basis) in sorted(best.items()):
        inst = insts[iid]
        icode = code5_of(inst.municipality_code)
        if not icode or area.members.contains(icode):
            continue
        f = facs[fid]
        fcode = code5_of(f.municipality_code)
        other_pref = icode[:2] != fcode[:2]
        side = next((n.name for n in neighbours if n.members.contains(icode)), "")
        if other_pref:
            side = f"{prefs.get(icode[:2], icode[:2])} {side}".strip()
        out.append(
            CrossBorder(
                fid,
                f.name,
                names.get(fcode, fcode),
                iid,
                inst.name,
                names.get(icode, icode),
                side or names.get(icode, icode),
                other_pref,
                km,
                covers,
                basis,
            )
        )
    return tuple(out)
