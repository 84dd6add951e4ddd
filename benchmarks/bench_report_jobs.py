"""A run's report ZIP through the web, as a job (issue 26, item 3; not part of ``make test``).

The bundled sample (高知県, 704 facilities) in a fresh SQLite store, planned as the prefecture
(``run_plan`` of area 39), served in-process (``TestClient``) to the prefecture user. For the
ZIP without and with PDFs (``--pdf``):

1. baseline, measured in the same run: the ZIP written synchronously, as every request did
   before (``usecases.reports.build_reports``, what the old route ran before answering);
2. the first request of a JSON client: the time to its answer (202 and the job to poll), the
   stages its polls saw and the time until the job was done;
3. the same request again: the kept ZIP, served at once (and the same bytes).

Prints each figure beside the baseline and the machine's load average at the start and the end.

    python benchmarks/bench_report_jobs.py            # HTML only and with PDFs
    python benchmarks/bench_report_jobs.py --no-pdf
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PASSWORD = "bench-pass-1"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on Linux/macOS
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-pdf", action="store_true", help="ZIP without PDFs only")
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from api.cli import load_sample
    from api.main import create_app
    from matcher.reports import find_chromium
    from matcher.store.db import open_store
    from matcher.store.planning import run_plan
    from matcher.usecases.actor import Actor
    from matcher.usecases.reports import ReportRequest, ReportShelf, build_reports
    from matcher.usecases.unit import UnitOfWork
    from matcher.vocab import CodeSet

    print(
        f"負荷 (開始時、load average 1/5/15 分): {load_average()}、CPU {os.cpu_count()} 個、"
        f"PDF: {find_chromium() or 'Chromium なし'}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        load_sample(url, Path(__file__).resolve().parents[1] / "data" / "sample", PASSWORD)
        store = open_store(url)
        run = run_plan(store, "39", actor="demo-pref", replace_other_areas=True)
        print(f"計算 {run.run_id}: 高知県、提案 {len(run.result.proposals)} 件", flush=True)
        actor = Actor("demo-pref", "prefecture", CodeSet.of(["39"]))
        app = create_app(url, secret_key="bench", tiles_url="", report_dir=Path(tmp) / "shelf")
        with TestClient(app) as client:
            r = client.post("/api/session", json={"username": "demo-pref", "password": PASSWORD})
            client.headers["Authorization"] = f"Bearer {r.json()['token']}"
            for pdf in (False,) if args.no_pdf else (False, True):
                label = "PDF あり" if pdf else "PDF なし"
                shelf = ReportShelf(Path(tmp) / "baseline", "bench")
                t = time.perf_counter()
                built = build_reports(
                    UnitOfWork(store), actor, ReportRequest(run.run_id, pdf), shelf, "x"
                )
                base = time.perf_counter() - t
                size = built.path.stat().st_size / 1e6
                query = f"/api/runs/{run.run_id}/reports?pdf={str(pdf).lower()}"
                t = time.perf_counter()
                first = client.get(query, headers={"Accept": "application/json"})
                answered = time.perf_counter() - t
                stages: list[str] = []
                if first.status_code == 202:
                    poll = first.json()["poll"]
                    while (job := client.get(poll).json())["state"] == "running":
                        if job["stage"] not in stages:
                            stages.append(job["stage"])
                        time.sleep(0.1)
                    assert job["state"] == "done", job
                done = time.perf_counter() - t
                t = time.perf_counter()
                again = client.get(query)
                kept = time.perf_counter() - t
                assert again.status_code == 200 and again.headers["content-type"].endswith("zip")
                print(
                    f"{label}: ZIP {size:.1f} MB\n"
                    f"  基準 (同期で作成、以前の1回の要求)  {base:7.2f} s\n"
                    f"  初回の要求への応答 ({first.status_code})      {answered:7.2f} s"
                    f"   (基準の {answered / base:.2f} 倍)\n"
                    f"  ジョブ完了まで                     {done:7.2f} s"
                    f"   (基準の {done / base:.2f} 倍; 進捗: {' → '.join(stages) or 'なし'})\n"
                    f"  2回目の要求 (保管した ZIP)          {kept:7.3f} s"
                    f"   (基準の {kept / base:.3f} 倍)",
                    flush=True,
                )
        store.dispose()
    print(f"負荷 (終了時): {load_average()}")


if __name__ == "__main__":
    main()
