"""Load check of the web API on loopback (not part of `make test`).

Loads the bundled sample (data/sample) into a fresh store — a SQLite file (``--db sqlite``) or a
fresh PostgreSQL database (``--db postgresql``, server from ``KYORYOKU_TEST_PG_URL``) — and
serves it with ``uvicorn api.main:create_app --factory --workers N`` (or uses ``--url`` of a
running server), then:

1. mixed traffic: ``--clients`` concurrent clients, each with its own connection, first opening
   every facility's page once and then running the mix for ``--warmup`` seconds (not measured:
   the read caches fill), then on ``/openapi.json`` as the
   baseline (the framework's floor: built once, served from memory), then for ``--seconds`` on a
   mix of one facility with its candidates (36 %), the facility list (27 %), the proposal list
   (18 %), the session check (9 %) and proposal status changes (10 %: 提案中 → 打診中 → 取り下げ,
   each with the version last seen; a 409 after another client's change is a valid answer).
   Prints requests/s and p50/p95/p99 per request type and its ratio to the baseline, and the
   machine's load average (other work on the machine skews every number);
2. conflicting updates: every client tries to move the same proposals from 提案中 to 打診中 with
   the same version; exactly one update per proposal may win (the others get 409), and the final
   version of each proposal must be one more — no lost or double updates.

Target on the development machine (2 cores, clients and server on it): ≥ 200 req/s for the mix
with p95 ≤ 100 ms, zero errors. Exit status 1 on any error or lost update (409 on a stale
version is expected and counted apart); a missed target is reported, not an error.

    python benchmarks/bench_api_load.py --db sqlite --clients 16 --seconds 10
    python benchmarks/bench_api_load.py --db postgresql --workers 2
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


PG_URL = os.environ.get("KYORYOKU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def fresh_database(db: str, tmp: Path) -> tuple[str, object]:
    """A fresh store URL and how to drop it afterwards."""
    if db == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"kyoryoku_bench_{os.getpid()}_{random.randrange(10**6)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": name},
            )
            c.execute(text(f'DROP DATABASE "{name}"'))
        admin.dispose()

    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False), drop


def start_server(database_url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "KYORYOKU_DATABASE_URL": database_url,
        "KYORYOKU_SECRET_KEY": "bench-secret-key",
        "KYORYOKU_TILES_URL": "",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from api.cli import load_sample; "
            "load_sample(sys.argv[1], Path(sys.argv[2]), sys.argv[3])",
            database_url,
            str(ROOT / "data" / "sample"),
            PASSWORD,
        ],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:create_app",
            "--factory",
            "--workers",
            str(workers),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
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


MIX = (
    ("facility", 0.36),
    ("facilities", 0.27),
    ("proposals", 0.18),
    ("session", 0.09),
    ("update", 0.10),
)
NEXT_STATUS = {"proposed": "contacted", "contacted": "withdrawn"}


class Updates:
    """Proposals the clients move along, endlessly: 提案中 → 打診中 → 取り下げ, then the same pair
    proposed again by hand (``POST /api/facilities/{id}/proposals``) — each step one write with
    the version last seen."""

    def __init__(self, proposals: list[dict]) -> None:
        self.queue = [
            (p["id"], p["status"], p["version"], p["facility_id"], p["institution_id"])
            for p in proposals
        ]
        self.lock = threading.Lock()

    def take(self, rng: random.Random) -> tuple[int, str, int, str, str] | None:
        with self.lock:
            if not self.queue:
                return None
            return self.queue.pop(rng.randrange(len(self.queue)))

    def put(self, item: tuple[int, str, int, str, str]) -> None:
        with self.lock:
            self.queue.append(item)

    @staticmethod
    def send(c: httpx.Client, item: tuple[int, str, int, str, str]) -> httpx.Response:
        pid, status, version, fid, iid = item
        if status in NEXT_STATUS:
            return c.post(
                f"/api/proposals/{pid}/status",
                json={"status": NEXT_STATUS[status], "version": version, "note": "bench"},
            )
        return c.post(
            f"/api/facilities/{fid}/proposals",
            json={"institution_id": iid, "note": "bench", "override_reason": "bench"},
        )


def run_clients(
    url: str, tok: str, clients: int, seconds: float, pick, updates: Updates | None = None
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """``clients`` threads, each with its own connection, for ``seconds``: ``pick(rng)`` gives
    (kind, path) of the next request (kind ``update``: a status change). Returns latencies and
    unexpected answers per kind (409 on a status change is expected)."""
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
                item = updates.take(rng) if kind == "update" and updates else None
                if kind == "update" and item is None:
                    kind, path = "session", "/api/session"
                t = time.perf_counter()
                r = Updates.send(c, item) if item is not None else c.get(path)
                mine.setdefault(kind, []).append(time.perf_counter() - t)
                if item is not None and r.status_code in (200, 201):
                    b = r.json()
                    updates.put(  # type: ignore[union-attr]
                        (b["id"], b["status"], b["version"], item[3], item[4])
                    )
                elif r.status_code != 200 and not (item is not None and r.status_code == 409):
                    if item is not None:
                        updates.put(item)  # type: ignore[union-attr]
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


def prime(url: str, tok: str, clients: int, ids: list[str]) -> None:
    """Open every facility's page once (not measured): the steady state has them cached."""
    headers = {"Authorization": f"Bearer {tok}"}
    todo = list(ids)
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
            while True:
                with lock:
                    if not todo:
                        return
                    fid = todo.pop()
                c.get(f"/api/facilities/{fid}")

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def mix_picker(ids: list[str]):
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]

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
    props = [
        p
        for p in httpx.get(
            url + "/api/proposals", params={"status": "proposed"}, headers=headers
        ).json()
        if p["version"] == 1
    ][:n]
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
        f"  {name:<10} {len(lat):>6} 件 {len(lat) / seconds:>7.0f} req/s"
        f"  p50 {pct(lat, 0.50):7.1f} ms"
        f"  p95 {pct(lat, 0.95):7.1f} ms  p99 {pct(lat, 0.99):7.1f} ms  エラー {errors}"
    )
    if base:
        r50, r95 = pct(lat, 0.50) / pct(base, 0.50), pct(lat, 0.95) / pct(base, 0.95)
        text += f"  (基準比 p50 ×{r50:.1f}, p95 ×{r95:.1f})"
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
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn のワーカー数")
    ap.add_argument("--password", default=PASSWORD)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0, help="混合負荷を測る秒数")
    ap.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="測る前に同じ混合負荷を流す秒数 (キャッシュの準備)",
    )
    ap.add_argument(
        "--baseline-seconds", type=float, default=3.0, help="基準 (/openapi.json) を測る秒数"
    )
    ap.add_argument("--updates", type=int, default=30, help="同時更新を試す提案の数")
    args = ap.parse_args()
    proc = None
    drop = None
    print(
        f"負荷 (load average 1/5/15 分): {load_average()}、CPU {os.cpu_count()} 個、"
        f"データベース {args.db if not args.url else args.url}、ワーカー {args.workers}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.url:
                url = args.url.rstrip("/")
            else:
                database_url, drop = fresh_database(args.db, Path(tmp))
                proc, url = start_server(database_url, args.workers)
            tok = token(url, "demo", args.password)
            headers = {"Authorization": f"Bearer {tok}"}
            ids = [
                f["facility_id"]
                for f in httpx.get(url + "/api/facilities", headers=headers).json()["items"]
            ]
            proposals = httpx.get(
                url + "/api/proposals", params={"status": "proposed"}, headers=headers
            ).json()
            # the conflicting-update check below takes its own proposals from what is left
            updates = Updates(proposals[args.updates :])
            pick = mix_picker(ids)
            prime(url, tok, args.clients, ids)
            cold, cold_err = run_clients(url, tok, args.clients, args.warmup, pick, updates)
            n_cold = sum(map(len, cold.values()))
            all_cold = [x for v in cold.values() for x in v]
            print(
                f"準備 ({args.warmup:.0f} 秒、測定外): {n_cold} 件、"
                f"p95 {pct(all_cold, 0.95):.1f} ms、エラー {sum(cold_err.values())}"
            )
            base, base_err = run_clients(
                url, tok, args.clients, args.baseline_seconds, baseline_picker
            )
            lat, err = run_clients(url, tok, args.clients, args.seconds, pick, updates)
            everything = [x for v in lat.values() for x in v]
            errors = sum(err.values()) + sum(base_err.values()) + sum(cold_err.values())
            rps = len(everything) / args.seconds
            print(
                f"混合負荷: {args.clients} クライアント、基準 {args.baseline_seconds:.0f} 秒 + "
                f"混合 {args.seconds:.0f} 秒 (更新 {len(lat.get('update', []))} 件)"
            )
            print(
                line(
                    "baseline",
                    base.get("baseline", []),
                    args.baseline_seconds,
                    errors=sum(base_err.values()),
                )
            )
            for kind, _ in MIX:
                print(
                    line(
                        kind,
                        lat.get(kind, []),
                        args.seconds,
                        base.get("baseline"),
                        err.get(kind, 0),
                    )
                )
            print(line("all", everything, args.seconds, base.get("baseline"), sum(err.values())))
            up = update_phase(url, tok, args.clients, args.updates)
            print(
                f"競合する更新: 提案 {up['proposals']} 件に {args.clients} クライアントが同時に変更"
                f" → 成功 {up['ok']}、競合(409、想定どおり) {up['conflict']}、"
                f"エラー {up['error']}、失われた/二重の更新 {up['lost_or_double']}"
            )
            print(f"負荷 (終了時): {load_average()}")
            ok = errors == 0 and up["error"] == 0 and up["lost_or_double"] == 0
            target = rps >= 200 and pct(everything, 0.95) <= 100
            print(
                "判定:",
                "OK" if ok else "NG",
                "/ 目標 (混合 ≥200 req/s, p95 ≤ 100 ms):",
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
            if drop is not None:
                drop()  # type: ignore[operator]


if __name__ == "__main__":
    sys.exit(main())
