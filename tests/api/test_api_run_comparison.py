"""Issue 15: "この提案 vs 近い順に依頼した場合" is computed once with the run (the greedy baseline
on the same input, kept in its counts) and shown on the run page and the dashboard."""

from __future__ import annotations

import re

from api_support import make_app
from fastapi.testclient import TestClient
from test_api_workspace import page_login

from matcher.match import match
from matcher.model import Instance
from matcher.result import BASELINE_KEYS, baseline_of_counts
from matcher.store.models import RunRow
from matcher.store.planning import run_plan
from matcher.store.report_input import run_input


def test_match_keeps_the_greedy_baseline_of_the_same_input(kochi_small: Instance) -> None:
    result = match(kochi_small)
    greedy = match(kochi_small, mode="greedy")
    assert result.baseline is not None and greedy.baseline is not None
    assert greedy.baseline.key()[:4] == greedy.objective.key()[:4]
    assert result.baseline.key()[:4] == greedy.objective.key()[:4]
    assert abs(result.baseline.distance_km - greedy.objective.distance_km) < 1e-3
    assert result.objective.at_least(result.baseline)
    assert baseline_of_counts({}) is None


def test_run_page_and_dashboard_show_the_comparison(tmp_path) -> None:
    app = make_app(tmp_path)
    try:
        report = run_plan(app.state.store, "area-a", actor="test")
        with app.state.store.read() as s:
            run = s.get(RunRow, report.run_id)
            assert run is not None and all(k in run.counts for k in BASELINE_KEYS)
            # the stored run's reports use the same baseline (no second greedy run)
            assert run_input(s, report.run_id).result.baseline == report.result.baseline
        with TestClient(app, follow_redirects=False) as c:
            page_login(c, "coord_a")
            html = c.get(f"/runs/{report.run_id}").text
            table = html.split('id="run-comparison"')[1].split("</table>")[0]
            assert "この提案 vs 近い順に依頼した場合" in html
            cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', table)
            assert cells[:2] == [
                str(run.mandatory_full),
                str(report.result.baseline.mandatory_full),
            ]
            dash = c.get("/").text
            assert f'id="latest-comparison-{report.run_id}"' in dash
    finally:
        app.state.store.dispose()
