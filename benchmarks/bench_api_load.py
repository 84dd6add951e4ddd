"""Load check of the web API on loopback (not part of `make test`).

Starts ``kyoryoku serve --sample data/sample`` on a fresh SQLite file (or uses ``--url`` of a
running server), then:

1. reads: ``--clients`` concurrent clients, each with its own connection, first for ``--warmup``
   seconds (not measured: the server's read cache fills), then on ``/openapi.json`` as the
   baseline (the framework's floor: built once, served from memory), then for ``--seconds`` on a
   mix of one facility with its candidates (40 %), the facility list (30 %), the proposal list
   (20 %) and the session check (10 %). Prints requests/s and p50/p95/p99 per endpoint type and
   its ratio to the baseline, and the machine's load average (other work on the machine skews
   every number);
2. updates: every client tries to move the same proposals from 提案中 to 打診中 with version 1;
   exactly one update per proposal may win (the others get 409), and the final version of each
   proposal must be 2 — no lost or double updates.

Target on the development machine (2 cores, clients and server on it): ≥ 200 req/s for the read
mix with p95 ≤ 100 ms, zero errors. Exit status 1 on any error or lost update (409 on a stale
version is expected and counted apart); a missed target is reported, not an error.

    python benchmarks/bench_api_load.py --clients 16 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-pass-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "KYORYOKU_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"}
    exe = Path(sys.executable).with_name("kyoryoku")
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--sample",
            str(ROOT / "data" / "sample"),
            "--port",
            str(port),
            "--demo-password",
            PASSWORD,
            "--tiles-url",
            "",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/login", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("サーバーが起動しませんでした")


def token(url: str, user: str, password: str = PASSWORD) -> str:
    r = httpx.post(url + "/api/session", json={"username": user, "password": password})
    r.raise_for_status()
    return r.json()["token"]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


READ_MIX = (("facility", 0.4), ("facilities", 0.3), ("proposals", 0.2), ("session", 0.1))


def run_clients(
    url: str, tok: str, clients: int, seconds: float, pick
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """``clients`` threads, each with its own connection, for ``seconds``: ``pick(rng)`` gives
    (kind, path) of the next GET. Returns latencies and non-200 counts per kind."""
    headers = {"Authorization": f"Bearer {tok}"}
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine: dict[str, list[float]] = {}
        bad: dict[str, int] = {}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            while time.monotonic() < stop:
                kind, path = pick(rng)
                t = time.perf_counter()
                r = c.get(path)
                mine.setdefault(kind, []).append(time.perf_counter() - t)
                if r.status_code != 200:
                    bad[kind] = bad.get(kind, 0) + 1
        with lock:
            for k, v in mine.items():
                latencies.setdefault(k, []).extend(v)
            for k, v in bad.items():
                errors[k] = errors.get(k, 0) + v

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def read_picker(ids: list[str]):
    kinds = [k for k, _ in READ_MIX]
    weights = [w for _, w in READ_MIX]

    def pick(rng: random.Random) -> tuple[str, str]:
        kind = rng.choices(kinds, weights)[0]
        if kind == "facility":
            return kind, f"/api/facilities/{rng.choice(ids)}"
        if kind == "facilities":
            return kind, "/api/facilities?status=partial&limit=50"
        if kind == "proposals":
            return kind, "/api/proposals"
        return kind, "/api/session"

    return pick


def baseline_picker(rng: random.Random) -> tuple[str, str]:
    del rng
    return "baseline", "/openapi.json"  # built once, then served from memory: the framework's floor


def update_phase(url: str, tok: str, clients: int, n: int) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {tok}"}
    props = httpx.get(
        url + "/api/proposals", params={"status": "proposed"}, headers=headers
    ).json()[:n]
    wins = {p["id"]: 0 for p in props}
    counts = {"ok": 0, "conflict": 0, "error": 0}
    lock = threading.Lock()

    def worker(seed: int) -> None:
        order = list(props)
        random.Random(seed).shuffle(order)
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            for p in order:
                r = c.post(
                    f"/api/proposals/{p['id']}/status",
                    json={"status": "contacted", "version": p["version"], "note": "bench"},
                )
                with lock:
                    if r.status_code == 200:
                        counts["ok"] += 1
                        wins[p["id"]] += 1
                    elif r.status_code == 409:
                        counts["conflict"] += 1
                    else:
                        counts["error"] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = {
        p["id"]: httpx.get(f"{url}/api/proposals/{p['id']}", headers=headers).json() for p in props
    }
    counts["lost_or_double"] = sum(
        1
        for pid, w in wins.items()
        if w != 1 or final[pid]["version"] != 2 or len(final[pid]["history"]) != 2
    )
    counts["proposals"] = len(props)
    return counts


def line(
    name: str, lat: list[float], seconds: float, base: list[float] | None = None, errors: int = 0
) -> str:
    text = (
        f"  {name:<10} {len(lat):>6} 件 {len(lat) / seconds:>7.0f} req/s  p50 {pct(lat, 0.50):7.1f} ms"
        f"  p95 {pct(lat, 0.95):7.1f} ms  p99 {pct(lat, 0.99):7.1f} ms  エラー {errors}"
    )
    if base:
        text += f"  (基準比 p50 ×{pct(lat, 0.50) / pct(base, 0.50):.1f}, p95 ×{pct(lat, 0.95) / pct(base, 0.95):.1f})"
    return text


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on Linux/macOS
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--url", help="既に起動しているサーバー (demo ユーザーのパスワードは --password)"
    )
    ap.add_argument("--password", default=PASSWORD)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0, help="読み取りを測る秒数")
    ap.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="測る前に同じ読み取りを流す秒数 (キャッシュの準備)",
    )
    ap.add_argument(
        "--baseline-seconds", type=float, default=3.0, help="基準 (/openapi.json) を測る秒数"
    )
    ap.add_argument("--updates", type=int, default=30, help="同時更新を試す提案の数")
    args = ap.parse_args()
    proc = None
    print(f"負荷 (load average 1/5/15 分): {load_average()}、CPU {os.cpu_count()} 個")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.url:
                url = args.url.rstrip("/")
            else:
                proc, url = start_server(Path(tmp))
            tok = token(url, "demo", args.password)
            ids = [
                f["facility_id"]
                for f in httpx.get(
                    url + "/api/facilities", headers={"Authorization": f"Bearer {tok}"}
                ).json()["items"]
            ]
            pick = read_picker(ids)
            cold, cold_err = run_clients(url, tok, args.clients, args.warmup, pick)
            n_cold = sum(map(len, cold.values()))
            all_cold = [x for v in cold.values() for x in v]
            print(
                f"準備 ({args.warmup:.0f} 秒、測定外): {n_cold} 件、p95 {pct(all_cold, 0.95):.1f} ms、"
                f"エラー {sum(cold_err.values())}"
            )
            base, base_err = run_clients(
                url, tok, args.clients, args.baseline_seconds, baseline_picker
            )
            lat, err = run_clients(url, tok, args.clients, args.seconds, pick)
            reads = [x for v in lat.values() for x in v]
            errors = sum(err.values()) + sum(base_err.values()) + sum(cold_err.values())
            rps = len(reads) / args.seconds
            print(
                f"読み取り: {args.clients} クライアント、基準 {args.baseline_seconds:.0f} 秒 + 混合 {args.seconds:.0f} 秒"
            )
            print(
                line(
                    "baseline",
                    base.get("baseline", []),
                    args.baseline_seconds,
                    errors=sum(base_err.values()),
                )
            )
            for kind, _ in READ_MIX:
                print(
                    line(
                        kind,
                        lat.get(kind, []),
                        args.seconds,
                        base.get("baseline"),
                        err.get(kind, 0),
                    )
                )
            print(line("reads", reads, args.seconds, base.get("baseline"), sum(err.values())))
            up = update_phase(url, tok, args.clients, args.updates)
            print(
                f"更新: 提案 {up['proposals']} 件に {args.clients} クライアントが同時に変更 → 成功 {up['ok']}、"
                f"競合(409、想定どおり) {up['conflict']}、エラー {up['error']}、"
                f"失われた/二重の更新 {up['lost_or_double']}"
            )
            print(f"負荷 (終了時): {load_average()}")
            ok = errors == 0 and up["error"] == 0 and up["lost_or_double"] == 0
            target = rps >= 200 and pct(reads, 0.95) <= 100
            print(
                "判定:",
                "OK" if ok else "NG",
                "/ 目標 (読み取り ≥200 req/s, p95 ≤ 100 ms):",
                "達成" if target else "未達",
            )
            return 0 if ok else 1
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    sys.exit(main())
