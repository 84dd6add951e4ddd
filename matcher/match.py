"""One matching run: instance + parameters → candidates → solver → explained result."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from ._errors import InputError
from .candidates import Candidates, Problem, TravelMatrix, build_candidates
from .corporation import corporation_penalty, same_corporation_pairs
from .explain import alternatives_of, outcomes_of, proposals_of, unmatched_of
from .infection import preferred_candidates
from .model import Facility, Instance, Status, filed_partner_pairs
from .objective import check_feasible, evaluate
from .params import MODES, MatchParams, Mode
from .result import OFFERS_UNKNOWN_KEY, MatchResult, SolveInfo, baseline_counts
from .sites import SitePlan, Sites, union_problem
from .solve.greedy import solve_greedy
from .solve.optimal import solve_optimal
from .solve.stable import solve_stable
from .vocab import Reason

Progress = Callable[[str, int, int], None]


def travel_matrix(
    instance: Instance, rows: list[tuple[str, str, float]], file: str = ""
) -> TravelMatrix:
    """Map (facility_id, institution_id, km) rows onto positions; unknown ids are an error."""
    from ._errors import RowIssue

    fpos = {f.facility_id: k for k, f in enumerate(instance.facilities)}
    ipos = {i.institution_id: k for k, i in enumerate(instance.institutions)}
    issues = []
    fac, inst, km = [], [], []
    seen: dict[tuple[str, str], int] = {}
    for n, (fid, iid, d) in enumerate(rows, start=2):
        if (fid, iid) in seen:
            issues.append(
                RowIssue(
                    file,
                    n,
                    "institution_id",
                    iid,
                    f"同じ組み合わせが {seen[(fid, iid)]}行目にもあります",
                )
            )
            continue
        seen[(fid, iid)] = n
        if fid not in fpos:
            issues.append(RowIssue(file, n, "facility_id", fid, "施設一覧にない施設IDです"))
        elif iid not in ipos:
            issues.append(RowIssue(file, n, "institution_id", iid, "医療機関一覧にないIDです"))
        else:
            fac.append(fpos[fid])
            inst.append(ipos[iid])
            km.append(d)
    if issues:
        raise InputError(issues)
    return TravelMatrix(np.array(fac, np.int64), np.array(inst, np.int64), np.array(km, float))


def _forbidden_mask(
    instance: Instance, cand: Candidates, forbidden: Iterable[tuple[str, str]]
) -> np.ndarray:
    fpos = {f.facility_id: k for k, f in enumerate(instance.facilities)}
    ipos = {i.institution_id: k for k, i in enumerate(instance.institutions)}
    keys = {fpos[f] * cand.n_inst + ipos[i] for f, i in forbidden if f in fpos and i in ipos}
    pair_key = cand.fac * cand.n_inst + cand.inst
    return np.isin(pair_key, np.fromiter(keys, np.int64, len(keys)))


def solve(
    problem: Problem,
    cand: Candidates,
    params: MatchParams,
    mode: Mode,
    progress: Progress | None = None,
    previous: np.ndarray | None = None,
) -> tuple[np.ndarray, bool, str, dict[str, object]]:
    """Run one solver; returns (chosen positions, proven optimal, message, details).

    ``previous`` (positions into ``cand`` of an earlier proposal) warm-starts the optimal mode
    (same objective values, less time: ``solve_optimal``); the baselines ignore it."""
    if mode == "greedy":
        return solve_greedy(problem, cand, params.max_new_partners), False, "貪欲法(基準)", {}
    if mode == "stable":
        return (
            solve_stable(problem, cand, params.max_new_partners),
            False,
            "安定マッチング(基準)",
            {},
        )
    if mode == "optimal":
        cb = (lambda done, total: progress("solve", done, total)) if progress else None
        chosen, rep = solve_optimal(
            problem, cand, params.max_new_partners, params.time_limit, cb, previous=previous
        )
        details: dict[str, object] = {
            "components": rep.components,
            "lp_integral_levels": rep.lp_integral_levels,
            "milp_levels": rep.milp_levels,
            "columns": rep.columns,
            "pricing_rounds": rep.pricing_rounds,
            "stopped_level": rep.stopped_level,
            "warm_start_pairs": 0 if previous is None else len(previous),
        }
        return chosen, rep.proven, rep.message_ja(), details
    raise ValueError(f"不明なモード「{mode}」(使えるのは {', '.join(MODES)})")


def candidate_graph(
    instance: Instance,
    params: MatchParams,
    travel: TravelMatrix | None = None,
    forbidden: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
) -> tuple[Problem, Candidates]:
    """The arrays of a run and its candidate graph, without the ``forbidden`` (facility_id,
    institution_id) pairs nor the facilities' filed partners (``filed_partner_pairs``: an
    existing partner is never proposed as new); the graph ``match`` solves on and explains with."""
    problem = Problem.from_instance(instance, params)
    cand = build_candidates(problem, params, travel)
    forbidden = frozenset(forbidden) | filed_partner_pairs(instance.facilities)
    if forbidden:
        cand = cand.without(_forbidden_mask(instance, cand, forbidden))
    return problem, cand


def positions_of(
    instance: Instance,
    cand: Candidates,
    pairs: Iterable[tuple[str, str]],
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Positions in ``cand`` of (facility_id, institution_id) pairs (sorted, each once); the
    pairs not in the graph. ``rows`` maps a facility's position to its row of ``cand`` when the
    graph has other rows than the facilities (``Sites.unit``: one row per site)."""
    fpos = {f.facility_id: k for k, f in enumerate(instance.facilities)}
    if rows is not None:
        fpos = {fid: int(rows[k]) for fid, k in fpos.items()}
    ipos = {i.institution_id: k for k, i in enumerate(instance.institutions)}
    keys = cand.fac * cand.n_inst + cand.inst
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    found, absent = [], []
    for fid, iid in pairs:
        if fid in fpos and iid in ipos:
            key = fpos[fid] * cand.n_inst + ipos[iid]
            k = int(np.searchsorted(sorted_keys, key))
            if k < len(sorted_keys) and sorted_keys[k] == key:
                found.append(int(order[k]))
                continue
        absent.append((fid, iid))
    return np.unique(np.array(found, np.int64)), absent


