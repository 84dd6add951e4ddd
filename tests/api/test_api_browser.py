"""The pages in headless Chromium (Debian ``chromium`` driven by Playwright): log in, open the map,
open a facility, mark a proposal agreed, see the dashboard change. Tiles point to a closed port:
the map must work without a tile server.

Without ``/usr/bin/chromium`` (or Playwright) the test is skipped with the reason, except under
``CI=true``, where it fails.
"""

from __future__ import annotations

import pytest
from api_support import browser_login, browser_page, make_app, require_browser, serve


@pytest.fixture()
def server(tmp_path):
    require_browser()
    from matcher.store.planning import run_plan

    app = make_app(tmp_path, tiles_url="http://127.0.0.1:9/{z}/{x}/{y}.png")
    run_plan(app.state.store, "area-a", actor="test")
    with serve(app) as url:
        yield url
    app.state.store.dispose()


def test_login_map_facility_agree_dashboard(server):
    with browser_page() as page:
        page.goto(server + "/")
        assert "/login" in page.url
        browser_login(page, server, "coord_a")
        before = int(page.inner_text('td[data-kind="total"][data-status="all"]'))

        page.click("text=地図")
        page.wait_for_selector("#map[data-loaded]")
        assert page.locator("path.fac-marker").count() == 2
        assert page.locator("path.proposal-line").count() >= 1

        page.click("#facility-list >> text=あおばグループホーム")
        page.wait_for_selector("#proposals")
        assert page.get_attribute("#facility-status", "data-status") == "partial"
        row = page.locator("#proposals tr[data-status=proposed]").first
        row.locator("summary", has_text="合意した").click()  # the confirmation opens
        row.locator("button.act-agreed").click()
        page.wait_for_selector(".flash")
        assert page.get_attribute("#facility-status", "data-status") == "all"

        page.click("text=ダッシュボード")
        after = int(page.inner_text('td[data-kind="total"][data-status="all"]'))
        assert after == before + 1
        assert int(page.inner_text('[data-proposals="agreed"]')) == 1
