"""Fixtures shared by the web tests: the two-area app on a fresh copy of the test store and a
TestClient on it."""

from __future__ import annotations

import pytest
from api_support import make_app
from fastapi.testclient import TestClient


@pytest.fixture()
def app_environment() -> None:
    """Set up the environment before the app is created (a module overrides this to change it)."""


@pytest.fixture()
def app(tmp_path, app_environment):
    app = make_app(tmp_path)
    yield app
    app.state.jobs.join_all()
    app.state.store.dispose()


@pytest.fixture()
def client(app, request):
    """A TestClient on ``app``; a module with ``FOLLOW_REDIRECTS = False`` sees the redirects."""
    follow = getattr(request.module, "FOLLOW_REDIRECTS", True)
    with TestClient(app, follow_redirects=follow) as c:
        yield c
