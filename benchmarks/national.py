"""National benchmark (issues 17 and 26): proven optimum, anytime gap, warm start, against the
issue-17 solver and candidate search (frozen in ``issue17/``), the older solvers and the greedy
baseline, all measured in the same run (``python benchmarks/national.py [--quick]``).

Prints, for the synthetic national instance (43,000 facilities × 23,000 institutions, every
institution declaring a capacity): the candidate graph (first call in this process, then the
issue-17 search, a warm call and the bare k-d tree search, then the first call in fresh
processes with glibc's default allocator settings and with ``matcher.memory``'s, as the CLI and
the web workers run — this process runs with the latter unless ``--allocator default``);
greedy; the current solver as ``solve_optimal`` runs it (one process) and with ``--workers``
processes (the small components in a second one), and the issue-17 solver, each with its five
objective values; with ``--anytime`` seconds (value, bound and gap per level); a re-plan after
a few decisions, cold and warm-started; the bundle formulation and the pre-issue-17 solver
(``previous_optimal.py``). ``--quick`` leaves out the last four (minutes). Every figure carries
the machine's load (``os.getloadavg``, 1 min) when it was measured: the 2-core machine is
shared, absolute times move by ±30 % or more, and ratios are against numbers of this same run.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from matcher.candidates import Candidates, Problem, build_candidates  # noqa: E402
from matcher.generate import generate  # noqa: E402
from matcher.memory import tune_allocator  # noqa: E402
from matcher.objective import Objective, evaluate  # noqa: E402
from matcher.params import MatchParams  # noqa: E402
from matcher.solve.greedy import solve_greedy  # noqa: E402
from matcher.solve.optimal import OptimalReport, solve_optimal  # noqa: E402


def rss_gb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory so far (GB) of this process (or of the largest child)."""
    return resource.getrusage(who).ru_maxrss / 1024**2


def load() -> str:
    return f"load {os.getloadavg()[0]:4.1f}"


class Clock:
    """Wall and CPU seconds (this process, all its threads) since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def seconds(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def line(
    label: str,
    seconds: float | tuple[float, float],
    obj: Objective | None = None,
    extra: str = "",
) -> None:
    wall, cpu = seconds if isinstance(seconds, tuple) else (seconds, None)
    used = f"cpu {cpu:6.2f} s" if cpu is not None else " " * 12
    shown = (
        f"  full 義務 {obj.mandatory_full:6d} 努力 {obj.effort_full:6d} pairs "
        f"{obj.pairs_covered:6d} partners {obj.partnerships:6d} km {obj.distance_km:10.1f}"
        if obj
        else ""
    )
    print(f"{label:<36} {wall:8.2f} s  {used}  ({load()}){shown} {extra}", flush=True)


def same(a: Objective, b: Objective) -> bool:
    """The five objective values agree (km to 1e-6 relative)."""
    return a.key()[:4] == b.key()[:4] and abs(a.distance_km - b.distance_km) <= 1e-6 * max(
        1.0, abs(b.distance_km)
    )


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


CPU: dict[str, float] = {}  # CPU seconds of each timed solve, by label


def timed_solve(
    label: str,
    solve: Callable[..., tuple[np.ndarray, Any]],
    problem: Problem,
    cand: Candidates,
    *args: object,
    **kw: object,
) -> tuple[np.ndarray, Any, float, Objective]:
    clock = Clock()
    chosen, report = solve(problem, cand, *args, **kw)
    seconds = clock.seconds()
    obj = evaluate(problem, cand, chosen)
    line(label, seconds, obj, f"proven {report.proven}")
    CPU[label] = seconds[1]
    return chosen, report, seconds[0], obj


_FRESH = """
import json, sys, time
sys.path.insert(0, {root!r})
from matcher.candidates import Problem, build_candidates
from matcher.generate import generate
from matcher.memory import tune_allocator
from matcher.params import MatchParams
if {tuned}:
    tune_allocator()
