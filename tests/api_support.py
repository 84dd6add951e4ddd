"""A tiny two-area store for the web tests: area A (高知市 39201) and area B (室戸市 39202).

FA1 (group home, only consult covered) can be completed by clinic I1 nearby; FA2 has no filing;
FB1 belongs to area B. Users: coordinators of A and B, a viewer of A, the prefecture.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.main import create_app
from api.users import add_user
from matcher.model import Facility, Institution
from matcher.store.areas import save_area
from matcher.store.db import open_store
from matcher.store.imports import import_simple

PASSWORD = "correct-horse-1"
A_LAT, A_LON = 33.56, 133.53
B_LAT, B_LON = 33.29, 134.15

FACILITIES = [
    Facility(
        "FA1",
        "あおばグループホーム",
        "gh",
        A_LAT,
        A_LON,
        covered=1,
        has_partner=True,
        municipality_code="392014",
        address="高知市1-1",
    ),
    Facility(
        "FA2",
        "さくら特養",
        "tokuyo",
        A_LAT + 0.02,
        A_LON,
        municipality_code="392014",
        address="高知市2-2",
    ),
    Facility(
        "FB1",
        "むろと特養",
        "tokuyo",
        B_LAT,
        B_LON,
        covered=0,
        has_partner=False,
        municipality_code="392022",
        address="室戸市1-1",
    ),
]
INSTITUTIONS = [
    Institution(
        "I1",
        "みどりクリニック",
        "clinic",
        A_LAT + 0.01,
        A_LON + 0.01,
        offers=3,
        capacity=2,
        municipality_code="392014",
        address="高知市3-3",
    ),
    Institution(
        "I2",
        "中央病院",
        "hospital",
        A_LAT - 0.03,
        A_LON,
        offers=7,
        capacity=None,
        municipality_code="392014",
        address="高知市4-4",
    ),
    Institution(
        "I3",
        "室戸病院",
        "hospital",
        B_LAT + 0.01,
        B_LON,
        offers=7,
        capacity=3,
        municipality_code="392022",
        address="室戸市2-2",
    ),
]
USERS = {
    "coord_a": ("coordinator", ["39201"]),
    "coord_b": ("coordinator", ["39202"]),
    "viewer_a": ("viewer", ["39201"]),
    "pref": ("prefecture", ["39"]),
}


def build_store(path: Path) -> str:
    url = f"sqlite:///{path}"
    store = open_store(url, upgrade=True)
    with store.write() as s:
        import_simple(
            s, FACILITIES, INSTITUTIONS, filing_year=2025, declared_on=dt.date(2025, 4, 1)
        )
        save_area(s, "area-a", "高知市地区", "renkei", ["39201"])
        save_area(s, "area-b", "室戸市地区", "renkei", ["39202"])
        for name, (role, scope) in USERS.items():
            add_user(s, name, PASSWORD, role, scope, name, actor="test")
    store.dispose()
    return url


_TEMPLATE: dict[str, Path] = {}


def fresh_store(tmp_path: Path) -> str:
    """A copy of the test store (built once per session: migrations and hashing are slow)."""
    if "db" not in _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="kyoryoku-web-"))
        atexit.register(shutil.rmtree, folder, True)
        build_store(folder / "template.db")
        _TEMPLATE["db"] = folder / "template.db"
    target = tmp_path / "web.db"
    shutil.copyfile(_TEMPLATE["db"], target)
    return f"sqlite:///{target}"


def make_app(tmp_path: Path, **kwargs):
    url = fresh_store(tmp_path)
    kwargs.setdefault("secret_key", "test-secret")
    kwargs.setdefault("tiles_url", "")
    kwargs.setdefault("report_dir", tmp_path / "reports")
    return create_app(url, **kwargs)


def login(client, username: str) -> dict[str, str]:
    """Log in through the API; the client keeps the cookie. Returns the CSRF header."""
    r = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf_token"]}


CHROMIUM = "/usr/bin/chromium"


def require_browser() -> None:
    """Skip without Playwright or ``/usr/bin/chromium``; under ``CI=true`` fail instead."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        missing = "Playwright for Python がインストールされていません (pip install playwright)"
    if missing is None and not os.path.exists(CHROMIUM):
        missing = f"{CHROMIUM} がありません (apt-get install -y chromium)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true ではブラウザのテストを省略できません: {missing}")
        pytest.skip(missing)


@contextlib.contextmanager
def browser_page() -> Iterator[Any]:
    """A page of headless Chromium (after ``require_browser``), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def browser_login(page: Any, base: str, username: str) -> None:
    """Log in on the login page ``page`` shows; it must land on the dashboard."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free local port in a thread; yields the base URL."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def csrf_of(html: str) -> str:
    """The CSRF token of a page's form."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def page_login(client, username: str) -> None:
    """Log in through the login page (the client keeps the cookie); it must redirect to ``/``."""
    token = csrf_of(client.get("/login").text)
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/", "csrf_token": token},
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


# The run form's fields for area A (optimal, the default distances).
RUN_PARAMS = {
    "area_code": "area-a",
    "mode": "optimal",
    "consult_km": "30",
    "care_km": "16",
    "admit_km": "30",
    "max_new_partners": "2",
    "include_unknown": "1",
}


def run_form(token: str, **extra: str) -> dict[str, str]:
    """The run form for area A (``RUN_PARAMS``) with ``extra`` fields."""
    return {**RUN_PARAMS, **extra, "csrf_token": token}


def assert_session_expires(tmp_path: Path, wait: float, **app_kwargs) -> None:
    """A cookie session of an app made with ``app_kwargs`` works, then is refused after ``wait``
    seconds without a request."""
    from fastapi.testclient import TestClient

    app = make_app(tmp_path, **app_kwargs)
    try:
        with TestClient(app) as c:
            login(c, "coord_a")
            assert c.get("/api/areas").status_code == 200
            time.sleep(wait)
            assert c.get("/api/areas").status_code == 401
    finally:
        app.state.store.dispose()
