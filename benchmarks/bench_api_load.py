"""Load check of the web API on loopback (not part of `make test`).

Loads the bundled sample (data/sample: 高知県, 704 facilities × 408 institutions) into a fresh
store — a SQLite file (``--db sqlite``) or a fresh PostgreSQL database (``--db postgresql``,
server from ``KYORYOKU_TEST_PG_URL``) — plans the prefecture (``run_plan`` of area 39, as its
prefecture user would: ~300 proposals) and serves it with ``uvicorn api.main:create_app
--factory --workers N`` (or uses ``--url`` of a running server), then, each phase with
``--clients`` concurrent clients (threads, each with its own connection):

1. ``/openapi.json`` for ``--baseline-seconds``: the framework's floor (built once, served from
   memory);
2. ``--mix prefecture`` (the default; issue 26): what a prefecture produces — clients of the
   prefecture user ``demo-pref`` (all 704 facilities in scope) on a mix of one facility's page
   (36 %) **opened cold** (each facility at most once in the run, in random order: never served
   before), the facility list (27 %), the proposal list (18 %), the session check (9 %) and
   **10 % writes that agree** (提案中 → 打診中 → 合意, each with the version last seen: an
   agreement changes the facility's coverage, the lists and the capacity ledger's firm part).
   One facility page (then left out) and for ``--warmup`` seconds the lists and the session are
   requested before (not measured: the tables every page shares are kept from the first page);
   the phase ends after ``--seconds`` or when every facility's page has been opened, whichever
   comes first (its own duration is printed);
3. the warmed mix (``--mix warmed``, and the baseline of ``--mix prefecture`` in the same run):
   the coordinator ``demo`` (the 連携拠点 area), every facility's page opened once and the mix
   run for ``--warmup`` seconds before measuring (the read caches full), the same shares, writes
   cycling 提案中 → 打診中 → 取り下げ → proposed again by hand;
4. conflicting updates: every client tries to move the same proposals from 提案中 to 打診中 with
   the same version; exactly one update per proposal may win (the others get 409), and the final
   version of each proposal must be one more — no lost or double updates.

Prints requests/s and p50/p95/p99 per route class (and their ratio to the floor), the mixes side
by side, and the machine's load average (``os.getloadavg()``) at the start and the end: other
work on the machine skews every number, and the load generator runs on the same cores.

Two ways to send (``--rate``): 0 (default) — each client sends its next request as soon as the
last is answered (closed loop): the throughput is the server's capacity and the mean latency is
clients / throughput by construction; R > 0 — the clients together start R requests a second on
a fixed schedule (open loop) and a latency counts from the scheduled start. Prints the server's
and the load generator's CPU per request (psutil) beside each mix.

Target on the development machine (2 cores, clients and server on it): the prefecture mix with
≥ 20 clients served at ≥ 200 req/s with p95 ≤ 100 ms (``--rate 200``), zero errors. Exit status
1 on any error or lost update (409 on a stale version is expected and counted apart); a missed
target is reported, not an error.

    python benchmarks/bench_api_load.py --db sqlite --clients 20              # capacity
    python benchmarks/bench_api_load.py --db postgresql --clients 20 --rate 200  # the target
    python benchmarks/bench_api_load.py --mix warmed --clients 16 --seconds 10
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-pass-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(db: str, tmp: Path) -> tuple[str, object]:
    """A fresh store URL and how to drop it afterwards."""
    if db == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    from throwaway_db import throwaway_postgres

    return throwaway_postgres("kyoryoku_bench")


def start_server(
    database_url: str, workers: int, plan_prefecture: bool
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "KYORYOKU_DATABASE_URL": database_url,
        "KYORYOKU_SECRET_KEY": "bench-secret-key",
        "KYORYOKU_TILES_URL": "",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [sys.executable, __file__, "--load-into", database_url]
        + (["--plan-prefecture"] if plan_prefecture else []),
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


def load_store(database_url: str, plan_prefecture: bool) -> None:
    """The bundled sample with its demo users (``api.cli.load_sample``, which plans the 連携拠点
    area) and, for the prefecture mix, the prefecture's own plan (area 39, replacing the 拠点
    run's proposals as its preview would ask to confirm)."""
    from api.cli import load_sample
    from matcher.store.db import open_store
    from matcher.store.planning import run_plan

    load_sample(database_url, ROOT / "data" / "sample", PASSWORD)
    if plan_prefecture:
        store = open_store(database_url)
        try:
            run_plan(store, "39", actor="demo-pref", replace_other_areas=True)
        finally:
            store.dispose()


