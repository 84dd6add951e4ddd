"""The API's contract: each response model names the fields of the use case's view it documents,
every JSON route declares one, and the JSON answers carry exactly those fields; the run's
defaults are ``MatchParams``'."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from api_support import login, make_app
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api import schemas
from api.labels import ACTION_LABELS_JA
from api.routes.workspace import RunForm
from matcher.params import MatchParams
from matcher.usecases import views
from matcher.usecases.proposals import ACTION_ORDER
from matcher.usecases.runs import RunRequest
from matcher.vocab import Status

# response model → the view it describes
PAIRS: dict[type[BaseModel], type] = {
    schemas.FacilityOut: views.FacilityView,
    schemas.FacilityListOut: views.FacilityListView,
    schemas.PartnerOut: views.PartnerView,
    schemas.InstitutionOut: views.InstitutionView,
    schemas.ProposalOut: views.ProposalView,
    schemas.HistoryOut: views.HistoryView,
    schemas.ProposalDetailOut: views.ProposalDetailView,
    schemas.InstitutionDetailOut: views.InstitutionDetailView,
    schemas.CandidateOut: views.CandidateView,
    schemas.FacilityDetailOut: views.FacilityDetailView,
    schemas.AreaOut: views.AreaView,
    schemas.AreaDetailOut: views.AreaDetailView,
    schemas.StatusColumnOut: views.StatusColumnView,
    schemas.StatusRowOut: views.StatusRowView,
    schemas.StatusTableOut: views.StatusTableView,
    schemas.MapFacilityOut: views.MapFacilityView,
    schemas.MapInstitutionOut: views.MapInstitutionView,
    schemas.MapProposalOut: views.MapProposalView,
    schemas.MapOut: views.MapView,
    schemas.OutlineOut: views.OutlineView,
    schemas.TownOut: views.TownView,
    schemas.MapBackgroundOut: views.MapBackgroundView,
    schemas.RunOut: views.RunView,
    schemas.RunChangeOut: views.RunChangeView,
    schemas.RunDetailOut: views.RunDetailView,
    schemas.JobOut: views.JobView,
    schemas.JobStartedOut: views.JobStartedView,
    schemas.AuditOut: views.AuditLogEntryView,
    schemas.IssueOut: views.IssueView,
    schemas.RejectOut: views.RejectView,
    schemas.ImportCountsOut: views.ImportCountsView,
    schemas.ImportOut: views.ImportResultView,
}
MODEL_OF = {v: m for m, v in PAIRS.items()}


def _nested(annotation: object) -> set[type]:
    """The classes named inside an annotation (``list[X] | None`` → {X})."""
    if isinstance(annotation, type):
        return {annotation}
    found: set[type] = set()
    for arg in typing.get_args(annotation):
        found |= _nested(arg)
    return found


@pytest.mark.parametrize("model", list(PAIRS), ids=lambda m: m.__name__)
def test_a_model_names_its_views_fields(model: type[BaseModel]) -> None:
    view = PAIRS[model]
    assert list(model.model_fields) == [f.name for f in dataclasses.fields(view)]
    hints = typing.get_type_hints(view, vars(views))
    for name, field in model.model_fields.items():
        # a nested model describes the nested view (list[CandidateOut] ↔ tuple[CandidateView])
        models = {m for m in _nested(field.annotation) if issubclass(m, BaseModel)}
        assert {MODEL_OF.get(v) for v in _nested(hints[name]) if v in MODEL_OF} == models, name


def test_every_view_has_a_model() -> None:
    # the views defined there and those it takes from the store (``ProposalView``)
    dataclass_views = {
        v
        for name, v in vars(views).items()
        if isinstance(v, type)
        and dataclasses.is_dataclass(v)
        and (v.__module__ == views.__name__ or name.endswith("View"))
    }
    assert dataclass_views == set(MODEL_OF)


def test_no_model_accepts_unnamed_fields() -> None:
    models = [m for m in vars(schemas).values() if isinstance(m, type) and issubclass(m, BaseModel)]
    assert len(models) > 30
    assert [m.__name__ for m in models if m.model_config.get("extra") == "allow"] == []


def test_the_status_row_has_a_column_per_status() -> None:
    fields = {f.name for f in dataclasses.fields(views.StatusRowView)}
    for s in Status:
        assert {s.value, f"share_{s.value}"} <= fields


# --- the answers carry the views' fields ---------------------------------------------------------


def _keys(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("views"), run_wait=30.0)
    with TestClient(app) as c:
        h = login(c, "coord_a")
        r = c.post("/api/runs", json={"area_code": "area-a"}, headers=h)
        assert r.status_code == 201, r.text
        c.headers.update(h)
        yield c
    app.state.jobs.join_all()
    app.state.store.dispose()


def test_answers_have_their_models_fields(client) -> None:
    run = client.get("/api/runs").json()[0]
    assert set(run) == _keys(schemas.RunOut)
    detail = client.get(f"/api/runs/{run['id']}").json()
    assert set(detail) == _keys(schemas.RunDetailOut)
    assert set(detail["changes"][0]) == _keys(schemas.RunChangeOut)
    facility = client.get("/api/facilities/FA1").json()
    assert set(facility) == _keys(schemas.FacilityDetailOut)
    assert set(facility["candidates"][0]) == _keys(schemas.CandidateOut)
    assert set(facility["proposals"][0]) == _keys(schemas.ProposalOut)
    listed = client.get("/api/facilities").json()
    assert set(listed["items"][0]) == _keys(schemas.FacilityOut)
    proposal = client.get(f"/api/proposals/{facility['proposals'][0]['id']}").json()
    assert set(proposal) == _keys(schemas.ProposalDetailOut)
    assert set(proposal["history"][0]) == _keys(schemas.HistoryOut)
    table = client.get("/api/status-table").json()
    assert set(table["rows"][0]) == _keys(schemas.StatusRowOut)
    layers = client.get("/api/map").json()
    assert set(layers["facilities"][0]) == _keys(schemas.MapFacilityOut)
    assert set(client.get("/api/institutions/I1").json()) == _keys(schemas.InstitutionDetailOut)
    assert set(client.get("/api/audit").json()[0]) == _keys(schemas.AuditOut)
    assert set(client.get("/api/areas/area-a").json()) == _keys(schemas.AreaDetailOut)


def _named_fields(schema: dict) -> bool:
    """Whether a JSON schema names its fields (a model), not "any object" or "anything"."""
    if "$ref" in schema or "properties" in schema:
        return True
    if schema.get("type") == "array":
        return _named_fields(schema.get("items", {}))
    return any(_named_fields(s) for s in schema.get("anyOf", []) if s.get("type") != "null")


@pytest.mark.parametrize(
    "schema, named",
    [
        ({}, False),
        ({"type": "object", "additionalProperties": True}, False),
        ({"type": "array", "items": {}}, False),
        ({"$ref": "#/components/schemas/RunOut"}, True),
        ({"type": "array", "items": {"$ref": "#/components/schemas/AreaOut"}}, True),
    ],
)
def test_the_model_check_bites(schema: dict, named: bool) -> None:
    assert _named_fields(schema) is named


def test_every_json_answer_has_a_model(client) -> None:
    spec = client.get("/openapi.json").json()
    answers = [
        (f"{method.upper()} {path} {code}", body["content"]["application/json"]["schema"])
        for path, operations in spec["paths"].items()
        if path.startswith("/api/")
        for method, op in operations.items()
        for code, body in op["responses"].items()
        if code.startswith("2") and "application/json" in body.get("content", {})
    ]
    assert len(answers) > 20
    assert [name for name, schema in answers if not _named_fields(schema)] == []


def test_the_openapi_schema_documents_the_fields(client) -> None:
    spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/api/facilities/{facility_id}"]["get"]["responses"]["200"]
    ref = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    documented = spec["components"]["schemas"][ref]["properties"]
    assert {"status", "missing", "candidates", "alternatives"} <= set(documented)
    assert "description" in documented["pending"]


def test_every_action_has_a_button() -> None:
    assert tuple(ACTION_LABELS_JA) == ACTION_ORDER


# --- the run's defaults ------------------------------------------------------------------------


def test_run_defaults_are_match_params() -> None:
    assert schemas.RunIn(area_code="x").request() == RunRequest("x")
    assert schemas.RunIn(area_code="x").request().params == MatchParams()
    form = RunForm(area_code="x").run_in("query")
    assert form.request().params == MatchParams(include_unknown=False)  # unticked box: off
    assert RunForm(area_code="x", include_unknown="1").run_in("query").request() == RunRequest("x")
