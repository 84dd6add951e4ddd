"""National benchmark of issue 17: proven optimum, anytime gap, warm start, against the previous
solver and the greedy baseline measured in the same run (``python benchmarks/national.py``).

Prints, for the synthetic national instance (43,000 facilities × 23,000 institutions, every
institution declaring a capacity): candidates; greedy; the previous solver (frozen copy in
``previous_optimal.py``); the bundle formulation (this module's previous default, kept as the
independent formulation); the current (pattern) solver without a time limit (proven) and with
``--anytime`` seconds (value, bound and gap per level); and a re-plan after a few decisions, cold
and warm-started from the previous proposal. Ratios are against numbers of this same run, since
the 2-core machine is shared and absolute times move by ±30 % or more.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from matcher.candidates import Candidates, Problem, build_candidates  # noqa: E402
from matcher.generate import generate  # noqa: E402
from matcher.objective import Objective, evaluate  # noqa: E402
from matcher.params import MatchParams  # noqa: E402
from matcher.solve.greedy import solve_greedy  # noqa: E402
from matcher.solve.optimal import OptimalReport, solve_optimal  # noqa: E402


def rss_gb() -> float:
    """Peak resident memory of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def line(label: str, seconds: float, obj: Objective | None = None, extra: str = "") -> None:
    shown = (
        f"  full 義務 {obj.mandatory_full:6d} 努力 {obj.effort_full:6d} pairs "
        f"{obj.pairs_covered:6d} partners {obj.partnerships:6d} km {obj.distance_km:10.1f}"
        if obj
        else ""
    )
    print(f"{label:<34} {seconds:8.2f} s{shown} {extra}", flush=True)


def levels_table(report: OptimalReport) -> None:
    for row in report.levels:
        if "bound" in row:
            print(
                f"    {row['level']:<16} value {row['value']:>12g}  bound {row['bound']:>12g}  "
                f"gap {row['gap']:g} ({row['gap_pct']:.3f} %)"
            )
        else:
            print(f"    {row['level']:<16} value {row['value']:>12g}  bound not computed")


def decisions(
    problem: Problem, cand: Candidates, chosen: np.ndarray, n: int, seed: int
) -> tuple[Problem, Candidates, np.ndarray]:
    """A few coordinator decisions: ``n`` proposals declined, and as many institutions with one
    unit less capacity. Returns the new problem, graph, and the old proposal's surviving pairs."""
    rng = np.random.default_rng(seed)
    declined_pos = rng.choice(chosen, size=min(n, len(chosen)), replace=False)
    drop = np.zeros(len(cand), bool)
    drop[declined_pos] = True
    capacity = problem.capacity.copy()
    for i in rng.choice(np.unique(cand.inst[chosen]), size=n, replace=False):
        capacity[i] = max(0, capacity[i] - 1)
    kept = np.flatnonzero(~drop)
    previous = np.searchsorted(kept, chosen[~drop[chosen]])
    return replace(problem, capacity=capacity), cand.without(drop), previous


