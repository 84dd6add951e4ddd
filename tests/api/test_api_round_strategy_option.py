"""The round strategy (issue 23 item 7) as a run option of the web form, the API and the CLI:
offered with the vocabulary's labels, previewed, carried through the confirm form and recorded
in the run's parameters; an unknown value is refused."""

from __future__ import annotations

import re

from api_support import PASSWORD, csrf_of, page_login, run_form
from typer.testing import CliRunner

from matcher.cli import app as cli_app
from matcher.vocab import RoundStrategy

FOLLOW_REDIRECTS = False


def test_run_form_offers_previews_and_records_the_strategy(client) -> None:
    page_login(client, "coord_a")
    form = client.get("/runs/new", params={"area": "area-a"}).text
    token = csrf_of(form)
    assert 'name="round_strategy"' in form
    assert all(s.label_ja in form for s in RoundStrategy)
    data = run_form(token, round_strategy="reserve+backups")
    preview = client.post("/runs/preview", data=data)
    assert preview.status_code == 200, preview.text[-2000:]
    shown = re.search(r'<dd id="preview-round">(.*?)</dd>', preview.text, re.S)
    assert shown is not None and shown.group(1) == RoundStrategy.RESERVE_BACKUPS.label_ja
    assert 'name="round_strategy" value="reserve+backups"' in preview.text  # to the confirm form
    assert client.post("/runs/confirm", data=data).status_code == 303
    client.app.state.jobs.join_all()
    with client.app.state.store.read() as s:
        from matcher.store.models import RunRow

        run = s.query(RunRow).one()
        assert run.params["round_strategy"] == "reserve+backups"


def test_api_takes_the_strategy_and_refuses_an_unknown_one(client) -> None:
    r = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD})
    headers = {"X-CSRF-Token": r.json()["csrf_token"]}
    bad = client.post(
        "/api/runs", json={"area_code": "area-a", "round_strategy": "always"}, headers=headers
    )
    assert bad.status_code == 422
    ok = client.post(
        "/api/runs", json={"area_code": "area-a", "round_strategy": "backups"}, headers=headers
    )
    assert ok.status_code in (201, 202), ok.text
    client.app.state.jobs.join_all()
    with client.app.state.store.read() as s:
        from matcher.store.models import RunRow

        assert s.query(RunRow).one().params["round_strategy"] == "backups"


def test_cli_run_takes_the_strategy(tmp_path) -> None:
    from store_fixtures import seed_small_region

    from matcher.store.db import open_store

    url = f"sqlite:///{tmp_path / 'k.db'}"
    store = open_store(url, upgrade=True)
    seed_small_region(store)
    store.dispose()
    runner = CliRunner()
    bad = runner.invoke(cli_app, ["run", "--area", "39", "--round-strategy", "x", "--db", url])
    assert bad.exit_code == 2 and "round_strategy" in bad.output
    r = runner.invoke(
        cli_app, ["run", "--area", "39", "--round-strategy", "reserve+backups", "--db", url]
    )
    assert r.exit_code == 0, r.output
    assert RoundStrategy.RESERVE_BACKUPS.label_ja in r.output.replace("\n", "")


def test_api_and_cli_take_the_hold_strategies(client, tmp_path) -> None:
    """``hold`` and ``reserve+hold`` (``matcher.store.holds``) are run options like the others."""
    r = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD})
    headers = {"X-CSRF-Token": r.json()["csrf_token"]}
    ok = client.post(
        "/api/runs", json={"area_code": "area-a", "round_strategy": "hold"}, headers=headers
    )
    assert ok.status_code in (201, 202), ok.text
    client.app.state.jobs.join_all()
    with client.app.state.store.read() as s:
        from matcher.store.models import RunRow

        assert s.query(RunRow).one().params["round_strategy"] == "hold"
    from store_fixtures import seed_small_region

    from matcher.store.db import open_store

    url = f"sqlite:///{tmp_path / 'h.db'}"
    store = open_store(url, upgrade=True)
    seed_small_region(store)
    store.dispose()
    cli = CliRunner().invoke(
        cli_app, ["run", "--area", "39", "--round-strategy", "reserve+hold", "--db", url]
    )
    assert cli.exit_code == 0, cli.output
    assert RoundStrategy.RESERVE_HOLD.label_ja in cli.output.replace("\n", "")
