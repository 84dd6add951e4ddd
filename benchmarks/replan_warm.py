"""Re-planning an area after a few decisions, warm-started from the previous plan against a cold
start, measured in the same run (issue 17; ``python benchmarks/replan_warm.py``).

Instance: a synthetic prefecture (default 北海道, ~3,900 facilities × ~2,300 institutions;
``--prefecture 全国 --scale 0.25``: ~9,900 × ~5,800, match level only) with every institution
declaring a capacity (half the generated one: tight), as ``run.py`` does.

1. match level: the first plan (``match``), then ``--decisions`` of its pairs declined and as
   many of its institutions with one unit less capacity; the re-plan ``match(..., forbidden=)``
   cold and with ``previous=`` the first plan, alternated ``--repeat`` times;
2. store level (skipped with ``--no-store``): the instance imported into a throwaway SQLite
   store, a first ``run_plan``, the same kind of decisions through the store (``set_status``
   declined, declarations lowered), then ``run_plan(dry_run=True)`` cold (``warm_start=False``)
   and warm, alternated — the product's path: load, solve, re-check at commit, write (rolled
   back).

Times are medians; the ratios are warm / cold of this run (the machine is shared: absolute
times move by ±30 %). Both starts must give the same proposals (checked and printed).

``--sample`` (issue 26): the bundled sample prefecture (高知県, 704 facilities × 408
institutions, ``api.cli.load_sample``) planned as area 39 in a fresh SQLite file and a fresh
PostgreSQL database (``KYORYOKU_TEST_PG_URL``; skipped when it does not answer). Each round makes
``--decisions`` decisions on proposals of the last run (declined, agreed, contacted in turn) and
re-plans the area from the click to the saved run, twice — ``POST /api/runs`` through the web
(in-process ``TestClient``, the run answered within its wait: 201) and ``run_plan`` itself — each
beside a cold start of the same state (``run_plan(warm_start=False)``) and with the run's own
split (load, solve, commit) and the machine's load average; target ≤ 0.3 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.generate import generate  # noqa: E402
from matcher.match import match  # noqa: E402
from matcher.model import Instance  # noqa: E402
from matcher.params import MatchParams  # noqa: E402
from matcher.result import MatchResult  # noqa: E402

Pair = tuple[str, str]


def pairs_of(result: MatchResult) -> list[Pair]:
    return sorted((p.facility_id, p.institution_id) for p in result.proposals)


def busiest(pairs: list[Pair], n: int) -> list[str]:
    """The ``n`` institutions with the most proposed pairs (ties by id)."""
    count = Counter(i for _, i in pairs)
    return sorted(count, key=lambda i: (-count[i], i))[:n]


def lowered(capacity: int | None, proposed: int) -> int:
    """One unit less than declared (an undeclared capacity becomes what is proposed − 1)."""
    return max(0, (proposed if capacity is None else capacity) - 1)


def alternate(
    label: str, repeat: int, cold: Callable[[], MatchResult], warm: Callable[[], MatchResult]
) -> tuple[float, float, float, float, bool]:
    """Run cold and warm ``repeat`` times each, alternated; medians of the wall time and of the
    solver's time, and whether every run gave the same proposals."""
    wall: dict[str, list[float]] = {"cold": [], "warm": []}
    solve: dict[str, list[float]] = {"cold": [], "warm": []}
    answers: set[tuple[Pair, ...]] = set()
    for k in range(repeat):
        for name, fn in (("cold", cold), ("warm", warm)):
            t = time.perf_counter()
            result = fn()
            wall[name].append(time.perf_counter() - t)
            solve[name].append(result.info.seconds["solve"])
            answers.add(tuple(pairs_of(result)))
            print(
                f"  {label} {name} #{k + 1}: {wall[name][-1]:7.2f} s "
                f"(solve {solve[name][-1]:6.2f} s, proven {result.info.proven_optimal}, "
                f"warm-start pairs {result.info.details.get('warm_start_pairs', 0)})",
                flush=True,
            )
    med = statistics.median
    return (
        med(wall["cold"]),
        med(wall["warm"]),
        med(solve["cold"]),
        med(solve["warm"]),
        len(answers) == 1,
    )


def summary(label: str, row: tuple[float, float, float, float, bool]) -> None:
    cold, warm, s_cold, s_warm, same = row
    print(
        f"{label:<12} cold {cold:7.2f} s  warm {warm:7.2f} s  ratio {warm / cold:5.2f}   "
        f"(solver: cold {s_cold:6.2f} s  warm {s_warm:6.2f} s  ratio {s_warm / s_cold:5.2f})  "
        f"same proposals {same}"
    )


