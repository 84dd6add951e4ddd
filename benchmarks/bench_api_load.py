"""Load check of the web API on loopback (not part of `make test`).

Starts ``kyoryoku serve --sample data/sample`` on a fresh SQLite file (or uses ``--url`` of a
running server), then:

1. reads: ``--clients`` concurrent clients for ``--seconds`` fetching facility lists and one
   facility with its candidates; reports requests/s and p50/p95/p99 latency;
2. updates: every client tries to move the same proposals from 提案中 to 打診中 with version 1;
   exactly one update per proposal may win (the others get 409), and the final version of each
   proposal must be 2 — no lost or double updates.

Target on the development machine: ≥ 200 req/s for reads with p95 ≤ 100 ms, zero errors.

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
    proc = subprocess.Popen([str(exe), "serve", "--sample", str(ROOT / "data" / "sample"), "--port", str(port),
                             "--demo-password", PASSWORD, "--tiles-url", ""],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def read_phase(url: str, tok: str, clients: int, seconds: float) -> tuple[list[float], int]:
    headers = {"Authorization": f"Bearer {tok}"}
    ids = [f["facility_id"] for f in httpx.get(url + "/api/facilities", headers=headers).json()["items"]]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[float] = []
        bad = 0
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            while time.monotonic() < stop:
                path = (f"/api/facilities/{rng.choice(ids)}" if rng.random() < 0.5
                        else "/api/facilities?status=partial&limit=50")
                t = time.perf_counter()
                r = c.get(path)
                mine.append(time.perf_counter() - t)
                bad += r.status_code != 200
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


def update_phase(url: str, tok: str, clients: int, n: int) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {tok}"}
    props = httpx.get(url + "/api/proposals", params={"status": "proposed"}, headers=headers).json()[:n]
    wins = {p["id"]: 0 for p in props}
    counts = {"ok": 0, "conflict": 0, "error": 0}
    lock = threading.Lock()

    def worker(seed: int) -> None:
        order = list(props)
        random.Random(seed).shuffle(order)
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            for p in order:
                r = c.post(f"/api/proposals/{p['id']}/status",
                           json={"status": "contacted", "version": p["version"], "note": "bench"})
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
    final = {p["id"]: httpx.get(f"{url}/api/proposals/{p['id']}", headers=headers).json() for p in props}
    counts["lost_or_double"] = sum(1 for pid, w in wins.items()
                                   if w != 1 or final[pid]["version"] != 2 or len(final[pid]["history"]) != 2)
    counts["proposals"] = len(props)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="既に起動しているサーバー (demo ユーザーのパスワードは --password)")
    ap.add_argument("--password", default=PASSWORD)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--updates", type=int, default=30, help="同時更新を試す提案の数")
    args = ap.parse_args()
    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.url:
                url = args.url.rstrip("/")
            else:
                proc, url = start_server(Path(tmp))
            tok = token(url, "demo", args.password)
            lat, errors = read_phase(url, tok, args.clients, args.seconds)
            rps = len(lat) / args.seconds
            print(f"読み取り: {args.clients} クライアント × {args.seconds:.0f} 秒 → {len(lat)} 件、"
                  f"{rps:.0f} req/s、p50 {pct(lat, .50):.1f} ms / p95 {pct(lat, .95):.1f} ms / "
                  f"p99 {pct(lat, .99):.1f} ms、エラー {errors}")
            up = update_phase(url, tok, args.clients, args.updates)
            print(f"更新: 提案 {up['proposals']} 件に {args.clients} クライアントが同時に変更 → 成功 {up['ok']}、"
                  f"競合(409) {up['conflict']}、エラー {up['error']}、失われた/二重の更新 {up['lost_or_double']}")
            ok = errors == 0 and up["error"] == 0 and up["lost_or_double"] == 0
            target = rps >= 200 and pct(lat, .95) <= 100
            print("判定:", "OK" if ok else "NG", "/ 目標 (≥200 req/s, p95 ≤ 100 ms):", "達成" if target else "未達")
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