def result_of(
    instance: Instance,
    problem: Problem,
    cand: Candidates,
    chosen: np.ndarray,
    params: MatchParams,
    info: SolveInfo,
) -> MatchResult:
    """Explain chosen positions of ``cand``: proposals, outcomes, reasons, alternatives, objective
    and counts (what ``match`` returns, also for a proposal read back from elsewhere)."""
    outcomes = outcomes_of(instance, problem, cand, chosen)
    counts = {
        "facilities": problem.n_fac,
        "institutions": problem.n_inst,
        "demand_facilities": int(np.count_nonzero(problem.missing)),
        "candidate_pairs": len(cand),
        "proposals": len(chosen),
        "unknown_facilities": sum(o.unknown for o in outcomes),
        "unlimited_institutions": int(np.count_nonzero(problem.capacity < 0)),
    }
    for s in Status:
        counts[f"before_{s.value}"] = sum(o.status_before is s for o in outcomes)
        counts[f"after_{s.value}"] = sum(o.status_after is s for o in outcomes)
    max_km = {int(c): km for c, km in params.max_km.items()}
    unmatched = unmatched_of(instance, problem, cand, chosen, params.max_new_partners, max_km)
    # Stored with a run, so that its warnings can be shown from the store (``warnings_of_counts``).
    counts[OFFERS_UNKNOWN_KEY] = sum(u.reason == Reason.OFFERS_UNKNOWN for u in unmatched)
    return MatchResult(
        params=params,
        proposals=proposals_of(instance, cand, chosen),
        outcomes=outcomes,
        unmatched=unmatched,
        alternatives=alternatives_of(instance, problem, cand, chosen, params.alternatives),
        objective=evaluate(problem, cand, chosen),
        info=info,
        counts=counts,
    )


