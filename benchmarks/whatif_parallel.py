"""What-if sweeps in this process, a local process pool and a Dask LocalCluster, in one run.

A medium generated instance (default 長野県 600 facilities × 300 institutions, every capacity
declared and scaled by 0.4, so that many components need a re-solve). Both sweeps run on each
backend of ``matcher.parallel``: +1 capacity at every institution (``capacity_whatif``) and a
new institution at every municipality office (``site_whatif``). Prints seconds per sweep and the
ratio to the sequential run, and checks that every backend gives the same tables. The Dask
cluster's start-up is timed apart (a real cluster is already running); the process pool's
start-up is part of its time (it is started per sweep).

    python benchmarks/whatif_parallel.py [--workers 2] [--prefecture 長野県] ...
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from matcher.gaps.region import Region
from matcher.gaps.whatif import WhatIfStats, capacity_whatif, full_optimum, site_whatif
from matcher.generate import generate
from matcher.parallel import DaskExecutor, Executor, ProcessPool, Sequential
from matcher.params import MatchParams

Sweep = Callable[..., pd.DataFrame]
SWEEPS: dict[str, Sweep] = {"capacity +1": capacity_whatif, "new site": site_whatif}


def run(region: Region, executor: Executor) -> dict[str, tuple[float, pd.DataFrame, WhatIfStats]]:
    """Seconds, table and stats of each sweep on ``executor``."""
    out = {}
    for name, sweep in SWEEPS.items():
        stats = WhatIfStats()
        t0 = time.perf_counter()
        table = sweep(region, stats=stats, executor=executor)
        out[name] = (time.perf_counter() - t0, table, stats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prefecture", default="長野県")
    ap.add_argument("--facilities", type=int, default=600)
    ap.add_argument("--institutions", type=int, default=300)
    ap.add_argument("--capacity-factor", type=float, default=0.4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    instance = generate(
        args.prefecture,
        seed=args.seed,
        n_facilities=args.facilities,
        n_institutions=args.institutions,
        capacity_factor=args.capacity_factor,
        declared_share=1.0,
    )
    region = Region.of(instance, MatchParams())
    print(
        f"{args.prefecture} {args.facilities} × {args.institutions}, "
        f"{len(region.cand.fac):,} pairs, workers {args.workers}, "
        f"load average before {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    results = {
        "sequential": run(region, Sequential()),
        f"process pool ({args.workers})": run(region, ProcessPool(args.workers)),
    }
    t0 = time.perf_counter()
    with DaskExecutor("local", n_workers=args.workers) as dask:
        started = time.perf_counter() - t0
        results[f"Dask LocalCluster ({args.workers})"] = run(region, dask)

    t0 = time.perf_counter()
    full_optimum(region.problem, region.cand, region.params.max_new_partners)
    serial = time.perf_counter() - t0  # each sweep starts with it, in this process
    base = results["sequential"]
    for name, (_, _, stats) in base.items():
        print(f"{name}: {stats.candidates} candidates, {stats.resolved} re-solves")
    print(f"base optimum (in this process, once per sweep): {serial:.1f} s")
    print()
    print("| backend | " + " | ".join(SWEEPS) + " | total | time ÷ sequential |")
    print("|---" * (len(SWEEPS) + 3) + "|")
    total0 = sum(s for s, _, _ in base.values())
    for backend, res in results.items():
        for name, (_, table, _) in res.items():
            pd.testing.assert_frame_equal(table, base[name][1])  # same table on every backend
        total = sum(s for s, _, _ in res.values())
        cells = " | ".join(f"{s:.1f} s" for s, _, _ in res.values())
        print(f"| {backend} | {cells} | {total:.1f} s | {total / total0:.2f} |")
    print(f"\nDask LocalCluster start-up (not in the table): {started:.1f} s; tables identical.")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
