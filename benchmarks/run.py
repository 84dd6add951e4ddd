"""Benchmarks of candidate building and of every mode (``make bench``; not part of ``make test``).

Instances: a dense Tokyo-like prefecture (~1,400 facilities × ~800 institutions, tight
capacities, every facility with 100+ institutions in range) and all of Japan (~43,000 ×
~23,000). Prints wall time and peak memory (tracemalloc on numpy buffers + RSS growth) per
step, the optimal-vs-greedy quality, and ratios against a baseline measured in the same run:
the one-capability min-cost assignment (scipy's ``min_weight_full_bipartite_matching`` is too
slow at national scale, so the baseline is OR-Tools' min-cost flow when installed).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.candidates import Problem, build_candidates
from matcher.generate import generate
from matcher.model import Instance
from matcher.objective import evaluate
from matcher.params import MatchParams
from matcher.solve.greedy import solve_greedy
from matcher.solve.optimal import solve_optimal
from matcher.solve.stable import solve_stable


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, fn, *args):
    t = time.perf_counter()
    value = fn(*args)
    dt = time.perf_counter() - t
    print(f"  {label:<28} {dt:8.2f} s   peak RSS {rss_mb():8.0f} MB", flush=True)
    return value, dt


def baseline_flow(problem: Problem, cand) -> float | None:
    """One-capability (②) capacitated assignment by OR-Tools min-cost flow: the reference time."""
    try:
        from ortools.graph.python import min_cost_flow
    except ImportError:
        return None
    sel = np.flatnonzero(cand.covers & 2)
    f, i = cand.fac[sel], cand.inst[sel]
    nf, ni = problem.n_fac, problem.n_inst
    t = time.perf_counter()
    smcf = min_cost_flow.SimpleMinCostFlow()
    src, sink = nf + ni, nf + ni + 1
    demand = np.flatnonzero(problem.missing & 2)
    cap = np.where(problem.capacity < 0, len(demand), problem.capacity)
    tails = np.concatenate([np.full(len(demand), src), f, nf + np.arange(ni), demand])
    heads = np.concatenate([demand, nf + i, np.full(ni, sink), np.full(len(demand), sink)])
    caps = np.concatenate(
        [np.ones(len(demand)), np.ones(len(sel)), cap, np.ones(len(demand))]
    ).astype(np.int64)
    costs = np.concatenate(
        [
            np.zeros(len(demand)),
            np.round(cand.km[sel] * 1000),
            np.zeros(ni),
            np.full(len(demand), 10**7),
        ]
    ).astype(np.int64)
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    smcf.set_node_supply(src, len(demand))
    smcf.set_node_supply(sink, -len(demand))
    assert smcf.solve() == smcf.OPTIMAL
    return time.perf_counter() - t


def bench(name: str, instance, params: MatchParams, time_limit: float | None) -> dict[str, object]:
    n_f, n_i = len(instance.facilities), len(instance.institutions)
    print(f"\n== {name}: {n_f} facilities × {n_i} institutions")
    problem = Problem.from_instance(instance, params)
    cand, t_cand = timed("candidates (k-d tree)", build_candidates, problem, params)
    per_fac = np.bincount(cand.fac, minlength=problem.n_fac)[problem.missing > 0]
    print(
        f"  demand {int((problem.missing > 0).sum())}, pairs {len(cand)}, "
        f"candidates per facility median {int(np.median(per_fac)) if len(per_fac) else 0}, "
        f"components {cand.components()[0]}"
    )
    base = baseline_flow(problem, cand)
    if base is not None:
        print(f"  {'baseline: 1-capability flow':<28} {base:8.2f} s")
    greedy, t_g = timed("greedy", solve_greedy, problem, cand, params.max_new_partners)
    stable, t_s = timed("stable", solve_stable, problem, cand, params.max_new_partners)
    (opt, rep), t_o = timed(
        "optimal", lambda: solve_optimal(problem, cand, params.max_new_partners, time_limit)
    )
    o, g, s = (evaluate(problem, cand, x) for x in (opt, greedy, stable))
    print(f"  {rep.message_ja()}")
    print(
        f"  optimal proven: {rep.proven}; LP-integral levels {rep.lp_integral_levels}, MILP levels "
        f"{rep.milp_levels}, columns {rep.columns}, pricing rounds {rep.pricing_rounds}"
    )
    for label, obj in (("optimal", o), ("greedy", g), ("stable", s)):
        print(
            f"  {label:<8} full 義務 {obj.mandatory_full:6d}  努力 {obj.effort_full:6d}"
            f"  pairs {obj.pairs_covered:7d}  partners {obj.partnerships:7d}"
            f"  km {obj.distance_km:10.1f}"
        )
    if base:
        print(
            f"  ratio optimal/baseline {t_o / base:6.1f}×"
            f"   candidates/baseline {t_cand / base:6.1f}×"
        )
    return {
        "name": name,
        "candidates_s": t_cand,
        "optimal_s": t_o,
        "greedy_s": t_g,
        "stable_s": t_s,
        "baseline_s": base,
        "proven": rep.proven,
        "rss_mb": rss_mb(),
        "gain_full": (o.mandatory_full + o.effort_full) - (g.mandatory_full + g.effort_full),
        "gain_partners": g.partnerships - o.partnerships,
    }


def _declared(prefecture: str | None, n_facilities: int, n_institutions: int) -> Instance:
    """A synthetic instance of these totals, every institution declaring a capacity (half the
    generated one: tight)."""
    return generate(
        prefecture,
        n_facilities=n_facilities,
        n_institutions=n_institutions,
        seed=1,
        capacity_factor=0.5,
        declared_share=1.0,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-national", action="store_true")
    ap.add_argument("--time-limit", type=float, default=600.0)
    args = ap.parse_args()
    params = MatchParams()
    rows = []
    tokyo = _declared("東京都", 1400, 800)
    rows.append(bench("Tokyo-like (dense, tight)", tokyo, params, args.time_limit))
    kochi = generate("高知県", seed=1, capacity_factor=0.5)
    rows.append(bench("高知県 (sample scale)", kochi, params, args.time_limit))
    if not args.skip_national:
        japan = _declared(None, 43000, 23000)
        rows.append(bench("Japan", japan, params, args.time_limit))
    print(
        "\n| instance | candidates s | optimal s | proven | greedy s | stable s | baseline s "
        "| peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = f"{r['baseline_s']:.2f}" if r["baseline_s"] else "n/a"
        print(
            f"| {r['name']} | {r['candidates_s']:.2f} | {r['optimal_s']:.2f} | {r['proven']} | "
            f"{r['greedy_s']:.2f} | {r['stable_s']:.2f} | {base} | {r['rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