def planning_graph(
    instance: Instance,
    params: MatchParams,
    travel: TravelMatrix | None = None,
    forbidden: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
) -> tuple[Problem, Candidates, SitePlan | None]:
    """``candidate_graph`` and, when the instance has sites of several registrations (and
    ``params.count_site_registrations`` is off), the ``SitePlan`` the solvers see; a pair
    excluded for one registration of a site is excluded for all of them."""
    sites = Sites.of(instance)
    if params.count_site_registrations or not sites.merges:
        problem, cand = candidate_graph(instance, params, travel, forbidden)
        return problem, cand, None
    spread = sites.spread(instance, set(forbidden) | filed_partner_pairs(instance.facilities))
    problem = Problem.from_instance(instance, params)
    union = build_candidates(union_problem(problem, sites), params, travel)
    union = union.without(_forbidden_mask(instance, union, spread))
    plan = SitePlan.build(sites, problem, union)
    return problem, plan.graph.without(plan.graph.covers == 0), plan


def result_of_pairs(
    instance: Instance,
    params: MatchParams,
    pairs: Iterable[tuple[str, str]],
    info: SolveInfo,
    forbidden: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
    travel: TravelMatrix | None = None,
) -> tuple[MatchResult, list[tuple[str, str]]]:
    """Explain (facility_id, institution_id) pairs read back from elsewhere (a stored run) on
    the very graph ``match`` solves on — one row per site when registrations share a site —
    so the result and its five objective values are those ``match`` gave; also the pairs not
    on the graph."""
    problem, cand, plan = planning_graph(instance, params, travel, forbidden)
    if plan is None:
        chosen, absent = positions_of(instance, cand, pairs)
        return result_of(instance, problem, cand, chosen, params, info), absent
    chosen, absent = positions_of(instance, plan.merged, pairs, plan.sites.unit)
    return site_result_of(instance, problem, cand, plan, chosen, params, info), absent


def _planned(instance: Instance, plan: SitePlan | None) -> list[Facility]:
    """The facility of every planning row (a site: its first registration)."""
    if plan is None:
        return list(instance.facilities)
    return [instance.facilities[k] for k in plan.sites.heads()]


def site_result_of(
    instance: Instance,
    problem: Problem,
    cand: Candidates,
    plan: SitePlan,
    chosen: np.ndarray,
    params: MatchParams,
    info: SolveInfo,
) -> MatchResult:
    """``result_of`` for positions chosen on ``plan.merged``: proposals, outcomes and reasons
    per registration (every registration in demand of a chosen site gets its partners); the
    objective on the planning rows (a site counts once); alternatives with capacity left
    counting a site once."""
    rows = plan.expand(chosen)
    result = result_of(instance, problem, plan.graph, rows, params, info)
    # Alternatives on the true graph; capacity shifted so that what is left counts sites once.
    keep = plan.graph.covers > 0
    at = np.cumsum(keep) - 1
    true_rows = at[rows[keep[rows]]]
    used_true = np.bincount(cand.inst[true_rows], minlength=problem.n_inst)
    capacity = np.where(problem.capacity < 0, -1, problem.capacity + used_true - plan.used(chosen))
    shifted = replace(problem, capacity=capacity)
    result.counts.update(
        candidate_pairs=len(cand),
        sites=int(np.count_nonzero(np.bincount(plan.sites.unit) > 1)),
        site_registrations=int(len(plan.sites.unit) - plan.sites.n_units),
        planned_partnerships=len(chosen),
    )
    return replace(
        result,
        alternatives=alternatives_of(instance, shifted, cand, true_rows, params.alternatives),
        objective=evaluate(plan.problem, plan.merged, chosen),
    )