def token(url: str, user: str, password: str = PASSWORD) -> str:
    r = httpx.post(url + "/api/session", json={"username": user, "password": password})
    r.raise_for_status()
    return r.json()["token"]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


# Route classes and their shares, the same in both mixes (``update``: a write).
MIX = (
    ("facility", 0.36),
    ("facilities", 0.27),
    ("proposals", 0.18),
    ("session", 0.09),
    ("update", 0.10),
)
# The warmed mix's writes cycle (withdrawn: proposed again by hand); the prefecture's agree.
CYCLE = {"proposed": "contacted", "contacted": "withdrawn"}
AGREE = {"proposed": "contacted", "contacted": "agreed"}
# What a write is reported as, by the status it moves to.
WRITE_CLASS = {"contacted": "contact", "withdrawn": "withdraw", "agreed": "agree", "": "propose"}

Item = tuple[int, str, int, str, str]  # proposal id, status, version, facility, institution


class Updates:
    """Proposals the clients move along, each step one write with the version last seen:
    ``steps`` maps a status to the next one; a proposal whose status has no next step is
    proposed again by hand (``POST /api/facilities/{id}/proposals``) when ``again``, else it is
    done."""

    def __init__(self, proposals: list[dict], steps: dict[str, str], again: bool) -> None:
        self.queue: list[Item] = [
            (p["id"], p["status"], p["version"], p["facility_id"], p["institution_id"])
            for p in proposals
            if p["status"] in steps
        ]
        self.steps, self.again = steps, again
        self.lock = threading.Lock()

    def take(self, rng: random.Random) -> Item | None:
        with self.lock:
            if not self.queue:
                return None
            return self.queue.pop(rng.randrange(len(self.queue)))

    def put(self, item: Item) -> None:
        if item[1] in self.steps or self.again:
            with self.lock:
                self.queue.append(item)

    def send(self, c: httpx.Client, item: Item) -> tuple[str, httpx.Response]:
        pid, status, version, fid, iid = item
        if status in self.steps:
            to = self.steps[status]
            return WRITE_CLASS[to], c.post(
                f"/api/proposals/{pid}/status",
                json={"status": to, "version": version, "note": "bench"},
            )
        return WRITE_CLASS[""], c.post(
            f"/api/facilities/{fid}/proposals",
            json={"institution_id": iid, "note": "bench", "override_reason": "bench"},
        )


class Cold:
    """Facility ids in random order, each handed out once (a page never opened before)."""

    def __init__(self, ids: list[str], seed: int = 26) -> None:
        self.ids = list(ids)
        random.Random(seed).shuffle(self.ids)
        self.lock = threading.Lock()

    def take(self) -> str | None:
        with self.lock:
            return self.ids.pop() if self.ids else None


Picker = Callable[[random.Random], tuple[str, str] | None]


def run_clients(
    url: str,
    tok: str,
    clients: int,
    seconds: float,
    pick: Picker,
    updates: Updates | None = None,
    rate: float = 0.0,
) -> tuple[dict[str, list[float]], dict[str, int], float]:
    """``clients`` threads, each with its own connection, for ``seconds``: ``pick(rng)`` gives
    (class, path) of the next request (class ``update``: a write from ``updates``; ``None``: the
    phase is over for every client). Returns latencies and unexpected answers per route class
    (409 on a write is expected) and the phase's duration.

    ``rate`` 0: each client sends its next request as soon as the last one is answered (closed
    loop: the server's capacity; the mean latency is then clients / throughput by construction).
    ``rate`` > 0: the clients together start ``rate`` requests a second on a fixed schedule
    (open loop, each client every ``clients / rate`` seconds, staggered), and a latency counts
    from the scheduled start: a client held up by a slow answer is charged for its delay."""
    headers = {"Authorization": f"Bearer {tok}"}
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    lock = threading.Lock()
    every = clients / rate if rate > 0 else 0.0
    # the connections first (an httpx client costs tens of ms to make: not a latency), then all
    # clients start together
    conns = [httpx.Client(base_url=url, headers=headers, timeout=60) for _ in range(clients)]
    ready = threading.Barrier(clients + 1)
    start = time.monotonic()
    stop = [start + seconds]
    origin = time.perf_counter()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine: dict[str, list[float]] = {}
        bad: dict[str, int] = {}
        ready.wait()
        due = origin + every * seed / clients  # open loop: this client's next start
        with conns[seed] as c:
            while time.monotonic() < stop[0]:
                if every:
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                        if time.monotonic() >= stop[0]:
                            break
                picked = pick(rng)
                if picked is None:
                    with lock:
                        stop[0] = min(stop[0], time.monotonic())
                    break
                kind, path = picked
                item = updates.take(rng) if kind == "update" and updates else None
                if kind == "update" and item is None:
                    kind, path = "session", "/api/session"
                t = min(due, time.perf_counter()) if every else time.perf_counter()
                due += every
                if item is not None:
                    assert updates is not None
                    kind, r = updates.send(c, item)
                else:
                    r = c.get(path)
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
    start = time.monotonic()
    stop[0] = start + seconds
    origin = time.perf_counter()
    ready.wait()
    for t in threads:
        t.join()
    return latencies, errors, min(stop[0], time.monotonic()) - start


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


