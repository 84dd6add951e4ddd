"""The public pages' rate windows are shared by every worker (``public_rate_windows``).

Two app instances on one database (as two uvicorn workers) together let one limit through, and
the limit resets after the window; on SQLite and PostgreSQL, windows counted from two threads at
once never let more than the limit through; keys are stored only as their HMAC; expired rows are
purged and a window keeps at most ``max_keys`` keys. Times come from a clock the test moves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import make_app
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from store_fixtures import database_url

from api.main import create_app
from api.security.public import RateWindow, slide
from matcher.store.db import Store, open_store
from matcher.store.models import PublicRateRow

LIMIT, SECONDS = 3, 60.0


class Clock:
    """Epoch seconds that move only when told."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def _workers(apps: list[FastAPI], clock: Clock) -> None:
    """Each app ("worker") with its own window object of the same name and limit."""
    for app in apps:
        app.state.public_rate = RateWindow(LIMIT, SECONDS, "public-address", clock=clock)


@pytest.fixture()
def two_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[tuple[FastAPI, TestClient]]]:
    """Two apps on one database, with the same secret (as the workers of one service)."""
    monkeypatch.setenv("KYORYOKU_INTAKE_PUBLIC", "1")
    first = make_app(tmp_path)
    url = first.state.store.engine.url.render_as_string(hide_password=False)
    second = create_app(url, secret_key="test-secret", tiles_url="")
    yield [(first, TestClient(first)), (second, TestClient(second))]
    for app in (first, second):
        app.state.store.dispose()


def _rows(store: Store) -> list[PublicRateRow]:
    with store.read() as s:
        return list(s.scalars(select(PublicRateRow)))


def test_two_workers_on_one_database_let_one_limit_through(
    two_workers: list[tuple[FastAPI, TestClient]],
) -> None:
    clock = Clock()
    _workers([app for app, _ in two_workers], clock)
    first, second = (client for _, client in two_workers)
    codes = [c.get("/soudan").status_code for c in (first, second, first)]
    assert codes == [200, 200, 200]
    refused = second.get("/soudan")  # the fourth hit of the address, on the other worker
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) == SECONDS
    assert first.get("/soudan").status_code == 429
    clock.now += SECONDS / 2
    assert second.get("/soudan").status_code == 429
    clock.now += SECONDS / 2  # the window has passed: the limit starts again
    codes = [c.get("/soudan").status_code for c in (second, first, second, first)]
    assert codes == [200, 200, 200, 429]


def test_keys_are_stored_only_as_their_hmac(
    two_workers: list[tuple[FastAPI, TestClient]],
) -> None:
    clock = Clock()
    _workers([app for app, _ in two_workers], clock)
    app, client = two_workers[0]
    assert client.get("/soudan").status_code == 200
    (row,) = _rows(app.state.store)
    assert row.window_name == "public-address" and len(row.key_hash) == 64
    assert "testclient" not in row.key_hash and row.hits == [clock.now]
    int(row.key_hash, 16)  # hex of the HMAC


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database_url(request.param, tmp_path) as url:
        store = open_store(url, upgrade=True)
        yield store
        store.dispose()


def test_concurrent_workers_never_let_more_than_the_limit_through(shared_store: Store) -> None:
    limit, attempts = 5, 16
    now = float(int(time.time()))
    windows = [RateWindow(limit, SECONDS, "w", clock=lambda: now) for _ in range(2)]
    start = threading.Barrier(2)
    waits: list[int] = []
    lock = threading.Lock()

    def worker(window: RateWindow) -> None:
        start.wait()
        for _ in range(attempts // 2):
            wait = window.hit(shared_store, "k" * 64)
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker, args=(w,)) for w in windows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == [0] * limit + [int(SECONDS)] * (attempts - limit)
    (row,) = _rows(shared_store)
    assert row.hits == [now] * limit


def test_old_windows_are_purged_and_a_window_keeps_at_most_max_keys(shared_store: Store) -> None:
    clock = Clock()
    window = RateWindow(2, SECONDS, "w", max_keys=3, clock=clock)
    for k in range(5):
        clock.now += 1
        assert window.hit(shared_store, f"{k:064d}") == 0
    kept = sorted(r.key_hash for r in _rows(shared_store))
    assert kept == [f"{k:064d}" for k in (2, 3, 4)]  # the ones expiring first went
    clock.now += SECONDS + 5  # every hit has left the window
    assert window.hit(shared_store, "f" * 64) == 0
    assert [r.key_hash for r in _rows(shared_store)] == ["f" * 64]


def test_slide_is_the_sliding_window() -> None:
    hits, wait = slide([], 100.0, 2, 10.0)
    assert (hits, wait) == ([100.0], 0)
    hits, wait = slide([100.0, 104.0], 105.0, 2, 10.0)
    assert (hits, wait) == ([100.0, 104.0], 5)  # the first leaves at 110
    assert slide([100.0, 104.0], 110.0, 2, 10.0) == ([104.0, 110.0], 0)