def match_level(
    instance: Instance, params: MatchParams, decisions: int, repeat: int
) -> tuple[float, float, float, float, bool]:
    t = time.perf_counter()
    first = pairs_of(match(instance, params))
    print(f"first plan: {len(first)} pairs, {time.perf_counter() - t:.2f} s", flush=True)
    declined = frozenset(first[:: max(1, len(first) // decisions)][:decisions])
    busy = set(busiest(first, decisions))
    proposed = Counter(i for _, i in first)
    after = Instance.of(
        list(instance.facilities),
        [
            replace(i, capacity=lowered(i.capacity, proposed[i.institution_id]))
            if i.institution_id in busy
            else i
            for i in instance.institutions
        ],
    )
    return alternate(
        "match",
        repeat,
        lambda: match(after, params, forbidden=declined),
        lambda: match(after, params, forbidden=declined, previous=first),
    )


def store_level(
    instance: Instance, params: MatchParams, decisions: int, repeat: int
) -> tuple[float, float, float, float, bool]:
    from matcher.store.db import open_store
    from matcher.store.imports import Declaration, import_declarations, import_simple
    from matcher.store.planner_input import load_state
    from matcher.store.planning import run_plan
    from matcher.store.proposal_commands import set_status
    from matcher.store.proposals import list_proposals

    area = instance.facilities[0].municipality_code[:2]
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}", upgrade=True)
        try:
            t = time.perf_counter()
            with store.write() as s:
                import_simple(s, instance.facilities, instance.institutions, 2025)
            print(f"store import: {time.perf_counter() - t:.2f} s", flush=True)
            t = time.perf_counter()
            first = run_plan(store, area, params, actor="bench")
            print(
                f"first run_plan: {len(first.result.proposals)} pairs, "
                f"{time.perf_counter() - t:.2f} s",
                flush=True,
            )
            with store.write() as s:
                views = list_proposals(s, area, status="proposed", run_id=first.run_id)
                for v in views[:: max(1, len(views) // decisions)][:decisions]:
                    set_status(s, v.id, "declined", v.version, "bench", "辞退")
                pairs = [(v.facility_id, v.institution_id) for v in views]
                declared = load_state(s, area, params).capacity_declared
                proposed = Counter(i for _, i in pairs)
                today = dt.date.today()
                import_declarations(
                    s,
                    [
                        Declaration(i, today, lowered(declared[i], proposed[i]))
                        for i in busiest(pairs, decisions)
                    ],
                )

            def plan(warm: bool) -> Callable[[], MatchResult]:
                return lambda: (
                    run_plan(
                        store, area, params, actor="bench", dry_run=True, warm_start=warm
                    ).result
                )

            return alternate("store", repeat, plan(False), plan(True))
        finally:
            store.dispose()


def load_average() -> str:
    import os

    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on Linux/macOS
        return "?"


def sample_database(db: str, folder: Path) -> tuple[str, Callable[[], None]] | None:
    """A fresh database of ``db`` (None: the PostgreSQL server does not answer) and its drop."""
    if db == "sqlite":
        return f"sqlite:///{folder / 'replan.db'}", lambda: None
    from throwaway_db import throwaway_postgres

    from matcher.settings import get_settings

    try:
        return throwaway_postgres("kyoryoku_replan")
    except Exception as exc:  # no server: say so, measure SQLite only
        print(f"PostgreSQL ({get_settings().test_pg_url}) に接続できません: {type(exc).__name__}")
        return None


def sample_level(db: str, decisions: int, repeat: int) -> dict[str, list[float]] | None:
    """Click → saved run on the sample prefecture after ``decisions`` decisions, ``repeat``
    rounds: seconds per path (web, run_plan, cold run_plan) and the run's own split."""
    from fastapi.testclient import TestClient

    from api.cli import load_sample
    from api.main import create_app
    from matcher.store.db import open_store
    from matcher.store.planning import run_plan
    from matcher.store.proposal_commands import set_status
    from matcher.store.proposals import list_proposals
    from matcher.store.runs import get_run

    password = "bench-pass-1"
    steps = ("declined", "agreed", "contacted")
    with tempfile.TemporaryDirectory() as tmp:
        made = sample_database(db, Path(tmp))
        if made is None:
            return None
        url, drop = made
        try:
            load_sample(url, Path(__file__).resolve().parents[1] / "data" / "sample", password)
            store = open_store(url)
            first = run_plan(store, "39", actor="demo-pref", replace_other_areas=True)
            print(f"{db}: 高知県 first run_plan {len(first.result.proposals)} pairs", flush=True)
            app = create_app(url, secret_key="bench", tiles_url="", report_dir=Path(tmp) / "r")
            out: dict[str, list[float]] = {}
            with TestClient(app) as client:
                r = client.post(
                    "/api/session", json={"username": "demo-pref", "password": password}
                )
                client.headers["Authorization"] = f"Bearer {r.json()['token']}"
                body = {"area_code": "39", "replace_other_areas": True}
                client.post("/api/runs", json=body)  # imports and first-use costs out of the way
                k = 0

                def decide() -> None:
                    nonlocal k
                    with store.write() as s:
                        live = list_proposals(s, "39", status="proposed")
                        for j in range(decisions):
                            p = live[(k * 37 + j * 53) % len(live)]
                            set_status(s, p.id, steps[(k + j) % 3], p.version, "bench")  # type: ignore[arg-type]
                            k += 1

                for n in range(repeat):
                    decide()
                    t = time.perf_counter()
                    r = client.post("/api/runs", json=body)
                    web = time.perf_counter() - t
                    assert r.status_code == 201, r.text
                    run_id = r.json()["run_id"]
                    with store.read() as s:
                        split = dict(get_run(s, run_id).seconds)
                    decide()
                    t = time.perf_counter()
                    run_plan(store, "39", actor="bench", replace_other_areas=True)
                    plan = time.perf_counter() - t
                    decide()
                    t = time.perf_counter()
                    run_plan(store, "39", actor="bench", replace_other_areas=True, warm_start=False)
                    cold = time.perf_counter() - t
                    for key, value in (
                        ("web", web),
                        ("run_plan", plan),
                        ("cold", cold),
                        ("load", split.get("load", 0.0)),
                        ("solve", split.get("total", 0.0)),
                        ("commit", split.get("commit", 0.0)),
                    ):
                        out.setdefault(key, []).append(value)
                    print(
                        f"  {db} #{n + 1}: web {web:.3f} s, run_plan {plan:.3f} s, "
                        f"cold {cold:.3f} s (run {run_id}: load {split.get('load', 0):.3f}, "
                        f"match {split.get('total', 0):.3f}, commit {split.get('commit', 0):.3f})",
                        flush=True,
                    )
            app.state.jobs.join_all()
            app.state.store.dispose()
            store.dispose()
            return out
        finally:
            drop()


def sample_main(decisions: int, repeat: int) -> None:
    print(f"負荷 (開始時、load average 1/5/15 分): {load_average()}", flush=True)
    rows = {db: sample_level(db, decisions, repeat) for db in ("sqlite", "postgresql")}
    med = statistics.median
    print(
        f"\nclick → saved run, 高知県 704 × 408 after {decisions} decisions "
        f"(medians of {repeat}; target ≤ 0.3 s):"
    )
    for db, row in rows.items():
        if row is None:
            continue
        print(
            f"  {db:<10} web (POST /api/runs) {med(row['web']):.3f} s  "
            f"run_plan {med(row['run_plan']):.3f} s  beside cold start {med(row['cold']):.3f} s "
            f"(warm / cold {med(row['run_plan']) / med(row['cold']):.2f}); the run's split: "
            f"load {med(row['load']):.3f} + match {med(row['solve']):.3f} "
            f"+ commit {med(row['commit']):.3f} s"
        )
    print(f"負荷 (終了時): {load_average()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prefecture", default="北海道", help="都道府県名 (「全国」で全国)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument(
        "--decisions", type=int, default=None, help="decisions before re-planning (10; --sample 5)"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-store", action="store_true", help="match level only")
    ap.add_argument(
        "--sample",
        action="store_true",
        help="the sample prefecture, click → saved run on SQLite and PostgreSQL (issue 26)",
    )
    args = ap.parse_args()
    if args.sample:
        sample_main(args.decisions or 5, args.repeat)
        return
    args.decisions = args.decisions or 10
    params = MatchParams()
    japan = args.prefecture == "全国"
    instance = generate(
        None if japan else args.prefecture,
        scale=args.scale,
        seed=1,
        capacity_factor=0.5,
        declared_share=1.0,
    )
    print(
        f"{args.prefecture} ×{args.scale:g}: {len(instance.facilities)} facilities × "
        f"{len(instance.institutions)} institutions; {args.decisions} declined + "
        f"{args.decisions} capacities lowered",
        flush=True,
    )
    rows = {"match": match_level(instance, params, args.decisions, args.repeat)}
    if japan and not args.no_store:
        print("store level: one prefecture at a time (skipped for 全国)")
    elif not args.no_store:
        rows["store"] = store_level(instance, params, args.decisions, args.repeat)
    print("\nre-plan after decisions, warm / cold (medians of this run):")
    for label, row in rows.items():
        summary(label, row)


if __name__ == "__main__":
    main()