def raw_search(problem: Problem, params: MatchParams) -> float:
    """Seconds of the bare k-d tree pair search the candidate graph starts from (its floor)."""
    from scipy.spatial import cKDTree

    from matcher.geo import km_to_chord, unit_vectors

    demand, supply = np.flatnonzero(problem.missing), np.flatnonzero(problem.offers)
    t = time.perf_counter()
    ftree = cKDTree(unit_vectors(problem.fac_lat[demand], problem.fac_lon[demand]))
    itree = cKDTree(unit_vectors(problem.inst_lat[supply], problem.inst_lon[supply]))
    chord = km_to_chord(params.max_range_km / params.road_factor)
    ftree.sparse_distance_matrix(itree, chord, output_type="ndarray")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--facilities", type=int, default=43000)
    ap.add_argument("--institutions", type=int, default=23000)
    ap.add_argument("--previous-limit", type=float, default=900.0, help="0 skips the old solver")
    ap.add_argument(
        "--bundle-limit", type=float, default=900.0, help="0 skips the bundle formulation"
    )
    ap.add_argument("--anytime", type=float, default=30.0)
    ap.add_argument("--decisions", type=int, default=20)
    args = ap.parse_args()
    params = MatchParams()
    t = time.perf_counter()
    japan = generate(
        None,
        n_facilities=args.facilities,
        n_institutions=args.institutions,
        seed=1,
        capacity_factor=0.5,
        declared_share=1.0,
    )
    problem = Problem.from_instance(japan, params)
    print(f"instance {len(japan.facilities)} × {len(japan.institutions)}")
    line("generate", time.perf_counter() - t)
    t = time.perf_counter()
    cand = build_candidates(problem, params)
    t_cand = time.perf_counter() - t
    line("candidates", t_cand, extra=f"pairs {len(cand)}")
    t_search = raw_search(problem, params)
    line("  k-d tree search alone (floor)", t_search)
    t = time.perf_counter()
    greedy = solve_greedy(problem, cand, params.max_new_partners)
    t_greedy = time.perf_counter() - t
    line("greedy", t_greedy, evaluate(problem, cand, greedy))

    t = time.perf_counter()
    chosen, report = solve_optimal(problem, cand, params.max_new_partners)
    t_new = time.perf_counter() - t
    line("optimal (current)", t_new, evaluate(problem, cand, chosen), f"proven {report.proven}")
    print(f"    peak RSS so far {rss_gb():.2f} GB; slowest stages:")
    for row in report.slowest[:4]:
        print(f"      {row}")

    t = time.perf_counter()
    any_chosen, any_report = solve_optimal(
        problem, cand, params.max_new_partners, time_limit=args.anytime
    )
    line(f"optimal, --time-limit {args.anytime:g}", time.perf_counter() - t)
    levels_table(any_report)

    problem2, cand2, previous = decisions(problem, cand, chosen, args.decisions, seed=1)
    t = time.perf_counter()
    cold, _ = solve_optimal(problem2, cand2, params.max_new_partners)
    t_cold = time.perf_counter() - t
    t = time.perf_counter()
    warm, warm_report = solve_optimal(problem2, cand2, params.max_new_partners, previous=previous)
    t_warm = time.perf_counter() - t
    same = evaluate(problem2, cand2, cold).key() == evaluate(problem2, cand2, warm).key()
    line(f"re-plan after {args.decisions} decisions: cold", t_cold)
    line("re-plan, warm start", t_warm, extra=f"same optimum {same}, proven {warm_report.proven}")

    t_bundle = None
    if args.bundle_limit > 0:
        t = time.perf_counter()
        bundle, bundle_report = solve_optimal(
            problem, cand, params.max_new_partners, args.bundle_limit, formulation="bundle"
        )
        t_bundle = time.perf_counter() - t
        line(
            "optimal (bundle formulation)",
            t_bundle,
            evaluate(problem, cand, bundle),
            f"proven {bundle_report.proven}",
        )
    t_prev = None
    if args.previous_limit > 0:
        from previous_optimal import solve_optimal as previous_solve

        t = time.perf_counter()
        old, old_report = previous_solve(
            problem, cand, params.max_new_partners, args.previous_limit
        )
        t_prev = time.perf_counter() - t
        line(
            "optimal (previous solver)",
            t_prev,
            evaluate(problem, cand, old),
            f"proven {old_report.proven}",
        )
    print("\nratios (same run):")
    print(f"  current / greedy          {t_new / max(t_greedy, 1e-9):8.1f}×")
    print(f"  candidates / k-d search   {t_cand / max(t_search, 1e-9):8.2f}×")
    print(f"  candidates + proven optimum {t_cand + t_new:6.1f} s (issue 17: ≤ 60 s, ≤ 4 GB)")
    if t_bundle:
        print(f"  bundle / current          {t_bundle / t_new:8.2f}×")
    if t_prev:
        print(f"  previous / current        {t_prev / t_new:8.2f}×")
    print(f"  warm / cold re-plan       {t_warm / t_cold:8.2f}")
    print(f"  peak RSS {rss_gb():.2f} GB")


if __name__ == "__main__":
    sys.exit(main())
