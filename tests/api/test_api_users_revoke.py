"""Issue 13: ``kyoryoku users revoke USERNAME`` ends every session of a user."""

from __future__ import annotations

from api_support import PASSWORD, make_app
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from matcher.cli import app as cli


def test_users_revoke_ends_every_session(tmp_path) -> None:
    web = make_app(tmp_path)
    url = web.state.store.engine.url.render_as_string(hide_password=False)
    try:
        with TestClient(web) as c:
            tokens = [
                c.post("/api/session", json={"username": "coord_a", "password": PASSWORD}).json()[
                    "token"
                ]
                for _ in range(2)
            ]
            other = c.post("/api/session", json={"username": "pref", "password": PASSWORD})
            bearer = {"Authorization": f"Bearer {other.json()['token']}"}
            for t in tokens:
                assert (
                    c.get("/api/session", headers={"Authorization": f"Bearer {t}"}).status_code
                    == 200
                )
            r = CliRunner().invoke(cli, ["users", "revoke", "coord_a", "--database-url", url])
            assert r.exit_code == 0 and "2 件終了しました" in r.output, r.output
            for t in tokens:
                assert (
                    c.get("/api/session", headers={"Authorization": f"Bearer {t}"}).status_code
                    == 401
                )
            assert c.get("/api/session", headers=bearer).status_code == 200  # others keep theirs
            r = CliRunner().invoke(cli, ["users", "revoke", "nobody", "--database-url", url])
            assert r.exit_code == 2 and "見つかりません" in r.output
    finally:
        web.state.store.dispose()
