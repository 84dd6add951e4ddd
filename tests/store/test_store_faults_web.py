"""Database failures seen through the web: one Japanese line and 503, never a traceback; a run
in progress is a 503 that says so."""

from __future__ import annotations

import sqlite3

from api_support import login, make_app
from fastapi.testclient import TestClient

from matcher.store.errors import RunInProgressError


def test_database_failure_is_a_503_with_one_line(tmp_path):
    app = make_app(tmp_path)
    with TestClient(app, raise_server_exceptions=False) as client:
        login(client, "coord_a")
        assert client.get("/api/proposals/1").status_code == 404
        path = app.state.store.engine.url.database
        with sqlite3.connect(path) as raw:  # a broken store: the table is gone
            raw.execute("DROP TABLE run_proposals")
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute("DROP TABLE proposal_history")
            raw.execute("DROP TABLE proposals")
        r = client.get("/api/proposals/1")
        assert r.status_code == 503, r.text
        detail = r.json()["detail"]
        assert detail.startswith("データベースの操作に失敗しました") and "\n" not in detail
        assert "Traceback" not in r.text
        app.state.jobs.join_all()


def test_run_in_progress_is_a_503_that_says_so(tmp_path, monkeypatch):
    app = make_app(tmp_path)

    def busy(*args, **kwargs):
        raise RunInProgressError("地域「area-a」は別の計算が実行中です (10 秒待ちました)。")

    monkeypatch.setattr("matcher.usecases.runs.run_plan", busy)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = login(client, "coord_a")
        r = client.post("/api/runs", json={"area_code": "area-a"}, headers=headers)
        assert r.status_code == 503 and "実行中" in r.json()["detail"]
        app.state.jobs.join_all()
