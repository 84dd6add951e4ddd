"""The web application: JSON API under /api (OpenAPI at /docs) and Japanese pages.

``create_app(database_url)`` opens the store (applying its migrations, which also create the
web's users and audit tables) and mounts one router per resource.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import URLSafeTimedSerializer

from matcher.memory import tune_allocator
from matcher.settings import get_settings
from matcher.store.db import open_store
from matcher.usecases.reports import ReportShelf

from . import errors
from .jobs import Jobs
from .routes import (
    areas,
    areaviews,
    auth,
    exports,
    facilities,
    imports,
    institutions,
    intake,
    map,
    pages,
    proposals,
    replies,
    reports,
    runs,
    status,
    workspace,
)
from .security.install import install as install_security

HERE = Path(__file__).parent
TILES_ATTRIBUTION = '<a href="https://maps.gsi.go.jp/development/ichiran.html">地理院タイル</a>'


def create_app(
    database_url: str | None = None,
    *,
    secret_key: str | None = None,
    tiles_url: str | None = None,
    session_seconds: int | None = None,
    run_wait: float = 1.0,
    report_dir: Path | None = None,
    secure_cookies: bool | None = None,
    session_idle_seconds: int | None = None,
) -> FastAPI:
    """Build the app on the store at ``database_url`` (default: ``KYORYOKU_DATABASE_URL`` or
    ``./kyoryoku.db``). Settings not given come from ``KYORYOKU_SECRET_KEY`` (else a random key:
    sessions end when the server restarts), ``KYORYOKU_TILES_URL`` (empty: no background map),
    ``KYORYOKU_SESSION_SECONDS`` (default 8 hours), ``KYORYOKU_SESSION_IDLE_SECONDS`` and
    ``KYORYOKU_SECURE_COOKIES``; built report ZIPs are kept in ``report_dir`` (default
    ``KYORYOKU_REPORT_DIR``, else the OS temporary folder); the security settings are
    ``api.security``'s."""
    tune_allocator()  # each worker process builds its own app: plans reuse heap memory
    store = open_store(database_url, upgrade=True)
    app = FastAPI(
        title="協力医療機関マッチング (kyoryoku-match)",
        version="0.1.0",
        description="在宅医療連携拠点のコーディネーター向け API。ログインは POST /api/session。",
        docs_url=None,  # served offline by api.security.docs
        redoc_url=None,
    )
    settings = get_settings()
    key = secret_key or settings.secret_key or secrets.token_urlsafe(32)
    app.state.store = store
    app.state.login_serializer = URLSafeTimedSerializer(key, salt="kyoryoku-login-form")
    app.state.session_seconds = int(session_seconds or settings.session_seconds)
    app.state.tiles_url = tiles_url if tiles_url is not None else settings.tiles_url
    app.state.tiles_attribution = TILES_ATTRIBUTION
    app.state.session_idle_seconds = int(session_idle_seconds or settings.session_idle_seconds)
    app.state.secure_cookies = (
        settings.secure_cookies
        if secure_cookies is None
        else ("always" if secure_cookies else "never")
    )
    app.state.run_wait = run_wait
    app.state.jobs = Jobs(store, wait=run_wait)
    app.state.report_shelf = ReportShelf(
        report_dir or Path(settings.report_dir or Path(tempfile.gettempdir()) / "kyoryoku-reports"),
        store.engine.url.render_as_string(hide_password=True),
    )
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    install_security(app, settings)
    errors.install(app)  # after the security's HTTP handler, which it falls back to
    workspace.install(app)  # the coordinator's lists, facility page, runs, audit (api.labels)
    replies.install(app)  # reply links and forms; before imports (/api/imports/replies)
    intake.install(app)  # the 相談窓口: public pages and the coordinator's queue
    for module in (
        auth,
        areas,
        facilities,
        institutions,
        runs,
        reports,
        proposals,
        imports,
        exports,
        status,
        map,
        pages,
        areaviews,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app