def warm_start(
    instance: Instance,
    plan: SitePlan | None,
    graph: Candidates,
    view: Candidates,
    back: np.ndarray,
    previous: Iterable[tuple[str, str]],
) -> np.ndarray:
    """Positions in ``view`` (the graph the solver sees, ``back`` its way to ``graph``) of an
    earlier proposal's (facility_id, institution_id) pairs still in the planning graph
    ``graph`` (one row per site with ``plan``); pairs no longer there are left out."""
    at, _ = positions_of(instance, graph, previous, None if plan is None else plan.sites.unit)
    if view is graph:
        return at
    where = np.empty_like(back)
    where[back] = np.arange(len(back), dtype=back.dtype)
    return np.sort(where[at])


def match(
    instance: Instance,
    params: MatchParams | None = None,
    mode: Mode = "optimal",
    travel: TravelMatrix | None = None,
    progress: Progress | None = None,
    forbidden: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
    previous: Iterable[tuple[str, str]] | None = None,
) -> MatchResult:
    """Propose new partnerships for every facility with missing capabilities.

    ``forbidden`` holds (facility_id, institution_id) pairs never to propose (e.g. declined);
    the facilities' filed partners (``Facility.partner_ids``) are never proposed either.
    ``previous``: the (facility_id, institution_id) pairs of an earlier proposal (e.g. before a
    few decisions) to warm-start the optimal mode with — a re-plan then takes a fraction of the
    time and gives the same objective values; pairs no longer candidates are ignored.
    """
    params = params or MatchParams()
    if mode not in MODES:
        raise ValueError(f"不明なモード「{mode}」(使えるのは {', '.join(MODES)})")
    t0 = time.perf_counter()
    problem, cand, plan = planning_graph(instance, params, travel, forbidden)
    # With sites the solvers plan one row per site (``matcher.sites``).
    sproblem, scand = (plan.problem, plan.merged) if plan else (problem, cand)
    # Same-corporation pairs per planning pair (``None`` when that level is off): the solvers'
    # extra km, and the result's count.
    same = (
        same_corporation_pairs(_planned(instance, plan), instance.institutions, scand)
        if params.prefer_same_corporation
        else None
    )
    # Preferences (第二種協定, same corporation): the solvers see changed km, the result the
    # true graph.
    view, back = preferred_candidates(
        instance,
        scand,
        params.prefer_infection_agreement,
        None if same is None else corporation_penalty(same, scand, params.max_new_partners),
    )
    start = (
        warm_start(instance, plan, scand, view, back, previous)
        if previous is not None and mode == "optimal"
        else None
    )
    t1 = time.perf_counter()
    chosen, proven, message, details = solve(sproblem, view, params, mode, progress, start)
    chosen = np.sort(back[chosen]) if view is not scand else chosen
    t2 = time.perf_counter()
    check_feasible(sproblem, scand, chosen, params.max_new_partners)
    info = SolveInfo(mode, proven, message, {}, details)
    if plan is None:
        result = result_of(instance, problem, cand, chosen, params, info)
    else:
        result = site_result_of(instance, problem, cand, plan, chosen, params, info)
    if same is not None:
        result.counts["same_corporation_partnerships"] = int(np.count_nonzero(same[chosen]))
    t3 = time.perf_counter()
    # The greedy baseline on the same graph, kept with the run for "この提案 vs 近い順".
    if mode == "greedy":
        baseline = result.objective
    else:
        greedy = solve_greedy(sproblem, view, params.max_new_partners)
        greedy = np.sort(back[greedy]) if view is not scand else greedy
        baseline = evaluate(sproblem, scand, greedy)
    result.counts.update(baseline_counts(baseline))
    t4 = time.perf_counter()
    result.info.seconds.update(
        candidates=t1 - t0, solve=t2 - t1, explain=t3 - t2, baseline=t4 - t3, total=t4 - t0
    )
    return result
