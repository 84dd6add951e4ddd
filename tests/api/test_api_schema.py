"""Property-based run of the OpenAPI schema (schemathesis): no request makes the server fail (5xx).

Requests are sent with a prefecture user's bearer token so that the routes behind the login are
exercised too; skipped when schemathesis is not installed.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from api_support import PASSWORD, make_app  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    from fastapi.testclient import TestClient

    from matcher.store.planning import run_plan

    app = make_app(tmp_path_factory.mktemp("schema"), run_wait=5.0)
    run_plan(app.state.store, "area-a", actor="test")
    with TestClient(app) as c:
        token = c.post("/api/session", json={"username": "pref", "password": PASSWORD}).json()[
            "token"
        ]
    yield app, token
    app.state.jobs.join_all()
    app.state.store.dispose()


def test_no_server_errors(web):
    # Driven by hand rather than by schemathesis' pytest plugin, which does not run on this pytest.
    from hypothesis import given

    app, token = web
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} → {response.status_code}: "
                    f"{response.text[:300]}"
                )

        check()
    assert operations >= 20
    assert not failures, "\n".join(failures[:10])
