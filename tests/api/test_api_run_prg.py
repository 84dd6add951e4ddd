"""Post/redirect/get around a run (issue 22, item 6): the preview is a GET page (nothing is
stored, no CSRF token in its URL), the confirming POST answers 303 to the run's page or its
progress page; in Chromium, Back from the run's page shows the preview again instead of the
"Confirm Form Resubmission" page."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from api_support import (
    RUN_PARAMS,
    browser_login,
    browser_page,
    csrf_of,
    make_app,
    page_login,
    require_browser,
    serve,
)

from matcher.store.models import ProposalRow, RunRow

FOLLOW_REDIRECTS = False


def stored(client) -> tuple[int, int]:
    with client.app.state.store.read() as s:
        return s.query(RunRow).count(), s.query(ProposalRow).count()


def test_the_parameter_form_asks_for_the_preview_by_get(client):
    page_login(client, "coord_a")
    html = client.get("/runs/new", params={"area": "area-a"}).text
    form = re.search(r'<form method="(\w+)" action="/runs/preview".*?</form>', html, re.S)
    assert form and form.group(1) == "get"
    assert "csrf_token" not in form.group(0)  # it would end up in the URL and the history


def test_preview_by_get_stores_nothing_and_confirm_redirects(client):
    page_login(client, "coord_a")
    preview = client.get("/runs/preview", params=RUN_PARAMS)
    assert preview.status_code == 200, preview.text[-1500:]
    assert "まだ保存していません" in preview.text and 'id="confirm-run"' in preview.text
    assert stored(client) == (0, 0)
    confirm = re.search(r'<form method="post" action="/runs/confirm".*?</form>', preview.text, re.S)
    assert confirm and 'name="csrf_token"' in confirm.group(0)
    r = client.post("/runs/confirm", data={**RUN_PARAMS, "csrf_token": csrf_of(preview.text)})
    assert r.status_code == 303
    location = r.headers["location"]
    assert re.fullmatch(r"/runs/\d+|/runs/progress/\d+", location), location
    client.app.state.jobs.join_all()
    page = client.get(location, follow_redirects=True)
    assert page.status_code == 200 and "前回との比較" in page.text
    assert re.fullmatch(r"/runs/\d+", page.url.path)
    assert stored(client)[0] == 1
    # reloading the run's page (a GET) starts nothing
    client.get(page.url.path)
    assert stored(client)[0] == 1


def test_a_viewer_gets_no_preview(client):
    page_login(client, "viewer_a")
    assert client.get("/runs/preview", params=RUN_PARAMS).status_code == 403


@pytest.fixture()
def server(tmp_path):
    require_browser()
    app = make_app(tmp_path, run_wait=30.0)  # the confirm answers with the run, not its progress
    with serve(app) as url:
        yield url
    app.state.jobs.join_all()
    app.state.store.dispose()


def test_back_after_confirm_shows_the_preview_not_a_resubmission(server):
    with browser_page() as page:
        page.goto(server + "/login")
        browser_login(page, server, "coord_a")
        page.goto(server + "/runs/new?" + urlencode({"area": "area-a"}))
        page.click("#preview-button")
        page.wait_for_selector("#confirm-run")
        preview_url = page.url
        assert "/runs/preview?" in preview_url and "csrf_token" not in preview_url
        page.click("#confirm-run")
        page.wait_for_selector("#run-done", timeout=60_000)
        assert re.search(r"/runs/\d+$", page.url)
        page.go_back()  # a POST result here would be Chromium's ERR_CACHE_MISS page
        page.wait_for_selector("#confirm-run")
        assert page.url == preview_url
        assert "まだ保存していません" in page.inner_text("main")
