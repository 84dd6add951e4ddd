"""Every link a page shows to a role resolves for that role (issue 21): after a prefecture run
and an area run over the same facilities, each user crawls the pages reachable from the
dashboard and every same-site link answers 200 — no 404 for a run of a wider area, no 403 for
a viewer, no error page."""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest
from api_support import USERS, login, make_app, page_login
from fastapi.testclient import TestClient

# Links to downloads (ZIP/PDF/Excel/CSV) and actions are followed by other tests; here: pages.
SKIP = re.compile(
    r"^/(static|docs|redoc|openapi\.json|logout|r/)|[?&]pdf=|/reports|\.xlsx|\.csv|/export"
)
HREF = re.compile(r'<a\b[^>]*\bhref="([^"#]+)"([^>]*)>')
MAX_PAGES = 120


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("links"), run_wait=30.0)
    with TestClient(app) as c:
        h = login(c, "pref")
        for area, extra in (("39", {}), ("area-a", {"replace_other_areas": True})):
            r = c.post(
                "/api/runs",
                json={"area_code": area, "max_km": {"consult": 5, "care": 5, "admit": 5}, **extra},
                headers=h,
            )
            assert r.status_code in (201, 202), r.text
        app.state.jobs.join_all()
    yield app
    app.state.store.dispose()


def _links(html: str, base: str) -> list[str]:
    out = []
    for href, rest in HREF.findall(html):
        if "download" in rest:
            continue
        url = urljoin(base, href.replace("&amp;", "&"))
        parts = urlsplit(url)
        if parts.netloc not in ("", "testserver") or SKIP.search(parts.path + "?" + parts.query):
            continue
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


@pytest.mark.parametrize("user", sorted(USERS))
def test_every_link_shown_resolves_for_the_role(app, user):
    with TestClient(app, follow_redirects=False) as c:
        page_login(c, user)
        seen: set[str] = set()
        per_path: dict[str, int] = {}
        seen_from: dict[str, str] = {}  # link → the page that showed it
        queue = deque(["/"])
        broken: list[tuple[str, str, int]] = []
        while queue and len(seen) < MAX_PAGES:
            url = queue.popleft()
            if url in seen:
                continue
            seen.add(url)
            r = c.get(url)
            if r.status_code in (301, 302, 303, 307):
                queue.append(r.headers["location"])
                continue
            if r.status_code != 200:
                broken.append((url, seen_from.get(url, ""), r.status_code))
                continue
            if "text/html" not in r.headers.get("content-type", ""):
                continue
            for link in _links(r.text, url):
                path = urlsplit(link).path
                # a few query variants of each page (filters, pages) are enough
                if link not in seen and per_path.get(path, 0) < 3:
                    per_path[path] = per_path.get(path, 0) + 1
                    seen_from.setdefault(link, url)
                    queue.append(link)
        assert not broken, f"{user}: links that do not resolve (url, shown on, status): {broken}"
        assert len(seen) > 5  # the crawl really went somewhere


def test_a_coordinators_dashboard_knows_the_wider_run(app):
    """The prefecture's run 1 proposed for coord_a's facilities: their dashboard lists it and its
    page opens with only their facilities."""
    with TestClient(app, follow_redirects=False) as c:
        page_login(c, "coord_a")
        home = c.get("/")
        assert 'href="/runs/1"' in home.text and "まだ計算していません" not in home.text
        run = c.get("/runs/1")
        assert run.status_code == 200 and 'id="run-partial"' in run.text
        assert "FB1" not in run.text  # area B's facility is not shown
