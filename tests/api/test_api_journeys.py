"""The coordinator's main journeys in headless Chromium, with an axe-core check of every page.

Find a facility in the list, propose an institution, mark it contacted with a note, agree,
re-plan with a preview, download the run's reports and letters; the prefecture's audit page;
the map without a tile server (the bundled background). Each page is checked with axe-core
(vendored in ``api/static/vendor/axe-core``): no serious or critical violation. Screenshots go
to ``out/test-artifacts/journeys/`` (kept by CI as artifacts; ``out/`` is not versioned).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from api_support import CHROMIUM, PASSWORD, make_app, require_browser, serve

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "journeys"
AXE = "/static/vendor/axe-core/axe.min.js"
BLOCKING = ("serious", "critical")


@pytest.fixture()
def server(tmp_path):
    require_browser()
    app = make_app(tmp_path, tiles_url="http://127.0.0.1:9/{z}/{x}/{y}.png")
    with serve(app) as url:
        yield url
    app.state.jobs.join_all()
    app.state.store.dispose()


@pytest.fixture(scope="module", autouse=True)
def _fresh_summary():
    (ARTIFACTS / "axe-summary.txt").unlink(missing_ok=True)


@pytest.fixture()
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Journey:
    """A page with a screenshot and an axe-core check at every step."""

    def __init__(self, page, base: str, name: str) -> None:
        self.page, self.base, self.name, self.step = page, base, name, 0
        self.checked: dict[str, list[str]] = {}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def check(self, label: str) -> None:
        """Screenshot the page and fail on any serious or critical axe-core violation."""
        self.step += 1
        self.page.screenshot(
            path=str(ARTIFACTS / f"{self.name}-{self.step:02d}-{label}.png"), full_page=True
        )
        self.page.add_script_tag(url=self.base + AXE)
        violations = self.page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
            }"""
        )
        self.checked[label] = [f"{v['impact']}:{v['id']}" for v in violations]
        with (ARTIFACTS / "axe-summary.txt").open("a", encoding="utf-8") as out:
            found = ", ".join(self.checked[label]) or "none"
            out.write(f"{self.name}-{self.step:02d}-{label}\t{self.page.url}\t{found}\n")
        bad = [v for v in violations if v["impact"] in BLOCKING]
        assert not bad, f"axe-core ({self.page.url}): {bad}"

    def login(self, username: str, path: str = "/") -> None:
        self.page.goto(self.base + path)
        assert "/login" in self.page.url
        self.check("login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.press("input[name=password]", "Enter")  # the keyboard submits the form
        self.page.wait_for_url(lambda url: "/login" not in url)


def test_coordinator_journey(server, browser, tmp_path):
    page = browser.new_page(accept_downloads=True)
    j = Journey(page, server, "coordinator")
    # the login keeps where the coordinator was going, query included
    j.login("coord_a", "/facilities?kind=gh")
    assert page.url.endswith("/facilities?kind=gh")
    j.check("facilities-gh")

    # find a facility: search by name in the list
    page.goto(server + "/facilities")
    page.fill("#f-q", "あおば")
    page.press("#f-q", "Enter")
    page.wait_for_url("**q=*")
    assert page.locator("#facility-table tbody tr[data-facility]").count() == 1
    j.check("facilities-search")
    page.click("#facility-table >> text=あおばグループホーム")
    page.wait_for_selector("#facility-summary")
    assert page.get_attribute("#facility-status", "data-status") == "partial"
    assert "②診療" in page.inner_text("#facility-missing")
    j.check("facility")

    # propose the nearest candidate (confirmation with an optional note)
    row = page.locator('#candidates tr[data-institution="I1"]')
    row.locator("summary").click()
    row.locator("textarea").fill("近いので第一候補")
    row.locator("button.act-propose").click()
    page.wait_for_selector(".flash")
    assert page.locator("#proposals tr[data-status=proposed]").count() == 1
    j.check("proposed")

    # mark contacted with a note: the confirmation opens, the note is kept in the history
    prop = page.locator("#proposals tr[data-status=proposed]").first
    prop.locator("summary", has_text="打診した").click()
    prop.locator("textarea").first.fill("院長に電話、来週回答")
    j.check("contact-confirm")
    prop.locator("button.act-contacted").click()
    page.wait_for_selector("#proposals tr[data-status=contacted]")
    assert "②診療" in page.inner_text("#facility-pending")
    page.locator("#proposals tr[data-status=contacted] >> text=履歴").click()
    page.wait_for_selector("#history")
    assert "院長に電話、来週回答" in page.inner_text("#history")
    j.check("proposal-history")

    # agree from the proposal's page, with the keyboard only
    page.locator("details.action summary", has_text="合意した").focus()
    page.keyboard.press("Enter")  # opens the confirmation
    page.keyboard.press("Tab")  # the note
    page.keyboard.type("文書で合意")
    page.keyboard.press("Tab")  # the confirm button
    assert page.evaluate("document.activeElement.className") == "act-agreed"
    page.keyboard.press("Enter")
    page.wait_for_selector('#proposal-status[data-status="agreed"]')
    assert "文書で合意" in page.inner_text("#history")
    page.click("text=あおばグループホーム")
    page.wait_for_selector("#facility-summary")
    assert page.get_attribute("#facility-status", "data-status") == "all"
    assert "探す必要はありません" in page.inner_text("#facility-summary")
    j.check("facility-covered")

    # institutions: remaining capacity went down by the agreement
    page.click("nav >> text=医療機関一覧")
    page.wait_for_selector("#institution-table")
    assert "1 / 2" in page.inner_text('#institution-table tr[data-institution="I1"]')
    j.check("institutions")

    # re-plan with a preview, then confirm; the run's page shows the changes and downloads
    page.click("nav >> text=再計算")
    page.select_option("#r-area", "area-a")
    j.check("run-new")
    page.click("#preview-button")
    page.wait_for_selector("#preview-changes")
    assert int(page.inner_text('#preview-counts [data-change="new"]')) >= 1
    j.check("run-preview")
    page.click("#confirm-run")
    page.wait_for_selector("#run-done", timeout=60_000)
    assert "最適化" in page.inner_text("#run-compare")
    j.check("run")

    # download the letters (the run's reports: per-institution requests and notices)
    with page.expect_download() as got:
        page.click("#run-downloads >> text=帳票一式(ZIP")
    target = tmp_path / "reports.zip"
    got.value.save_as(target)
    with zipfile.ZipFile(target) as z:
        names = z.namelist()
    assert any("index.html" in n for n in names), names
    (ARTIFACTS / "coordinator-reports-contents.txt").write_text("\n".join(names), "utf-8")

    # the other pages a coordinator opens, each checked
    for path, label in (
        ("/", "dashboard"),
        ("/proposals", "proposals"),
        ("/imports", "imports"),
        ("/institutions/I1/print", "print"),
        ("/facilities/NOPE", "not-found"),
    ):
        page.goto(server + path)
        j.check(label)
    assert page.locator("nav >> text=施設一覧").count() == 1  # the error page keeps the menu

    # the map without a tile server: the bundled outline and municipality names
    page.goto(server + "/map")
    page.wait_for_selector("#map[data-loaded]")
    page.wait_for_selector("#map[data-fallback_drawn]")
    assert page.locator(".fallback-label").count() >= 1
    assert page.locator("path.fallback-outline").count() == 1
    j.check("map")


def test_prefecture_and_viewer_pages(server, browser):
    page = browser.new_page()
    j = Journey(page, server, "prefecture")
    j.login("pref")
    page.click("nav >> text=変更履歴")
    page.wait_for_selector("#audit-table")
    j.check("audit")
    page.goto(server + "/facilities?status=unknown&sort=name")
    assert page.locator("#facility-table tbody tr[data-facility]").count() == 1
    j.check("facilities-unknown")

    viewer = browser.new_page()
    v = Journey(viewer, server, "viewer")
    v.login("viewer_a")
    assert viewer.locator("nav >> text=取り込み").count() == 0
    assert viewer.locator("nav >> text=再計算").count() == 0
    viewer.goto(server + "/imports")
    assert viewer.locator("form[action='/imports']").count() == 0
    v.check("imports")
    viewer.goto(server + "/facilities/FA1")
    assert viewer.locator("summary", has_text="提案する").count() == 0
    v.check("facility")