def mix_picker(ids: list[str] | Cold, lists_only: bool = False) -> Picker:
    """The mix: a facility's page (any of ``ids``, or the next never opened of ``Cold``), the
    lists, the session and writes. ``lists_only``: no pages and no writes (the prefecture's
    warm-up)."""
    mix = [(k, w) for k, w in MIX if not lists_only or k not in ("facility", "update")]
    kinds = [k for k, _ in mix]
    weights = [w for _, w in mix]

    def pick(rng: random.Random) -> tuple[str, str] | None:
        kind = rng.choices(kinds, weights)[0]
        if kind == "facility":
            if isinstance(ids, Cold):
                fid = ids.take()
                return None if fid is None else (kind, f"/api/facilities/{fid}")
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
        f"  {name:<11} {len(lat):>6} 件 {len(lat) / seconds:>7.0f} req/s"
        f"  p50 {pct(lat, 0.50):7.1f} ms"
        f"  p95 {pct(lat, 0.95):7.1f} ms  p99 {pct(lat, 0.99):7.1f} ms  エラー {errors}"
    )
    if base and lat:
        r50, r95 = pct(lat, 0.50) / pct(base, 0.50), pct(lat, 0.95) / pct(base, 0.95)
        text += f"  (基準比 p50 ×{r50:.1f}, p95 ×{r95:.1f})"
    return text


