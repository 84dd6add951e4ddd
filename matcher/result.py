"""What a matching run returns: proposals, outcomes per facility, reasons, alternatives,
objective, and the warnings every view must show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .model import Status
from .objective import Objective
from .params import MatchParams, Mode
from .vocab import Reason

REASON_LABELS_JA: dict[str, str] = {r.value: r.label_ja for r in Reason}
OFFERS_UNKNOWN_WARNING_JA = (
    "警告: 範囲内の医療機関の提供内容 (①相談対応・②診療・③入院受入) が分からないため、"
    "{n} 件の要件に候補がありません。厚生局の届出受理医療機関名簿 (kyoryoku import kouseikyoku) "
    "または医療機関の申し出 (kyoryoku import declarations) を取り込んでから実行してください。"
)
# The key of ``MatchResult.counts`` (stored with every run) the warnings are derived from.
OFFERS_UNKNOWN_KEY = "unmatched_offers_unknown"
# The greedy baseline's objective ("近い順に依頼した場合", computed by ``match`` on the same
# input) in ``MatchResult.counts``, so that a stored run carries its comparison; km as metres.
BASELINE_KEYS = (
    "baseline_mandatory_full",
    "baseline_effort_full",
    "baseline_pairs_covered",
    "baseline_partnerships",
    "baseline_distance_m",
)


def baseline_counts(baseline: Objective) -> dict[str, int]:
    """The counts entries (``BASELINE_KEYS``) of the greedy baseline's objective."""
    values = (
        baseline.mandatory_full,
        baseline.effort_full,
        baseline.pairs_covered,
        baseline.partnerships,
        round(baseline.distance_km * 1000),
    )
    return dict(zip(BASELINE_KEYS, values, strict=True))


def baseline_of_counts(counts: Mapping[str, object]) -> Objective | None:
    """The greedy baseline's objective from a run's counts; ``None`` for a run without it."""
    values = [counts.get(k) for k in BASELINE_KEYS]
    if not all(isinstance(v, int) for v in values):
        return None
    m, e, p, n, metres = (int(v) for v in values)  # type: ignore[call-overload]
    return Objective(m, e, p, n, metres / 1000)


def warnings_of_counts(counts: Mapping[str, object]) -> tuple[str, ...]:
    """The loud warnings of a run from its counts (``MatchResult.counts``, a stored run's
    ``counts``): every view of a run, live or stored, shows the same text."""
    n = counts.get(OFFERS_UNKNOWN_KEY, 0)
    return (OFFERS_UNKNOWN_WARNING_JA.format(n=n),) if isinstance(n, int) and n > 0 else ()


@dataclass(frozen=True)
class Proposal:
    """One new partnership: the institution covers ``covers`` (mask) for the facility."""

    facility_id: str
    institution_id: str
    covers: int
    distance_km: float


@dataclass(frozen=True)
class Unmatched:
    """A capability a facility still misses after the proposal, and why."""

    facility_id: str
    capability: int  # one bit
    reason: Reason


@dataclass(frozen=True)
class Alternative:
    """A candidate the coordinator could phone instead (not part of the proposal)."""

    facility_id: str
    rank: int
    institution_id: str
    distance_km: float
    covers: int
    remaining_capacity: int | None  # after the proposal; None = not declared (unlimited)


@dataclass(frozen=True)
class FacilityOutcome:
    """A facility's status before and after the proposal."""

    facility_id: str
    status_before: Status
    status_after: Status
    missing_before: int
    missing_after: int
    unknown: bool  # no filing known: matched as if it had no partner
    candidates: int  # institutions in range that would add something


@dataclass(frozen=True)
class SolveInfo:
    """How the proposal was computed."""

    mode: Mode
    proven_optimal: bool
    message: str
    seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class MatchResult:
    """The whole answer of one run; ids at the edges, ready for CSV, JSON, store and pages."""

    params: MatchParams
    proposals: tuple[Proposal, ...]
    outcomes: tuple[FacilityOutcome, ...]
    unmatched: tuple[Unmatched, ...]
    alternatives: tuple[Alternative, ...]
    objective: Objective
    info: SolveInfo
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def offers_unknown(self) -> int:
        """Missing requirements left uncovered only because no institution in range has any
        known offer (the run lacks a 名簿 or declarations): 0 when the data was complete."""
        return sum(u.reason == Reason.OFFERS_UNKNOWN for u in self.unmatched)

    @property
    def baseline(self) -> Objective | None:
        """The greedy baseline's objective on the same input ("近い順に依頼した場合")."""
        return baseline_of_counts(self.counts)

    @property
    def warnings_ja(self) -> tuple[str, ...]:
        """Loud warnings every view of the run must show (CLI, web, reports, summary.json)."""
        return warnings_of_counts({OFFERS_UNKNOWN_KEY: self.offers_unknown})
