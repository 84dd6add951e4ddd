"""The views the use cases return: frozen, typed, one per thing a JSON answer or a page shows.

A view's fields are its JSON fields; ``api.schemas`` makes a Pydantic model from each (its
fields, types, defaults and docstring, with a description per field;
``tests/api/test_api_views.py`` checks that they agree), so ``/docs`` documents every answer.
Capabilities are the simple format's codes (``consult+care``), times ISO text in
UTC, as the store writes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .._errors import RowIssue
from ..store.areas import area_codes
from ..store.jobs import Job
from ..store.models import AreaRow, RunRow
from ..store.proposals import ProposalView as ProposalView  # the store's reads are the view

V = TypeVar("V")


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def from_dict(cls: type[V], d: Mapping[str, Any], **override: Any) -> V:
    """The view ``cls`` of a store dict: its fields picked by name (others are ignored),
    ``override`` replacing some."""
    if not override and len(d) == len(_names(cls)):
        try:  # the dict is the view (a list's items): one call, no copy
            return cls(**d)
        except TypeError:
            pass
    values = {name: d[name] for name in _names(cls) if name not in override and name in d}
    return cls(**values, **override)


# --- facilities --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FacilityView:
    """A facility and its state (``matcher.store.state``) as every list shows it."""

    facility_id: str
    name: str
    kind: str
    kind_ja: str
    duty: str
    lat: float
    lon: float
    municipality_code: str
    address: str
    status: str
    status_ja: str
    required: str
    covered: str
    covered_agreed: str
    missing: str
    pending: str  # 打診中: what contacted proposals would add (not coverage yet)
    filing_year: int | None
    unknown: bool
    has_infection_partner: bool


@dataclass(frozen=True)
class FacilityListView:
    total: int
    items: tuple[FacilityView, ...]


@dataclass(frozen=True)
class PartnerView:
    """A partner named in the facility's latest filing."""

    partner_name: str
    institution_id: str | None
    covers: str
    infection_agreement: bool


# --- institutions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstitutionView:
    """An institution with its offers and its capacity now (the capacity ledger)."""

    institution_id: str
    name: str
    kind: str
    kind_ja: str
    lat: float
    lon: float
    municipality_code: str
    address: str
    offers: str
    declared_capacity: int | None
    used_capacity: int
    remaining_capacity: int | None
    infection_agreement: bool


# --- proposals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryView:
    """One change of a proposal's status."""

    at: str
    actor: str
    from_status: str | None
    to_status: str
    note: str
    version: int
    run_id: int | None


@dataclass(frozen=True)
class ProposalDetailView(ProposalView):
    history: tuple[HistoryView, ...]


@dataclass(frozen=True)
class InstitutionDetailView(InstitutionView):
    proposals: tuple[ProposalView, ...]


@dataclass(frozen=True)
class CandidateView(InstitutionView):
    """An institution that would add a missing capability, nearest first."""

    rank: int
    distance_km: float
    covers: str
    proposal: ProposalView | None  # the pair's live or declined proposal
    declined: bool


@dataclass(frozen=True)
class FacilityDetailView(FacilityView):
    partners: tuple[PartnerView, ...]
    proposals: tuple[ProposalView, ...]
    candidates: tuple[CandidateView, ...]
    alternatives: tuple[CandidateView, ...]


# --- areas, status table, map ------------------------------------------------------------------


@dataclass(frozen=True)
class AreaView:
    code: str
    name: str
    kind: str
    municipalities: tuple[str, ...]


@dataclass(frozen=True)
class AreaDetailView(AreaView):
    status_counts: dict[str, int]


@dataclass(frozen=True)
class StatusColumnView:
    key: str
    label: str


@dataclass(frozen=True)
class StatusRowView:
    """One (area, kind) row of the seed table: a count and a share (%) per status."""

    area_code: str
    area_name: str
    kind: str
    kind_ja: str
    all: int
    partial: int
    none: int
    no_partner: int
    unknown: int
    total: int
    share_all: float
    share_partial: float
    share_none: float
    share_no_partner: float
    share_unknown: float
    infection_partner: int
    share_infection_partner: float


@dataclass(frozen=True)
class StatusTableView:
    columns: tuple[StatusColumnView, ...]
    days_left: int
    rows: tuple[StatusRowView, ...]


@dataclass(frozen=True)
class MapFacilityView:
    facility_id: str
    name: str
    kind_ja: str
    lat: float
    lon: float
    status: str
    status_ja: str
    missing: str


