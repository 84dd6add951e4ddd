"""The run preview (a GET that solves a dry run) answers only requests made from this site, and a
user computes at most ``PREVIEWS_PER_USER`` previews at once (``api.security.previews``).

A link or an image on another site must not make a logged-in coordinator's browser start
solves: ``Sec-Fetch-Site: cross-site`` (or ``same-site``, a sibling host) — or, from a browser
without it, an ``Origin``/``Referer`` of another site — gets a Japanese page that solves
nothing and offers the same parameters as a button of this site. In Chromium: a link on another
origin is refused, the button then shows the preview."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest
from api_support import RUN_PARAMS, browser_login, browser_page, make_app, page_login, serve

from api.security.previews import PREVIEWS_PER_USER, PreviewBusy, PreviewSlots, preview_slots
from api.users import find_user
from matcher.usecases import runs

FOLLOW_REDIRECTS = False


@pytest.fixture()
def solves(monkeypatch) -> list[str]:
    """The areas previewed (every call of the use case that solves)."""
    calls: list[str] = []
    real = runs.preview_run

    def counted(uow, actor, request):
        calls.append(request.area_code)
        return real(uow, actor, request)

    monkeypatch.setattr(runs, "preview_run", counted)
    return calls


REFUSED = [
    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling host of the same domain is another origin
    {"Referer": "https://evil.example/page.html"},  # a browser without Fetch Metadata
    {"Origin": "https://evil.example"},
]
ANSWERED = [
    {},  # no browser (curl, the test client): nothing says where it came from
    {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"},
    {"Sec-Fetch-Site": "none"},  # typed or a bookmark
    {"Referer": "http://testserver/runs/new?area=area-a"},
]


@pytest.mark.parametrize("headers", REFUSED)
def test_a_cross_site_preview_solves_nothing(client, solves, headers):
    page_login(client, "coord_a")
    r = client.get("/runs/preview", params=RUN_PARAMS, headers=headers)
    assert r.status_code == 403
    assert solves == []
    assert 'id="preview-refused"' in r.text and "別のサイト" in r.text
    assert 'id="confirm-run"' not in r.text and "csrf_token" not in r.text.split("<main")[-1]
    # the same parameters, as a form of this site (GET: no token in the URL)
    assert 'action="/runs/preview"' in r.text and 'name="consult_km" value="30' in r.text


@pytest.mark.parametrize("headers", ANSWERED)
def test_a_same_origin_preview_is_computed(client, solves, headers):
    page_login(client, "coord_a")
    r = client.get("/runs/preview", params=RUN_PARAMS, headers=headers)
    assert r.status_code == 200, r.text[-1500:]
    assert 'id="confirm-run"' in r.text and solves == ["area-a"]


def test_the_posted_preview_keeps_its_csrf_check(client, solves):
    page_login(client, "coord_a")
    r = client.post("/runs/preview", data=RUN_PARAMS)  # no token
    assert r.status_code == 403 and solves == []


def test_previews_are_bounded_per_user(client, app, solves):
    page_login(client, "coord_a")
    with app.state.store.read() as s:
        coord_a = find_user(s, "coord_a")
        prefecture = find_user(s, "pref")
    assert coord_a is not None and prefecture is not None
    slots = PreviewSlots()
    app.state.preview_slots = slots
    held = [slots.hold(coord_a.id) for _ in range(PREVIEWS_PER_USER)]
    for h in held:
        h.__enter__()
    try:
        r = client.get("/runs/preview", params=RUN_PARAMS)
        assert r.status_code == 429 and r.headers["retry-after"] == "5"
        assert "再計算の確認はすでに" in r.text and solves == []
        assert slots.busy(coord_a.id) == PREVIEWS_PER_USER
        assert slots.busy(prefecture.id) == 0  # another user is not held up by coord_a's
    finally:
        for h in held:
            h.__exit__(None, None, None)
    assert slots.busy(coord_a.id) == 0
    r = client.get("/runs/preview", params=RUN_PARAMS)
    assert r.status_code == 200 and solves == ["area-a"]
    assert slots.busy(coord_a.id) == 0  # released after the page


def test_a_failed_preview_releases_its_slot(client, app, monkeypatch):
    page_login(client, "coord_a")

    def broken(uow, actor, request):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(runs, "preview_run", broken)
    with pytest.raises(RuntimeError):
        client.get("/runs/preview", params=RUN_PARAMS)
    with app.state.store.read() as s:
        user = find_user(s, "coord_a")
    assert user is not None and preview_slots_of(app).busy(user.id) == 0


def preview_slots_of(app) -> PreviewSlots:
    class _Request:  # ``preview_slots`` reads only ``request.app``
        def __init__(self, app) -> None:
            self.app = app

    return preview_slots(_Request(app))  # type: ignore[arg-type]


def test_slots_count_per_user_across_threads():
    slots = PreviewSlots(per_user=2)
    inside, release = threading.Barrier(3), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with slots.hold(7):
                inside.wait(10)
                release.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait(10)  # both hold a slot now
    with pytest.raises(PreviewBusy, match="1 人 2 件まで"):
        with slots.hold(7):
            pass
    with slots.hold(8):  # another user
        assert slots.busy(8) == 1
    release.set()
    for t in threads:
        t.join(10)
    assert not errors and slots.busy(7) == 0


@pytest.fixture()
def server(tmp_path):
    from api_support import require_browser

    require_browser()
    app = make_app(tmp_path)
    with serve(app) as url:
        yield url
    app.state.jobs.join_all()
    app.state.store.dispose()


def test_in_chromium_another_sites_link_is_refused_then_the_button_previews(server, solves):
    target = server + "/runs/preview?" + urlencode(RUN_PARAMS)
    with browser_page() as page:
        page.goto(server + "/login")
        browser_login(page, server, "coord_a")
        # another site (served by the browser itself) with a link and an image to the preview
        page.route(
            "http://other-site.test/**",
            lambda route: route.fulfill(
                content_type="text/html; charset=utf-8",
                body=f'<img src="{target}" alt=""><a id="go" href="{target}">確認</a>',
            ),
        )
        page.goto("http://other-site.test/")
        page.click("#go")
        page.wait_for_selector("#preview-refused")
        assert page.url == target
        assert solves == []  # neither the image nor the link solved anything
        page.click("#preview-anyway")  # the coordinator's own click, on this site
        page.wait_for_selector("#confirm-run")
        assert "まだ保存していません" in page.inner_text("main")
        assert solves == ["area-a"]


def test_preview_starts_per_user_are_counted_across_workers(tmp_path, solves):
    """Two apps on one database (two workers): a user's preview starts share one window of
    ``PREVIEWS_PER_MINUTE`` (here 3 per 60 s on a clock the test moves); the refused ones solve
    nothing and say when to come back; another user is not held up; the window passes."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.security.public import RateWindow

    now = [1_900_000_000.0]
    first = make_app(tmp_path)
    url = first.state.store.engine.url.render_as_string(hide_password=False)
    second = create_app(url, secret_key="test-secret", tiles_url="")
    for app in (first, second):
        app.state.preview_rate = RateWindow(3, 60.0, "preview-user", clock=lambda: now[0])
    try:
        a, b = TestClient(first, follow_redirects=False), TestClient(second, follow_redirects=False)
        for c in (a, b):
            page_login(c, "coord_a")
        codes = [c.get("/runs/preview", params=RUN_PARAMS).status_code for c in (a, b, a)]
        assert codes == [200, 200, 200] and len(solves) == 3
        refused = b.get("/runs/preview", params=RUN_PARAMS)  # the fourth, on the other worker
        assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
        assert "1 人 1 分あたり 3 件まで" in refused.text and len(solves) == 3
        other = TestClient(first, follow_redirects=False)
        page_login(other, "pref")
        assert other.get("/runs/preview", params=RUN_PARAMS).status_code == 200
        now[0] += 60.0
        assert a.get("/runs/preview", params=RUN_PARAMS).status_code == 200
    finally:
        for app in (first, second):
            app.state.jobs.join_all()
            app.state.store.dispose()
