"""A tiny two-area store for the web tests: area A (高知市 39201) and area B (室戸市 39202).

FA1 (group home, only consult covered) can be completed by clinic I1 nearby; FA2 has no filing;
FB1 belongs to area B. Users: coordinators of A and B, a viewer of A, the prefecture.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from pathlib import Path

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
    return create_app(url, **kwargs)


def login(client, username: str) -> dict[str, str]:
    """Log in through the API; the client keeps the cookie. Returns the CSRF header."""
    r = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf_token"]}