SERVER: list[int] = []  # the server's process id (when this script started it)


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by the server (its process and workers; 0 when not started here
    or without psutil) and by this load generator."""
    mine = sum(os.times()[:2])
    if not SERVER:
        return 0.0, mine
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is optional
        return 0.0, mine
    try:
        root = psutil.Process(SERVER[0])
        procs = [root, *root.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in procs), mine
    except psutil.Error:
        return 0.0, mine


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on Linux/macOS
        return "?"


@dataclass
class Phase:
    """One measured mix: latencies and unexpected answers per route class, its duration."""

    name: str
    latencies: dict[str, list[float]]
    errors: dict[str, int]
    seconds: float
    note: str = ""
    cpu: tuple[float, float] = (0.0, 0.0)  # server, load generator: CPU seconds in the phase

    @property
    def everything(self) -> list[float]:
        return [x for v in self.latencies.values() for x in v]

    @property
    def rps(self) -> float:
        return len(self.everything) / self.seconds

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def print(self, base: list[float] | None) -> None:
        print(f"{self.name}: {self.seconds:.1f} 秒{self.note}")
        order = ["facility", "facilities", "proposals", "session", *WRITE_CLASS.values()]
        for kind in sorted(self.latencies, key=lambda k: order.index(k) if k in order else 99):
            print(
                line(
                    kind,
                    self.latencies[kind],
                    self.seconds,
                    base,
                    self.errors.get(kind, 0),
                )
            )
        print(line("all", self.everything, self.seconds, base, self.error_count))
        server, client = self.cpu
        n = max(1, len(self.everything))
        if server:
            print(
                f"  CPU: サーバー {server:.1f} 秒 ({server / self.seconds * 100:.0f} %、"
                f"{server / n * 1000:.1f} ms/要求)、負荷生成 {client:.1f} 秒 "
                f"({client / self.seconds * 100:.0f} %、{client / n * 1000:.1f} ms/要求)"
            )


def ids_of(url: str, tok: str) -> list[str]:
    return [
        f["facility_id"]
        for f in httpx.get(
            url + "/api/facilities",
            params={"limit": 10000},
            headers={"Authorization": f"Bearer {tok}"},
        ).json()["items"]
    ]


def proposed(url: str, tok: str) -> list[dict]:
    return httpx.get(
        url + "/api/proposals",
        params={"status": "proposed"},
        headers={"Authorization": f"Bearer {tok}"},
    ).json()


def prefecture_mix(url: str, password: str, args: argparse.Namespace) -> Phase:
    """The prefecture user's mix: cold facility pages, the lists, agreeing writes."""
    tok = token(url, "demo-pref", password)
    ids = ids_of(url, tok)
    # the conflicting-update check at the end takes its own proposals (the first of the
    # coordinator's list): left alone here
    kept = {p["id"] for p in proposed(url, token(url, "demo", password))[: args.updates]}
    updates = Updates([p for p in proposed(url, tok) if p["id"] not in kept], AGREE, again=False)
    cold = Cold(ids)
    # one page opened before (not measured, not among the cold ones): what every page shares —
    # the institutions by place, the ledger, the filed partners — is then kept, as on a server
    # that has shown any page since its start or the last import
    first = cold.take()
    httpx.get(f"{url}/api/facilities/{first}", headers={"Authorization": f"Bearer {tok}"})
    lat, err, seconds = run_clients(
        url, tok, args.clients, args.warmup, mix_picker(ids, lists_only=True)
    )
    print(
        f"準備 ({seconds:.0f} 秒、測定外、一覧とセッションと施設ページ 1 件): "
        f"{sum(map(len, lat.values())) + 1} 件、エラー {sum(err.values())}"
    )
    n_writes = len(updates.queue)
    before = cpu_seconds()
    lat, err, seconds = run_clients(
        url, tok, args.clients, args.seconds, mix_picker(cold), updates, args.rate
    )
    after = cpu_seconds()
    opened = len(ids) - 1 - len(cold.ids)
    return Phase(
        f"県の混合負荷 (demo-pref、{len(ids)} 施設、{args.clients} クライアント)",
        lat,
        err,
        seconds,
        f" (施設ページ {opened}/{len(ids) - 1} 件をはじめて表示"
        f"{'、全施設を表示して終了' if not cold.ids else ''}; 合意へ進める提案 {n_writes} 件)",
        (after[0] - before[0], after[1] - before[1]),
    )


