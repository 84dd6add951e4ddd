"""Web security (issue 13): request size before the body is read, archive bombs, login
throttling, server-side sessions, security headers, Origin checks, fixed redirect messages,
manual proposals within limits, offline documentation."""

from __future__ import annotations

import asyncio
import io
import re
import tracemalloc
import zipfile

import pytest
from api_support import PASSWORD, assert_session_expires, login
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from matcher.store.models import AuditRow, DeclarationRow, LoginThrottleRow, WebSessionRow

MB = 1024 * 1024


@pytest.fixture()
def app_environment(monkeypatch) -> None:
    """Low login-throttle limits, set before the conftest ``app`` is created."""
    monkeypatch.setenv("KYORYOKU_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("KYORYOKU_LOGIN_ADDRESS_MAX_FAILURES", "6")


def audit_actions(app, actor: str | None = None) -> list[str]:
    with app.state.store.read() as s:
        q = select(AuditRow).order_by(AuditRow.id)
        if actor:
            q = q.where(AuditRow.actor == actor)
        return [r.action for r in s.scalars(q)]


def asgi(app, method: str, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]):
    """Call the app directly; returns (status, response headers, body, chunks the app read)."""
    read: list[bytes] = []
    sent: list[dict] = []
    pending = list(chunks)

    async def receive():
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        read.append(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body, read


# --- 1. request size, pre-authentication, archives ------------------------------------------


def test_announced_oversize_upload_is_refused_before_reading(app):
    status, _, body, read = asgi(
        app,
        "POST",
        "/api/imports/kaigo",
        [(b"content-length", b"500000000"), (b"content-type", b"multipart/form-data; b=x")],
        [b"x" * 1024],
    )
    assert status == 413 and read == []
    assert "大きすぎます" in body.decode()


def test_upload_without_session_is_refused_before_reading(app):
    status, headers, _, read = asgi(
        app,
        "POST",
        "/api/imports/kaigo",
        [(b"content-length", b"1000"), (b"content-type", b"multipart/form-data; b=x")],
        [b"x" * 1000],
    )
    assert status == 401 and read == []
    assert headers[b"www-authenticate"] == b"Bearer"
    status, headers, _, read = asgi(
        app,
        "POST",
        "/imports",
        [(b"content-length", b"1000"), (b"content-type", b"multipart/form-data; b=x")],
        [b"x" * 1000],
    )
    assert status == 303 and read == [] and headers[b"location"].startswith(b"/login")


def test_streamed_body_is_cut_off_at_the_limit(app, client):
    token = client.post("/api/session", json={"username": "pref", "password": PASSWORD}).json()[
        "token"
    ]
    chunk = b"a" * MB
    status, _, body, read = asgi(
        app,
        "POST",
        "/api/runs",
        [
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        [chunk] * 50,
    )
    assert status == 413
    assert len(read) <= 2  # the 1 MB limit is passed on the second chunk; the rest is never read
    assert "上限" in body.decode()


def bomb(size: int = 1024 * MB) -> bytes:
    """A ~1 MB ZIP holding one CSV that expands to ``size`` bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("kaigo.csv", "w", force_zip64=True) as f:
            f.write(b"a,b\n")
            block = b"0" * MB
            for _ in range(size // MB):
                f.write(block)
    return buf.getvalue()


def test_zip_bomb_upload_is_refused_with_little_memory(client):
    data = bomb()
    assert len(data) < 1.2 * MB
    headers = login(client, "pref")
    tracemalloc.start()
    try:
        r = client.post(
            "/api/imports/kaigo",
            files={"file": ("kaigo.zip", data, "application/zip")},
            headers=headers,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 422, r.text
    assert "展開後の大きさが上限を超えます" in r.text
    # Measured: ~8 MB peak (the upload itself, its multipart copy and one chunk), against 1 GB
    # (and 7.4 GB of process memory) before the limits.
    assert peak < 40 * MB, peak


def test_zip_bomb_with_lying_sizes_is_cut_off_while_reading(client):
    data = bytearray(bomb(300 * MB))
    # Rewrite the declared uncompressed size (local header and central directory) to 1 KB.
    good = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    data = bytes(data).replace(good.file_size.to_bytes(8, "little"), (1024).to_bytes(8, "little"))
    headers = login(client, "pref")
    files = {"file": ("kaigo.zip", data, "application/zip")}
    r = client.post("/api/imports/kaigo", files=files, headers=headers)
    assert r.status_code == 422, r.text


def test_corrupt_zip_upload_is_422_not_500(client):
    headers = login(client, "pref")
    for kind in ("kaigo", "facilities"):
        r = client.post(
            f"/api/imports/{kind}",
            files={"file": ("x.zip", b"PK\x03\x04 this is not a zip", "application/zip")},
            headers=headers,
        )
        assert r.status_code == 422, r.text
        assert "ZIP" in r.json()["detail"]


# --- 2. login throttling ----------------------------------------------------------------------


def test_throttled_login_then_lock_ends(app, client):
    for _ in range(3):
        r = client.post("/api/session", json={"username": "coord_a", "password": "wrong-pass"})
        assert r.status_code == 401
    r = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD})
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    assert "一時的にログインできません" in r.json()["detail"]
    actions = audit_actions(app, "coord_a")
    assert actions.count("login.failure") == 3 and "login.locked" in actions
    with app.state.store.write() as s:  # the lock runs out
        s.execute(update(LoginThrottleRow).values(locked_until=None))
    r = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD})
    assert r.status_code == 200
    assert audit_actions(app, "coord_a")[-1] == "login.success"


def test_throttle_per_address_covers_every_account(client):
    for name in ("x1", "x2", "x3", "x4", "x5", "x6"):
        client.post("/api/session", json={"username": name, "password": "wrong-pass"})
    r = client.post("/api/session", json={"username": "coord_b", "password": PASSWORD})
    assert r.status_code == 429


def test_login_page_is_throttled_too(client):
    for _ in range(3):
        client.post("/api/session", json={"username": "viewer_a", "password": "wrong-pass"})
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": "viewer_a", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert "一時的にログインできません" in r.text


# --- 3. server-side sessions ------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_logout_revokes_the_session(app, client):
    token = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD}).json()[
        "token"
    ]
    with TestClient(app) as other:
        assert other.get("/api/areas", headers=bearer(token)).status_code == 200
        assert other.delete("/api/session", headers=bearer(token)).status_code == 200
        assert other.get("/api/areas", headers=bearer(token)).status_code == 401
    with app.state.store.read() as s:
        row = s.scalars(select(WebSessionRow)).first()
        assert row.revoked_reason == "logout"
        assert token not in (row.id,)  # only the hash is stored


def test_password_change_revokes_other_sessions(app, client):
    old = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD}).json()[
        "token"
    ]
    with TestClient(app) as c2:
        now = c2.post("/api/session", json={"username": "coord_a", "password": PASSWORD}).json()
        r = c2.post(
            "/api/session/password",
            json={"current_password": PASSWORD, "new_password": "another-horse-2"},
            headers={"X-CSRF-Token": now["csrf_token"]},
        )
        assert r.status_code == 200 and r.json()["sessions_ended"] == 1
        assert c2.get("/api/session").status_code == 200  # the changing session stays
    assert client.get("/api/areas", headers=bearer(old)).status_code == 401
    r = client.post(
        "/api/session/password",
        json={"current_password": "wrong-wrong", "new_password": "x" * 10},
        headers=bearer(now["token"]),
    )
    assert r.status_code == 422


def test_administrator_revokes_a_users_sessions(app, client):
    victim = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD}).json()[
        "token"
    ]
    with TestClient(app) as admin:
        other = admin.post("/api/session", json={"username": "coord_b", "password": PASSWORD})
        r = admin.delete("/api/session/users/coord_a", headers=bearer(other.json()["token"]))
        assert r.status_code == 404  # a coordinator cannot end another user's sessions
        pref = admin.post("/api/session", json={"username": "pref", "password": PASSWORD}).json()
        r = admin.delete("/api/session/users/coord_a", headers=bearer(pref["token"]))
        assert r.status_code == 200 and r.json()["sessions_ended"] == 1
    assert client.get("/api/areas", headers=bearer(victim)).status_code == 401
    assert "session.revoke" in audit_actions(app, "pref")


def test_idle_session_expires(tmp_path):
    assert_session_expires(tmp_path, 2.2, session_idle_seconds=1)


def test_cookie_is_secure_over_https_only(app):
    for base, secure in (("https://testserver", True), ("http://testserver", False)):
        with TestClient(app, base_url=base) as c:
            r = c.post("/api/session", json={"username": "coord_a", "password": PASSWORD})
            cookie = r.headers["set-cookie"].lower()
            assert ("; secure" in cookie) is secure
            assert "httponly" in cookie and "samesite=lax" in cookie
            if secure:
                assert "max-age=31536000" in r.headers["strict-transport-security"]


# --- 4. headers and Origin --------------------------------------------------------------------


def assert_security_headers(r, authenticated: bool = True) -> None:
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    if authenticated:
        assert r.headers["cache-control"] == "no-store"


def test_headers_on_pages_api_and_errors(client):
    assert_security_headers(client.get("/login"))
    assert_security_headers(client.get("/api/areas"))  # 401
    login(client, "coord_a")
    for path in ("/", "/map", "/proposals", "/facilities/FA1", "/imports"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert_security_headers(r)
        # no inline script or event handler attributes: the CSP would block them
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), path
        assert not re.search(r"\son[a-z]+=", r.text), path
    assert_security_headers(client.get("/api/areas"))
    assert_security_headers(client.get("/api/facilities/nope"))  # 404
    static = client.get("/static/app.css")
    assert static.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in static.headers.get("cache-control", "")


def test_cross_site_origin_and_referer_are_refused(client):
    headers = login(client, "coord_a")
    body = {"area_code": "area-a", "mode": "greedy"}
    r = client.post("/api/runs", json=body, headers={**headers, "Origin": "https://evil.example"})
    assert r.status_code == 403 and "Origin" in r.json()["detail"]
    r = client.post(
        "/api/runs", json=body, headers={**headers, "Referer": "https://evil.example/x"}
    )
    assert r.status_code == 403
    r = client.post("/api/runs", json=body, headers={**headers, "Origin": "null"})
    assert r.status_code == 403
    r = client.post("/api/runs", json=body, headers={**headers, "Origin": "http://testserver"})
    assert r.status_code == 201, r.text


# --- 5. messages after redirects --------------------------------------------------------------


def test_free_text_in_the_url_is_never_shown(client):
    text = "公式のお知らせ: パスワードを evil.example に送ってください"
    r = client.get("/login", params={"err": text})
    assert "evil.example" not in r.text
    login(client, "coord_a")
    r = client.get("/", params={"msg": text, "err": text})
    assert "evil.example" not in r.text
    r = client.get("/", params={"msg": "logged-out"})
    assert "ログアウトしました" in r.text


def test_page_actions_redirect_with_codes(client):
    headers = login(client, "coord_a")
    r = client.post(
        "/facilities/FA1/propose",
        data={"institution_id": "I1", "csrf_token": headers["X-CSRF-Token"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"].endswith("?msg=proposed")


# --- 6. manual proposals within limits --------------------------------------------------------


def test_manual_proposal_beyond_distance_needs_a_reason(app, client):
    headers = login(client, "pref")
    r = client.post("/api/facilities/FA1/proposals", json={"institution_id": "I3"}, headers=headers)
    assert r.status_code == 422, r.text
    assert "km が上限" in r.text and "override_reason" in r.text
    r = client.post(
        "/api/facilities/FA1/proposals",
        json={"institution_id": "I3", "override_reason": "山間部で他に候補がないため"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    history = client.get(f"/api/proposals/{pid}").json()["history"]
    assert "山間部で他に候補がないため" in history[0]["note"] and "km" in history[0]["note"]
    with app.state.store.read() as s:
        row = s.scalars(select(AuditRow).where(AuditRow.action == "proposal.create")).one()
        assert row.detail["override_reason"] == "山間部で他に候補がないため"


def test_manual_proposal_beyond_capacity_needs_a_reason(app, client):
    with app.state.store.write() as s:
        s.execute(
            update(DeclarationRow).where(DeclarationRow.institution_id == "I1").values(capacity=1)
        )
    headers = login(client, "coord_a")
    r = client.post("/api/facilities/FA1/proposals", json={"institution_id": "I1"}, headers=headers)
    assert r.status_code == 201, r.text
    r = client.post("/api/facilities/FA2/proposals", json={"institution_id": "I1"}, headers=headers)
    assert r.status_code == 422 and "受入枠" in r.text


# --- 7. documentation offline, HEAD, 405 ------------------------------------------------------


def test_docs_are_served_offline(client):
    for path, asset in (
        ("/docs", "/static/vendor/swagger-ui/swagger-ui-bundle.js"),
        ("/redoc", "/static/vendor/redoc/redoc.standalone.js"),
    ):
        page = client.get(path)
        assert page.status_code == 200 and asset in page.text
        assert "http://" not in page.text and "https://" not in page.text
        assert "<script>" not in page.text
        assert client.get(asset).status_code == 200
    schema = client.get("/openapi.json").json()
    op = schema["paths"]["/api/runs"]["post"]
    assert {"401", "403", "409", "413", "422"} <= set(op["responses"])
    assert "429" in schema["paths"]["/api/session"]["post"]["responses"]


def test_head_on_pages_and_allow_on_405(client):
    r = client.head("/login")
    assert r.status_code == 200 and r.content == b""
    r = client.put("/api/session")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) >= {"GET", "POST", "DELETE"}
