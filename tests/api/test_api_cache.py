"""The web layer's read cache: repeated reads cost no query, and any commit — through the web,
or by another process on the same file — is seen by the next read."""

from __future__ import annotations

from api_support import login
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event

from api.cache import ReadCache
from matcher.store.db import open_store
from matcher.store.models import FacilityRow


def count_queries(app) -> list[str]:
    seen: list[str] = []
    event.listen(
        app.state.store.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: seen.append(statement),
    )
    return seen


def test_repeated_reads_and_session_checks_run_no_query(app):
    with TestClient(app) as client:
        login(client, "coord_a")
        paths = [
            "/api/facilities",
            "/api/facilities/FA1",
            "/api/proposals",
            "/api/facilities?status=partial",
        ]
        first = [client.get(p).json() for p in paths]
        seen = count_queries(app)
        again = [client.get(p).json() for p in paths]
        assert seen == []
        assert again == first


def test_a_write_by_another_connection_is_seen_at_once(app):
    with TestClient(app) as client:
        login(client, "coord_a")
        assert client.get("/api/facilities/FA1").json()["name"] == "あおばグループホーム"
        other = open_store(str(app.state.store.engine.url))  # like the CLI or another worker
        with other.write() as s:
            s.get(FacilityRow, "FA1").name = "あおば GH"
        other.dispose()
        assert client.get("/api/facilities/FA1").json()["name"] == "あおば GH"
        names = {f["facility_id"]: f["name"] for f in client.get("/api/facilities").json()["items"]}
        assert names["FA1"] == "あおば GH"


def test_a_status_change_through_the_api_is_seen_by_the_next_read(app):
    with TestClient(app) as client:
        h = login(client, "coord_a")
        r = client.post("/api/facilities/FA1/proposals", json={"institution_id": "I2"}, headers=h)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        assert [p["status"] for p in client.get("/api/proposals").json()] == ["proposed"]
        r = client.post(
            f"/api/proposals/{pid}/status", json={"status": "agreed", "version": 1}, headers=h
        )
        assert r.status_code == 200, r.text
        assert [p["status"] for p in client.get("/api/proposals").json()] == ["agreed"]
        detail = client.get("/api/facilities/FA1").json()
        assert [p["status"] for p in detail["proposals"]] == ["agreed"]


def test_no_cache_without_a_change_token():
    cache = ReadCache(create_engine("sqlite://"))
    calls: list[int] = []
    assert not cache.enabled
    assert cache.get("k", lambda: calls.append(1) or len(calls)) == 1
    assert cache.get("k", lambda: calls.append(1) or len(calls)) == 2


def test_every_cached_key_names_its_topics() -> None:
    """A key missing from ``TOPICS`` depends on every topic: each proposal change would drop it.
    Found when the facility page's site mates (one query of a municipality's facilities) were
    recomputed after every write: the prefecture mix's p95 went from 15 to 130 ms."""
    import re
    from pathlib import Path

    from api.cache import TOPICS

    root = Path(__file__).resolve().parents[2]
    heads = {
        m
        for package in ("matcher", "api")
        for path in (root / package).rglob("*.py")
        for m in re.findall(r'cache\.get\(\(\s*"([a-z_]+)"', path.read_text(encoding="utf-8"))
    }
    assert heads and heads <= set(TOPICS), sorted(heads - set(TOPICS))