def warmed_mix(url: str, password: str, args: argparse.Namespace) -> Phase:
    """The warmed mix: every page opened before, writes cycling without agreeing."""
    tok = token(url, "demo", password)
    ids = ids_of(url, tok)
    updates = Updates(proposed(url, tok)[args.updates :], CYCLE, again=True)
    pick = mix_picker(ids)
    prime(url, tok, args.clients, ids)
    lat, err, seconds = run_clients(url, tok, args.clients, args.warmup, pick, updates)
    every = [x for v in lat.values() for x in v]
    print(
        f"準備 ({seconds:.0f} 秒、測定外、全施設ページ表示後の同じ混合負荷): {len(every)} 件、"
        f"p95 {pct(every, 0.95):.1f} ms、エラー {sum(err.values())}"
    )
    before = cpu_seconds()
    lat, err2, seconds = run_clients(url, tok, args.clients, args.seconds, pick, updates, args.rate)
    after = cpu_seconds()
    for k, v in err.items():  # errors while warming count too
        err2[k] = err2.get(k, 0) + v
    return Phase(
        f"温まった混合負荷 (demo、{len(ids)} 施設、{args.clients} クライアント)",
        lat,
        err2,
        seconds,
        cpu=(after[0] - before[0], after[1] - before[1]),
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--url", help="既に起動しているサーバー (demo ユーザーのパスワードは --password)"
    )
    ap.add_argument(
        "--server-pid", type=int, help="--url のサーバーのプロセス ID (CPU 時間の表示用)"
    )
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn のワーカー数")
    ap.add_argument("--password", default=PASSWORD)
    ap.add_argument(
        "--mix",
        choices=("prefecture", "warmed"),
        default="prefecture",
        help="prefecture: 県の混合負荷 (未表示の施設ページ・合意する更新) と、基準として"
        "温まった混合負荷; warmed: 温まった混合負荷のみ",
    )
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="0: 応答を待ってすぐ次を送る (処理能力); >0: 全クライアントで毎秒この件数を"
        "決まった時刻に送る (例 200; 遅れは待ち時間に含める)",
    )
    ap.add_argument("--seconds", type=float, default=10.0, help="混合負荷を測る秒数 (上限)")
    ap.add_argument("--warmup", type=float, default=3.0, help="測る前に流す秒数 (キャッシュの準備)")
    ap.add_argument(
        "--baseline-seconds", type=float, default=3.0, help="基準 (/openapi.json) を測る秒数"
    )
    ap.add_argument("--updates", type=int, default=30, help="同時更新を試す提案の数")
    ap.add_argument("--load-into", help=argparse.SUPPRESS)  # the server's store (a subprocess)
    ap.add_argument("--plan-prefecture", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load_into:
        load_store(args.load_into, args.plan_prefecture)
        return 0
    proc = None
    drop = None
    print(
        f"負荷 (開始時、load average 1/5/15 分): {load_average()}、CPU {os.cpu_count()} 個、"
        f"データベース {args.db if not args.url else args.url}、ワーカー {args.workers}、"
        f"クライアント {args.clients}、送り方: "
        + (
            f"全体で毎秒 {args.rate:g} 件を決まった時刻に (開ループ)"
            if args.rate
            else "応答を待ってすぐ次を送る (閉ループ: 処理能力)"
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.url:
                url = args.url.rstrip("/")
                if args.server_pid:
                    SERVER.append(args.server_pid)
            else:
                database_url, drop = fresh_database(args.db, Path(tmp))
                proc, url = start_server(database_url, args.workers, args.mix == "prefecture")
                SERVER.append(proc.pid)
            tok = token(url, "demo", args.password)
            before = cpu_seconds()
            base_lat, base_err, base_s = run_clients(
                url, tok, args.clients, args.baseline_seconds, baseline_picker
            )
            after = cpu_seconds()
            base = Phase(
                "基準 /openapi.json",
                base_lat,
                base_err,
                base_s,
                cpu=(after[0] - before[0], after[1] - before[1]),
            )
            floor = base.latencies.get("baseline")
            phases = []
            if args.mix == "prefecture":
                phases.append(prefecture_mix(url, args.password, args))
            phases.append(warmed_mix(url, args.password, args))
            base.print(None)
            for ph in phases:
                ph.print(floor)
            if len(phases) > 1:
                print("同じ実行での比較 (県の混合負荷 / 温まった混合負荷):")
                a, b = phases
                print(
                    f"  req/s {a.rps:.0f} / {b.rps:.0f}、"
                    f"p50 {pct(a.everything, 0.5):.1f} / {pct(b.everything, 0.5):.1f} ms、"
                    f"p95 {pct(a.everything, 0.95):.1f} / {pct(b.everything, 0.95):.1f} ms、"
                    f"p99 {pct(a.everything, 0.99):.1f} / {pct(b.everything, 0.99):.1f} ms"
                )
            up = update_phase(url, tok, args.clients, args.updates)
            print(
                f"競合する更新: 提案 {up['proposals']} 件に {args.clients} クライアントが同時に変更"
                f" → 成功 {up['ok']}、競合(409、想定どおり) {up['conflict']}、"
                f"エラー {up['error']}、失われた/二重の更新 {up['lost_or_double']}"
            )
            print(f"負荷 (終了時): {load_average()}")
            errors = base.error_count + sum(ph.error_count for ph in phases)
            ok = errors == 0 and up["error"] == 0 and up["lost_or_double"] == 0
            first = phases[0]
            # open loop: the rate asked for is served (less the requests still in flight at
            # the end); closed loop: the throughput itself
            served = first.rps >= 0.98 * args.rate if args.rate else first.rps >= 200
            target = served and max(args.rate, first.rps) >= 200
            target = target and pct(first.everything, 0.95) <= 100
            print(
                "判定:",
                "OK" if ok else "NG",
                f"/ 目標 ({first.name.split(' (')[0]} ≥200 req/s, p95 ≤ 100 ms):",
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