p = MatchParams()
japan = generate(None, n_facilities={nf}, n_institutions={ni}, seed=1, capacity_factor=0.5,
                 declared_share=1.0)
problem = Problem.from_instance(japan, p)
w, c = time.perf_counter(), time.process_time()
build_candidates(problem, p)
print(json.dumps([time.perf_counter() - w, time.process_time() - c]))
"""


def fresh_first_candidates(n_fac: int, n_inst: int, setting: str) -> tuple[float, float]:
    """(wall, CPU) of the first candidate search in a new process, allocator as ``setting``."""
    import json
    import subprocess

    code = _FRESH.format(
        root=str(Path(__file__).resolve().parents[1]),
        tuned=setting == "tuned",
        nf=n_fac,
        ni=n_inst,
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return float(wall), float(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--facilities", type=int, default=43000)
    ap.add_argument("--institutions", type=int, default=23000)
    ap.add_argument("--workers", type=int, default=2, help="processes of the second run")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="only candidates, greedy, the current and the issue-17 solver (no anytime, re-plan, "
        "bundle formulation, pre-issue-17 solver)",
    )
    ap.add_argument("--previous-limit", type=float, default=900.0, help="0 skips the old solver")
    ap.add_argument(
        "--bundle-limit", type=float, default=900.0, help="0 skips the bundle formulation"
    )
    ap.add_argument("--anytime", type=float, default=5.0)
    ap.add_argument("--decisions", type=int, default=20)
    ap.add_argument(
        "--allocator",
        choices=("tuned", "default"),
        default="tuned",
        help="tuned: the allocator as the CLI and the web workers set it (matcher.memory); "
        "default: glibc's defaults",
    )
    ap.add_argument(
        "--fresh-runs",
        type=int,
        default=3,
        help="first candidate search in this many fresh processes per allocator setting (0: none)",
    )
    args = ap.parse_args()
    tuned = args.allocator == "tuned" and tune_allocator()
    import issue17.candidates as before_cand
    import issue17.optimal as before

    params = MatchParams()
    clock = Clock()
    japan = generate(
        None,
        n_facilities=args.facilities,
        n_institutions=args.institutions,
        seed=1,
        capacity_factor=0.5,
        declared_share=1.0,
    )
    problem = Problem.from_instance(japan, params)
    print(
        f"instance {len(japan.facilities)} × {len(japan.institutions)}, {os.cpu_count()} cores, "
        f"allocator {'tuned (matcher.memory)' if tuned else 'default'}"
    )
    line("generate", clock.seconds())

    clock = Clock()
    cand = build_candidates(problem, params)
    cand_s = clock.seconds()
    t_cand = cand_s[0]
    line("candidates (first call)", cand_s, extra=f"pairs {len(cand)}")
    clock = Clock()
    old_cand = before_cand.build_candidates(problem, params)
    before_s = clock.seconds()
    t_cand_before = before_s[0]
    identical = all(
        np.array_equal(getattr(cand, k), getattr(old_cand, k))
        for k in ("fac", "inst", "km", "covers")
    )
    line("  issue-17 candidate search", before_s, extra=f"identical graph {identical}")
    del old_cand
    clock = Clock()
    build_candidates(problem, params)
    line("  candidates again (warm)", clock.seconds())
    for setting in ("default", "tuned") if args.fresh_runs else ():
        runs = sorted(
            fresh_first_candidates(args.facilities, args.institutions, setting)
            for _ in range(args.fresh_runs)
        )
        line(
            f"  first call, fresh, {setting}",
            runs[len(runs) // 2],
            extra=f"median of {len(runs)}; wall {', '.join(f'{w:.2f}' for w, _ in runs)}",
        )
    line("  k-d tree search alone (floor)", raw_search(problem, params))

    clock = Clock()
    greedy = solve_greedy(problem, cand, params.max_new_partners)
    greedy_s = clock.seconds()
    t_greedy = greedy_s[0]
    line("greedy", greedy_s, evaluate(problem, cand, greedy))

    P = params.max_new_partners
    chosen, report, t_new, obj = timed_solve(
        "optimal (current, 1 process)", solve_optimal, problem, cand, P
    )
    rss_new = rss_gb()
    print(f"    peak RSS so far {rss_new:.2f} GB; slowest stages:")
    for row in report.slowest[:3]:
        print(f"      {row}")
    _, _, t_before, obj_before = timed_solve(
        "optimal, issue-17 solver", before.solve_optimal, problem, cand, P
    )
    _, _, t_more, obj_more = timed_solve(
        f"optimal, {args.workers} processes", solve_optimal, problem, cand, P, workers=args.workers
    )
    print(f"    same optimum as issue 17: {same(obj, obj_before)} and {same(obj_more, obj_before)}")

    t_bundle = t_prev = t_warm = t_cold = None
    if not args.quick:
        clock = Clock()
        _, any_report = solve_optimal(problem, cand, P, time_limit=args.anytime, workers=1)
        line(f"optimal, --time-limit {args.anytime:g}", clock.seconds())
        levels_table(any_report)

        problem2, cand2, previous = decisions(problem, cand, chosen, args.decisions, seed=1)
        clock = Clock()
        cold, _ = solve_optimal(problem2, cand2, P)
        cold_s = clock.seconds()
        t_cold = cold_s[0]
        clock = Clock()
        warm, warm_report = solve_optimal(problem2, cand2, P, previous=previous)
        warm_s = clock.seconds()
        t_warm = warm_s[0]
        agree = same(evaluate(problem2, cand2, warm), evaluate(problem2, cand2, cold))
        line(f"re-plan after {args.decisions} decisions: cold", cold_s)
        line(
            "re-plan, warm start",
            warm_s,
            extra=f"same optimum {agree}, proven {warm_report.proven}",
        )

        if args.bundle_limit > 0:
            _, _, t_bundle, _ = timed_solve(
                "optimal (bundle formulation)",
                solve_optimal,
                problem,
                cand,
                P,
                args.bundle_limit,
                formulation="bundle",
            )
        if args.previous_limit > 0:
            from previous_optimal import solve_optimal as previous_solve

            _, _, t_prev, _ = timed_solve(
                "optimal (pre-issue-17 solver)",
                previous_solve,
                problem,
                cand,
                P,
                args.previous_limit,
            )

    print("\nratios (same run):")
    print(f"  candidates, issue 17 / now      {t_cand_before / t_cand:6.2f}×  ({t_cand:.2f} s)")
    cpu_new, cpu_before = CPU["optimal (current, 1 process)"], CPU["optimal, issue-17 solver"]
    print(f"  optimum, issue 17 / now         {t_before / t_new:6.2f}×  ({t_new:.2f} s)")
    print(f"    in CPU time                   {cpu_before / cpu_new:6.2f}×  ({cpu_new:.2f} s)")
    print(f"  optimum, {args.workers} processes / 1        {t_more / t_new:6.2f}×")
    total = t_cand + t_new
    print(f"  candidates + proven optimum CPU {cand_s[1] + cpu_new:6.2f} s (both threads counted)")
    print(
        f"  candidates + proven optimum     {total:6.2f} s (issue 26: ≤ 15 s; issue 17 "
        f"{t_cand_before + t_before:.1f} s)"
    )
    print(f"  current / greedy                {t_new / max(t_greedy, 1e-9):6.1f}×")
    if t_bundle:
        print(f"  bundle / current                {t_bundle / t_new:6.2f}×")
    if t_prev:
        print(f"  pre-issue-17 / current          {t_prev / t_new:6.2f}×")
    if t_warm and t_cold:
        print(f"  warm / cold re-plan             {t_warm / t_cold:6.2f}")
    print(f"  peak RSS {rss_gb():.2f} GB (after the current solve: {rss_new:.2f} GB; ≤ 2 GB)")
    print(f"  load at the end {load()}; {os.cpu_count()} cores")


if __name__ == "__main__":
    sys.exit(main())
