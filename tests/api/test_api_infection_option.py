"""The 第二種協定 preference as a run option of the web form and the API: offered, previewed,
carried through the confirm form and recorded in the run's parameters."""

from __future__ import annotations

import re

from api_support import PASSWORD, csrf_of, page_login, run_form

FOLLOW_REDIRECTS = False


def test_run_form_offers_previews_and_records_the_preference(client) -> None:
    page_login(client, "coord_a")
    form = client.get("/runs/new", params={"area": "area-a"}).text
    token = csrf_of(form)
    assert 'name="prefer_infection_agreement"' in form and "第二種協定指定医療機関" in form
    data = run_form(token, prefer_infection_agreement="0.5")
    preview = client.post("/runs/preview", data=data)
    assert preview.status_code == 200, preview.text[-2000:]
    shown = re.search(r'<dd id="preview-infection">(.*?)</dd>', preview.text, re.S)
    assert shown is not None and "50% 割り引いて" in shown.group(1)
    hidden = 'name="prefer_infection_agreement" value="0.5"'
    assert hidden in preview.text  # carried to the confirm form
    assert client.post("/runs/confirm", data=data).status_code == 303
    client.app.state.jobs.join_all()
    with client.app.state.store.read() as s:
        from matcher.store.models import RunRow

        run = s.query(RunRow).one()
        assert run.params["prefer_infection_agreement"] == 0.5


def test_api_refuses_a_discount_of_one(client) -> None:
    r = client.post("/api/session", json={"username": "coord_a", "password": PASSWORD})
    headers = {"X-CSRF-Token": r.json()["csrf_token"]}
    bad = client.post(
        "/api/runs",
        json={"area_code": "area-a", "prefer_infection_agreement": 1.0},
        headers=headers,
    )
    assert bad.status_code == 422
