"""What the pages show instead of codes: the core vocabulary's Japanese labels, capability lists
as ①②③, times in JST — registered once as Jinja filters and globals (``install``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from jinja2 import Environment

from matcher.model import format_capabilities_ja, parse_capabilities
from matcher.objective import Objective
from matcher.reports.pages import compare_objectives
from matcher.result import baseline_of_counts, warnings_of_counts
from matcher.usecases.views import RunView
from matcher.vocab import (
    BACKUP_LABEL_JA,
    CAPABILITIES,
    DEADLINE_JA,
    NO_FILING_JA,
    AreaKind,
    Duty,
    FacilityKind,
    InstitutionKind,
    Mode,
    ProposalStatus,
    Reason,
    RoundStrategy,
    RunStage,
    Status,
)
from matcher.wareki import jst

# One table for every page: the name a template uses → the vocabulary's enum.
LABEL_TABLES: dict[str, Any] = {
    "kind": FacilityKind,
    "duty": Duty,
    "status": Status,
    "proposal": ProposalStatus,
    "mode": Mode,
    "reason": Reason,
    "institution_kind": InstitutionKind,
    "stage": RunStage,
    "round_strategy": RoundStrategy,
    "area_kind": AreaKind,
}
# The buttons of a proposal's actions (their order: ``matcher.usecases.proposals.ACTION_ORDER``).
ACTION_LABELS_JA = {
    "contacted": "打診した",
    "agreed": "合意した",
    "declined": "辞退された",
    "withdrawn": "取り下げる",
    "proposed": "再提案する",
}
CHANGE_LABELS_JA = {
    "new": "新規",
    "kept": "継続",
    "dropped": "取り下げ(計画から外れた)",
    "released": "解放(打診中を解除)",
}


def label(value: object, table: str) -> str:
    """The Japanese label of ``value`` in ``table`` (the value itself if it is not a code)."""
    enum = LABEL_TABLES[table]
    text = "" if value is None else str(value)
    return enum(text).label_ja if text in enum.codes() else text


def options(table: str) -> list[tuple[str, str]]:
    """(code, label) of every member of ``table``, for a <select>."""
    return [(m.value, m.label_ja) for m in LABEL_TABLES[table]]


def caps_ja(value: object) -> str:
    """``consult+care`` (or a mask) as ``①相談対応・②診療``; ``なし`` when empty."""
    if isinstance(value, int):
        return format_capabilities_ja(value)
    try:
        return format_capabilities_ja(parse_capabilities(value))
    except ValueError:
        return str(value)


def url_with(request: Request, **changes: Any) -> str:
    """The current page's URL with some query parameters changed (``None`` removes one);
    changing anything but ``page`` starts again at page 1."""
    params = dict(request.query_params)
    if "page" not in changes:
        params.pop("page", None)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def session_of(request: Request) -> Any:
    """The request's session (user and CSRF token) for pages rendered without one, such as
    error pages: they keep the navigation."""
    from .deps import read_session

    try:
        return read_session(request)
    except Exception:  # an error page must render even when the store does not answer
        return None


def run_comparison(run: RunView) -> list[dict[str, object]]:
    """この提案 vs 近い順に依頼した場合 for a stored run, from the baseline ``match`` computed
    with it (``MatchResult.baseline`` in the run's counts); [] for a run stored without it."""
    greedy = baseline_of_counts(run.counts)
    if greedy is None:
        return []
    ours = Objective(
        run.mandatory_full, run.effort_full, run.pairs_covered, run.partnerships, run.distance_km
    )
    return compare_objectives(ours, greedy)


def install(env: Environment) -> None:
    """Register the filters and globals on the pages' Jinja environment."""
    env.filters.update(
        label=label,
        caps_ja=caps_ja,
        jst=jst,
        run_warnings=warnings_of_counts,
        run_comparison=run_comparison,
    )
    env.globals.update(
        label_options=options,
        change_labels=CHANGE_LABELS_JA,
        url_with=url_with,
        session_of=session_of,
        capability_labels={c.code: c.label_ja for c in CAPABILITIES},
        deadline_ja=DEADLINE_JA,
        no_filing_label=NO_FILING_JA,
        backup_label=BACKUP_LABEL_JA,
    )
