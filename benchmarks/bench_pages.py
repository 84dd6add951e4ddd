"""Latency of the coordinator's workspace pages on the bundled sample (not part of `make test`).

Loads data/sample (高知県) into a fresh SQLite store (its 連携拠点 area planned once), serves
it with uvicorn on loopback and, as the demo prefecture user (scope 39), requests each page
``--repeat`` times after one warm-up request (the read caches fill), then ``--clients``
concurrent clients on a mix of the pages for ``--seconds``. Prints p50/p95 per page and the
mix's requests/s.

Target, as the API's load benchmark: p95 ≤ 100 ms per page with the caches warm (the run preview
solves the area and is reported apart).

    python benchmarks/bench_pages.py --repeat 30 --clients 8 --seconds 10
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_api_load import PASSWORD, pct, start_server  # noqa: E402  (pct: seconds → ms)

PAGES = {
    "facility list": "/facilities",
    "facility list, filtered": "/facilities?status=partial&missing=care&sort=name&desc=1",
    "facility list, near": "/facilities?near=39201&km=10&sort=distance",
    "facility list, search": "/facilities?q=%E9%AB%98%E7%9F%A5",
    "institution list": "/institutions",
    "institution list, capacity": "/institutions?capacity=left&offers=admit&sort=remaining",
    "facility page": "/facilities/{fid}",
    "audit": "/audit",
    "run page": "/runs/{run}",
    "dashboard": "/",
    "map fallback (JSON)": "/api/map/fallback",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(f"sqlite:///{Path(tmp) / 'pages.db'}", 1)
        try:
            tok = httpx.post(
                url + "/api/session", json={"username": "demo-pref", "password": PASSWORD}
            ).json()["token"]
            headers = {"Authorization": f"Bearer {tok}"}
            client = httpx.Client(base_url=url, headers=headers, timeout=120)
            latest = client.get("/api/runs").json()[0]  # the sample's first run
            run, area = latest["id"], latest["area_code"]
            fids = [f["facility_id"] for f in client.get("/api/facilities").json()["items"]]
            rng = random.Random(1)

            def path_of(template: str) -> str:
                return template.format(fid=rng.choice(fids), run=run)

            print(f"{'page':34} {'p50 ms':>8} {'p95 ms':>8}")
            for name, template in PAGES.items():
                client.get(path_of(template))
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    resp = client.get(path_of(template))
                    times.append(time.perf_counter() - t)
                    assert resp.status_code == 200, (template, resp.status_code)
                print(f"{name:34} {pct(times, 0.5):8.1f} {pct(times, 0.95):8.1f}")
            t = time.perf_counter()
            preview = client.post(
                "/runs/preview", data={"area_code": area, "mode": "optimal"}, timeout=600
            )
            print(f"{'run preview (solves the area)':34} {1000 * (time.perf_counter() - t):8.1f}")
            assert preview.status_code == 200, preview.text[-500:]

            done: list[float] = []
            stop = time.perf_counter() + args.seconds

            def worker(seed: int) -> None:
                local = random.Random(seed)
                with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
                    while time.perf_counter() < stop:
                        template = local.choice(list(PAGES.values()))
                        path = template.format(fid=local.choice(fids), run=run)
                        t1 = time.perf_counter()
                        assert c.get(path).status_code == 200
                        done.append(time.perf_counter() - t1)

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.clients)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            print(
                f"混合 ({args.clients} クライアント): {len(done) / args.seconds:.0f} req/s, "
                f"p50 {pct(done, 0.5):.1f} ms, p95 {pct(done, 0.95):.1f} ms"
            )
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
