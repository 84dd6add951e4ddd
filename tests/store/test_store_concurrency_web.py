"""Several web workers on one store: a run started through one worker is seen, with its
progress and result, through another; a job whose worker died is reported failed, not running.

Two separate server processes (uvicorn) on one database stand for ``--workers 2``: with
uvicorn's own workers a request cannot be sent to a chosen worker.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from store_fixtures import fac, inst

from matcher.store.areas import save_area
from matcher.store.db import open_store
from matcher.store.imports import import_simple
from matcher.store.jobs import INTERRUPTED_JA, fail_orphans, get_job
from matcher.store.models import JobRow, utcnow

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "two-workers-pass-1"
SERVER = (
    "import sys, uvicorn\n"
    "from api.main import create_app\n"
    "app = create_app(sys.argv[1], secret_key='test-secret', run_wait=0.0, tiles_url='')\n"
    "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str) -> None:
    from api.users import add_user

    store = open_store(url, upgrade=True)
    facs = [fac(f"F{k}", dlat=0.002 * k) for k in range(12)]
    insts = [inst(f"H{k}", dlon=0.01 * k, capacity=3) for k in range(4)]
    with store.write() as s:
        import_simple(s, facs, insts, 2025)
        save_area(s, "39", "高知県", "prefecture", ["39"])
        add_user(s, "coord", PASSWORD, "coordinator", ["39"], actor="test")
    store.dispose()


@pytest.fixture
def two_workers(db_url):
    seed(db_url)
    procs, urls = [], []
    for _ in range(2):
        port = free_port()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", SERVER, db_url, str(port)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for proc, url in zip(procs, urls, strict=True):
            for _ in range(300):
                assert proc.poll() is None, "サーバーが起動しませんでした"
                try:
                    httpx.get(url + "/login", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_run_started_on_one_worker_is_seen_on_the_other(two_workers, db_url):
    a, b = two_workers
    r = httpx.post(a + "/api/session", json={"username": "coord", "password": PASSWORD})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    started = httpx.post(a + "/api/runs", json={"area_code": "39"}, headers=headers, timeout=60)
    assert started.status_code in (201, 202), started.text
    job_id = started.json()["job_id"]
    for _ in range(300):
        job = httpx.get(f"{b}/api/runs/jobs/{job_id}", headers=headers, timeout=10)
        assert job.status_code == 200, job.text
        if job.json()["state"] != "running":
            break
        time.sleep(0.1)
    body = job.json()
    assert body["state"] == "done" and body["run_id"], body
    run = httpx.get(f"{b}/api/runs/{body['run_id']}", headers=headers, timeout=10)
    assert run.status_code == 200 and run.json()["changes"]
    # the proposals the run made are served by the other worker too
    props = httpx.get(f"{b}/api/proposals", headers=headers, timeout=10).json()
    assert len(props) == run.json()["n_new"]


def running_job(worker: str, heartbeat_at: dt.datetime) -> JobRow:
    """A job of area 39 solving on ``worker``, last heard of at ``heartbeat_at``."""
    return JobRow(
        area_code="39",
        mode="optimal",
        params={},
        note="",
        state="running",
        stage="solve",
        done=0,
        total=0,
        worker=worker,
        heartbeat_at=heartbeat_at,
    )


def test_a_job_whose_worker_died_is_failed_with_the_reason(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()
    with store.write() as s:
        s.add_all(
            [
                running_job(f"{here}:{dead.pid}", utcnow()),
                running_job("another-host:1", utcnow() - dt.timedelta(minutes=5)),
                running_job("another-host:2", utcnow()),
            ]
        )
    assert fail_orphans(store) == 2  # what a restarted service does at start-up
    jobs = [get_job(store, k) for k in (1, 2, 3)]
    assert [j.state for j in jobs] == ["failed", "failed", "running"]
    assert jobs[0].error == INTERRUPTED_JA.format(worker=f"{here}:{dead.pid}")
    assert "中断されました" in jobs[1].error and jobs[1].finished_at is not None