@dataclass(frozen=True)
class MapInstitutionView:
    institution_id: str
    name: str
    kind: str
    lat: float
    lon: float
    offers: str
    declared_capacity: int | None
    remaining_capacity: int | None


@dataclass(frozen=True)
class MapProposalView:
    id: int
    facility_id: str
    institution_id: str
    status: str


@dataclass(frozen=True)
class MapView:
    facilities: tuple[MapFacilityView, ...]
    institutions: tuple[MapInstitutionView, ...]
    proposals: tuple[MapProposalView, ...]


@dataclass(frozen=True)
class OutlineView:
    name: str
    rings: list[list[float]]


@dataclass(frozen=True)
class TownView:
    code: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class MapBackgroundView:
    """What the map draws without tiles: prefecture outlines and municipality names."""

    outlines: tuple[OutlineView, ...]
    municipalities: tuple[TownView, ...]


# --- runs and jobs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """A stored run: its parameters, the five objective values, counts and timings."""

    id: int
    area_code: str
    mode: str
    params: dict[str, Any]
    mandatory_full: int
    effort_full: int
    pairs_covered: int
    partnerships: int
    distance_km: float
    proven_optimal: bool
    message: str
    counts: dict[str, Any]
    n_new: int
    n_kept: int
    n_dropped: int
    actor: str
    started_at: str
    finished_at: str
    seconds: dict[str, Any]


@dataclass(frozen=True)
class RunChangeView:
    proposal_id: int
    facility_id: str
    institution_id: str
    change: str  # new | kept | dropped | released
    status: str


@dataclass(frozen=True)
class RunDetailView(RunView):
    changes: tuple[RunChangeView, ...]


@dataclass(frozen=True)
class JobView:
    """A run started from the web, while it runs and after."""

    job_id: int
    area_code: str
    mode: str
    state: str  # running | done | failed
    stage: str
    done: int
    total: int
    run_id: int | None
    error: str | None
    seconds: float


@dataclass(frozen=True)
class JobStartedView(JobView):
    poll: str | None = None  # still running: where to follow it
    run: RunView | None = None  # done within the wait: the run


# --- audit log ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditLogEntryView:
    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


# --- imports -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueView:
    """One problem of an input file, by file, row and column."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    severity: str


@dataclass(frozen=True)
class RejectView:
    """A rejected row and why (registry imports also say its category and values)."""

    row: int | None
    issues: tuple[IssueView, ...]
    file: str | None = None
    category: str | None = None
    category_ja: str | None = None
    values: dict[str, str] | None = None


@dataclass(frozen=True)
class ImportCountsView:
    """A registry import's rows: read, accepted, rejected by category, warnings."""

    read: int
    accepted: int
    rejected: int
    error: int
    skipped: int
    unmatched: int
    warnings: int


@dataclass(frozen=True)
class ImportResultView:
    kind: str
    file: str
    accepted: int
    rejected: int
    rejects: tuple[RejectView, ...]
    warnings: tuple[IssueView, ...]
    stats: dict[str, str]
    counts: ImportCountsView | None = None


# --- from the store's rows and dicts -----------------------------------------------------------


def area_view(a: AreaRow) -> AreaView:
    return AreaView(a.code, a.name, a.kind, tuple(sorted(area_codes(a).codes)))


def run_view(r: RunRow, area_code: str) -> RunView:
    return RunView(
        id=r.id,
        area_code=area_code,
        mode=r.mode,
        params=dict(r.params),
        mandatory_full=r.mandatory_full,
        effort_full=r.effort_full,
        pairs_covered=r.pairs_covered,
        partnerships=r.partnerships,
        distance_km=round(r.distance_km, 3),
        proven_optimal=r.proven_optimal,
        message=r.message,
        counts=dict(r.counts),
        n_new=r.n_new,
        n_kept=r.n_kept,
        n_dropped=r.n_dropped,
        actor=r.actor,
        started_at=r.started_at.isoformat(timespec="seconds"),
        finished_at=r.finished_at.isoformat(timespec="seconds"),
        seconds=dict(r.seconds or {}),
    )


def job_view(job: Job) -> JobView:
    return from_dict(JobView, job.to_dict())


def proposal_view(d: Mapping[str, Any]) -> ProposalView:
    return from_dict(ProposalView, d)


def history_view(d: Mapping[str, Any]) -> HistoryView:
    return from_dict(HistoryView, d)


def issue_view(i: RowIssue) -> IssueView:
    return IssueView(i.file, i.row, i.column, i.value, i.message, i.severity)
