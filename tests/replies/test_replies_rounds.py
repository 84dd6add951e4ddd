"""Rounds on the dashboard (letters sent, answered, outstanding, days to the deadline), and a
decline through a link offering the re-plan preview of its area with the run's parameters at
once — gone once a run planned around it; the preview's URL says what the run said."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from urllib.parse import parse_qsl, urlsplit

from api_support import login
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.render import run_preview_url
from api.routes.workspace import RunForm
from matcher.params import MatchParams
from matcher.store.planning import run_plan
from matcher.store.replies import (
    IssuedLink,
    LetterAnswer,
    RowAnswer,
    issue_links,
    letter_view,
    record_answer,
    today_jst,
)
from matcher.vocab import Capability

FOLLOW_REDIRECTS = False
# the product counts days in JST (``store.replies.today_jst``): from 15:00 UTC it is tomorrow there
DEADLINE = today_jst() + dt.timedelta(days=9)
PARAMS = MatchParams(
    max_km={Capability.CONSULT: 25.0, Capability.CARE: 12.0, Capability.ADMIT: 40.0},
    max_new_partners=1,
    prefer_infection_agreement=0.25,
)


def _round(app: FastAPI) -> tuple[int, dict[str, IssuedLink]]:
    report = run_plan(app.state.store, "area-a", PARAMS, actor="t")
    assert report.run_id is not None
    with app.state.store.write() as s:
        links = issue_links(s, report.run_id, DEADLINE, "coord_a")
    return report.run_id, {x.recipient_id: x for x in links}


def _decline(app: FastAPI, link: IssuedLink, channel: str = "link") -> int:
    with app.state.store.write() as s:
        pid = letter_view(s, link.letter_id).rows[0].proposal_id
        record_answer(
            s, link.letter_id, LetterAnswer((RowAnswer(pid, "decline", "満床"),)), channel, "x"
        )  # type: ignore[arg-type]
    return pid


def test_the_dashboard_shows_each_round(app: FastAPI, client: TestClient) -> None:
    run_id, links = _round(app)
    _decline(app, links["I1"])
    login(client, "coord_a")
    page = client.get("/")
    assert page.status_code == 200
    row = re.search(rf'<tr data-run="{run_id}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    cells = dict(re.findall(r'data-round="(\w+)">(-?\d+)<', row.group(1)))
    assert cells == {"sent": "4", "answered": "1", "outstanding": "3", "held": "0", "days": "9"}
    login(client, "coord_b")  # another area's coordinator sees no round of area A
    assert f'data-run="{run_id}"' not in client.get("/").text


def test_a_decline_offers_the_replan_preview_at_once(app: FastAPI, client: TestClient) -> None:
    run_id, links = _round(app)
    login(client, "coord_a")
    assert 'class="replan-link"' not in client.get("/").text
    pid = _decline(app, links["I1"])
    _decline(app, links["I2"], channel="coordinator")  # typed by the coordinator: they know
    for path in ("/", "/replies", f"/replies/letters/{links['I1'].letter_id}"):
        text = client.get(path).text
        hrefs = re.findall(r'class="replan-link" href="([^"]+)"', text)
        assert len(hrefs) == 1, path
        assert f'data-proposal="{pid}"' in text
    url = hrefs[0].replace("&amp;", "&")
    assert url == run_preview_url("area-a", "optimal", PARAMS)
    preview = client.get(url)
    assert preview.status_code == 200 and "再計算の確認" in preview.text
    assert "12.0 km" in preview.text and "25% 割り引いて" in preview.text  # the run's parameters
    login(client, "viewer_a")  # a viewer is told, without the link it may not follow
    text = client.get("/").text
    assert f'data-proposal="{pid}"' in text and 'class="replan-link"' not in text
    run_plan(app.state.store, "area-a", PARAMS, actor="t")  # planned around it
    login(client, "coord_a")
    assert f'data-proposal="{pid}"' not in client.get("/").text


def test_the_preview_url_carries_the_runs_parameters() -> None:
    url = run_preview_url("area-a", "greedy", PARAMS, note="辞退の後")
    parts = urlsplit(url)
    assert parts.path == "/runs/preview"
    form = RunForm.model_validate(dict(parse_qsl(parts.query)))
    request = form.run_in("query").request()
    assert (request.area_code, request.mode, request.note) == ("area-a", "greedy", "辞退の後")
    assert request.params == PARAMS
    narrow = dataclasses.replace(PARAMS, include_unknown=False)
    form = RunForm.model_validate(
        dict(parse_qsl(urlsplit(run_preview_url("a", "optimal", narrow)).query))
    )
    assert form.run_in("query").request().params == narrow
    default = RunForm.model_validate(
        dict(parse_qsl(urlsplit(run_preview_url("x", "optimal", MatchParams())).query))
    )
    assert default.run_in("query").request().params == MatchParams()
