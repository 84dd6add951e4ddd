"""The coordinator's workspace pages: facility, institution and proposal lists (search, filters,
sorting, pages, all in the URL), the facility page, a proposal with its history and confirmed
actions, the audit trail, and the run page (parameters → preview → progress → changes and
downloads).

Each list reads its URL through one parameter model (``FacilityListParams`` …): FastAPI
validates it (a refused value is the Japanese error page of ``api.errors``, which names the
parameter by its ``title``), and the facility page rebuilds its link back to the list from the
same model, never from the raw query. The run's preview is a GET (nothing is stored), so that
Back from the run's page, after the confirming POST and its 303, shows it again instead of the
browser's form-resubmission warning.

Data comes from ``matcher.store`` (``browse`` for the lists); labels, JST times and URL helpers
from ``api.labels``. Every form is a plain HTML form (works with the keyboard and without
script); the only script, ``static/runs.js``, shows a running job's progress.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from matcher.model import parse_capabilities
from matcher.params import MatchParams
from matcher.reference import municipalities
from matcher.result import warnings_of_counts
from matcher.store.areas import (
    area_codes,
    cached_visible_area,
    get_run_area,
    get_visible_area,
    visible_areas,
)
from matcher.store.browse import (
    FACILITY_SORTS,
    INSTITUTION_SORTS,
    PER_PAGE,
    AuditQuery,
    FacilityQuery,
    InstitutionQuery,
    audit_actors,
    audit_trail,
    browse_facilities,
    browse_institutions,
    municipality_names,
    named_changes,
    paginate,
    proposal_statuses,
    run_notes,
)
from matcher.store.db import Store
from matcher.store.errors import NotFoundError, RunInProgressError
from matcher.store.facilities import (
    cached_facility_detail,
    cached_facility_states,
    facility_codes,
    site_registrations,
)
from matcher.store.institutions import scoped_institutions
from matcher.store.models import ACTIVE_STATUSES, AreaRow
from matcher.store.proposal_list import ProposalQuery, browse_proposals, proposal_institutions
from matcher.store.proposals import cached_proposals, get_proposal, history_dicts
from matcher.store.proposals import named_proposal_dict as _named
from matcher.store.workflow import TRANSITIONS, get_run, run_changes, run_plan
from matcher.vocab import CAPABILITIES, Mode, Status, code5_of

from .. import labels
from ..cache import cache_of
from ..deps import Forbidden, Session, SessionDep, StoreDep, scope_of, writer_session
from ..schemas import RunIn
from .pages import render
from .runs import params_of, start_run, visible_job

router = APIRouter(include_in_schema=False)
QueryT = TypeVar("QueryT")
CANDIDATES_PER_PAGE = 10
ACTION_LABELS_JA = {
    "contacted": "打診した",
    "agreed": "合意した",
    "declined": "辞退された",
    "withdrawn": "取り下げる",
    "proposed": "再提案する",
}


def install(app: FastAPI) -> None:
    """Register the label filters on the pages' templates and mount the workspace pages."""
    labels.install(app.state.templates.env)
    app.include_router(router)


def _per(value: int) -> int:
    return value if value in PER_PAGE else PER_PAGE[0]


# Each ``title`` is the parameter's name on the error page (``api.errors.invalid_fields``).
Search = Annotated[str, Field(max_length=200, title="検索")]
PageNumber = Annotated[int, Field(ge=1, title="ページ")]
PageSize = Annotated[int, Field(title="表示件数")]


class _Params(BaseModel):
    """A page's query parameters (a FastAPI query model)."""

    def query_string(self) -> str:
        """The parameters that differ from their defaults, in declaration order (``desc=1``)."""
        values = self.model_dump(exclude_defaults=True)
        return urlencode({k: "1" if v is True else v for k, v in values.items()})


class ListParams(_Params):
    """The search, distance, sort and page parameters of the facility and institution lists."""

    q: Search = ""
    municipality: str = Field("", title="市区町村")
    kind: str = Field("", title="種別")
    near: str = Field("", title="おおよその場所")
    km: float = Field(10.0, gt=0, le=200, title="半径 (km)")
    sort: str = Field("id", title="並べ替え")
    desc: bool = Field(False, title="降順")
    page: PageNumber = 1
    per: PageSize = PER_PAGE[0]

    def query(self, make: Callable[..., QueryT], sorts: tuple[str, ...], **own: str) -> QueryT:
        """The list's query: these parameters (an unknown sort key is "id", an unknown page size
        the first) and the list's ``own`` filters."""
        return make(
            q=self.q,
            municipality=self.municipality,
            kind=self.kind,
            near=self.near,
            km=self.km,
            sort=self.sort if self.sort in sorts else "id",
            desc=self.desc,
            page=self.page,
            per_page=_per(self.per),
            **own,
        )


class FacilityListParams(ListParams):
    """The facility list's URL: the common list parameters and its own filters."""

    area: str = Field("", title="地域")
    duty: str = Field("", title="義務/努力義務")
    status: str = Field("", title="状況")
    missing: str = Field("", title="不足している要件")
    proposal: str = Field("", title="提案の状態")

    def facility_query(self) -> FacilityQuery:
        return self.query(
            FacilityQuery,
            FACILITY_SORTS,
            duty=self.duty,
            status=self.status,
            missing=self.missing,
            proposal=self.proposal,
        )


class InstitutionListParams(ListParams):
    """The institution list's URL: the common list parameters and its own filters."""

    offers: str = Field("", title="提供できる要件")
    capacity: str = Field("", title="受入枠")
    requests: str = Field("", title="依頼")


class ProposalListParams(_Params):
    """The proposals list's URL."""

    q: Search = ""
    status: str = Field("", title="状態")
    area: str = Field("", title="地域")
    municipality: str = Field("", title="市区町村")
    institution: str = Field("", max_length=40, title="医療機関")
    page: PageNumber = 1
    per: PageSize = PER_PAGE[0]


FACILITY_LIST = "/facilities"
BACK_MAX = 2000  # the longest list query a facility page takes back (a 200-character search fits)


def facility_list_query(back: str) -> str:
    """The facility list's query string in ``back`` (as the list's links pass it to a facility
    page) rebuilt through ``FacilityListParams``: unknown parameters are dropped, and a query the
    list would refuse is "" (the plain list)."""
    try:
        params = FacilityListParams.model_validate(dict(parse_qsl(back)))
    except ValidationError:
        return ""
    return params.query_string()


@lru_cache(maxsize=64)
def _municipality_choices(codes: tuple[str, ...]) -> list[tuple[str, str]]:
    names = municipality_names()
    return [(c, names.get(c, c)) for c in codes]


def _list_page(
    request: Request,
    template: str,
    sess: Session,
    result: object,
    query: object,
    codes: tuple[str, ...],
    sorts: object,
    **extra: Any,
) -> HTMLResponse:
    """A list page (facilities, institutions) with its filters' choices: the municipalities
    ``codes``, the sort keys, the page sizes and the capabilities."""
    return render(
        request,
        template,
        sess,
        result=result,
        query=query,
        municipalities=_municipality_choices(codes),
        sorts=sorts,
        per_page=PER_PAGE,
        capabilities=[(c.code, c.label_ja) for c in CAPABILITIES],
        **extra,
    )


def _area(request: Request, store: Store, sess: Session, code: str) -> AreaRow | None:
    if not code:
        return None
    return cached_visible_area(cache_of(request.app), store, scope_of(sess.user), code)


# --- facility list -----------------------------------------------------------------------------


@router.get("/facilities", response_class=HTMLResponse)
def facility_list(
    request: Request,
    params: Annotated[FacilityListParams, Query()],
    sess: SessionDep,
    store: StoreDep,
) -> HTMLResponse:
    """Every facility in the user's scope, searched, filtered, sorted and paginated; each
    facility's link carries the list's query (``back``) for the way back."""
    cache = cache_of(request.app)
    scope = scope_of(sess.user)
    a = _area(request, store, sess, params.area)
    index, states = cached_facility_states(cache, store, scope, a)
    props = proposal_statuses(cached_proposals(cache, store, scope, a), "facility_id")
    query = params.facility_query()
    result = browse_facilities(states, index.dicts, props, query)
    codes = tuple(sorted({st.row.code5 for st in states if st.row.code5}))
    with store.read() as s:
        areas = visible_areas(s, scope)
    return _list_page(
        request,
        "facility_list.html",
        sess,
        result,
        query,
        codes,
        FACILITY_SORTS,
        area=a,
        areas=areas,
        back=params.query_string(),
    )


# --- institution list --------------------------------------------------------------------------


@router.get("/institutions", response_class=HTMLResponse)
def institution_list(
    request: Request,
    params: Annotated[InstitutionListParams, Query()],
    sess: SessionDep,
    store: StoreDep,
) -> HTMLResponse:
    """Institutions in the scope or partnered with its facilities: remaining capacity, offers,
    requests (proposals by status)."""
    cache = cache_of(request.app)
    scope = scope_of(sess.user)

    def compute() -> list[dict[str, object]]:
        with store.read() as s:
            return scoped_institutions(s, scope)

    insts = cache.get(("workspace_institutions", scope), compute)
    props = proposal_statuses(cached_proposals(cache, store, scope), "institution_id")
    query = params.query(
        InstitutionQuery,
        INSTITUTION_SORTS,
        offers=params.offers,
        capacity=params.capacity,
        requests=params.requests,
    )
    result = browse_institutions(insts, props, query)
    codes = tuple(sorted({code5_of(d["municipality_code"]) for d in insts} - {""}))
    return _list_page(
        request, "institution_list.html", sess, result, query, codes, INSTITUTION_SORTS
    )


# --- facility page -----------------------------------------------------------------------------


def _actions(status: str) -> list[str]:
    """The statuses a proposal in ``status`` may move to, in the order of the action buttons."""
    return sorted(TRANSITIONS.get(status, ()), key=list(ACTION_LABELS_JA).index)


def _mask(text: object) -> int:
    return parse_capabilities(text or "")


@router.get("/facilities/{facility_id}", response_class=HTMLResponse)
def facility_page(
    facility_id: str,
    request: Request,
    sess: SessionDep,
    store: StoreDep,
    cpage: Annotated[int, Query(ge=1, title="候補のページ")] = 1,
    back: Annotated[str, Query(max_length=BACK_MAX, title="一覧の条件")] = "",
) -> HTMLResponse:
    """The whole story of one facility: state, filed partners, proposals (live and past),
    candidates (paginated) and, when nothing is needed, why. ``back`` is the facility list's
    query it was opened from: the way back to the list keeps its filters."""
    f = cached_facility_detail(cache_of(request.app), store, scope_of(sess.user), facility_id)
    missing, pending = _mask(f["missing"]), _mask(f["pending"])
    open_missing = missing & ~pending
    live: list[dict[str, Any]] = []
    past: list[dict[str, Any]] = []
    proposals: list[dict[str, Any]] = f["proposals"]  # type: ignore[assignment]
    for p in proposals:
        adds = _mask(p["covers"]) & open_missing
        redundant = p["status"] == "proposed" and not adds
        actions = _actions(p["status"])
        if redundant:
            actions = [a for a in actions if a == "withdrawn"]
        item = {**p, "adds": adds, "redundant": redundant, "actions": actions}
        (live if p["status"] in ACTIVE_STATUSES else past).append(item)
    found: list[dict[str, Any]] = f["candidates"]  # type: ignore[assignment]
    candidates = paginate(found, cpage, CANDIDATES_PER_PAGE)
    params = MatchParams()
    with store.read() as s:
        site = site_registrations(s, facility_id)
    back = facility_list_query(back)
    # the actions' redirects come back here, list query and all
    here = f"/facilities/{quote(facility_id, safe='')}"
    return render(
        request,
        "facility.html",
        sess,
        list_url=f"{FACILITY_LIST}?{back}" if back else FACILITY_LIST,
        here=f"{here}?{urlencode({'back': back})}" if back else here,
        back=back,
        f=f,
        site=site,
        live=live,
        past=past,
        candidates=candidates,
        missing_mask=missing,
        pending_mask=pending,
        open_missing=open_missing,
        max_km=[(c.label_ja, params.max_km[c]) for c in CAPABILITIES],
        action_labels=ACTION_LABELS_JA,
    )


# --- proposals list ----------------------------------------------------------------------------


@router.get("/proposals", response_class=HTMLResponse)
def proposals_page(
    request: Request,
    params: Annotated[ProposalListParams, Query()],
    sess: SessionDep,
    store: StoreDep,
) -> HTMLResponse:
    """The scope's proposals by institution (each with its printable list), searched by
    facility, filtered by status, area, municipality and institution, paginated."""
    cache = cache_of(request.app)
    scope = scope_of(sess.user)
    a = _area(request, store, sess, params.area)
    props = cached_proposals(cache, store, scope, a)
    codes = facility_codes(cache, store)
    query = ProposalQuery(
        q=params.q,
        status=params.status,
        municipality=params.municipality,
        institution=params.institution,
        page=params.page,
        per_page=_per(params.per),
    )
    result = browse_proposals(props, codes, query)
    towns = tuple(sorted({codes.get(str(p["facility_id"]), "") for p in props} - {""}))
    with store.read() as s:
        areas = visible_areas(s, scope)
    return render(
        request,
        "proposals.html",
        sess,
        result=result,
        query=query,
        filtered=any(
            (params.q, params.status, params.area, params.municipality, params.institution)
        ),
        area=a,
        areas=areas,
        municipalities=_municipality_choices(towns),
        institutions=proposal_institutions(props),
        per_page=PER_PAGE,
    )


# --- one proposal ------------------------------------------------------------------------------


@router.get("/proposals/{proposal_id:int}", response_class=HTMLResponse)
def proposal_page(
    proposal_id: int, request: Request, sess: SessionDep, store: StoreDep, action: str = ""
) -> HTMLResponse:
    """A proposal, its history (who, when, from → to, note) and its possible actions."""
    with store.read() as s:
        p = _named(s, get_proposal(s, scope_of(sess.user), proposal_id))
        history = history_dicts(s, proposal_id)
    actions = _actions(str(p["status"]))
    return render(
        request,
        "proposal.html",
        sess,
        p=p,
        history=list(reversed(history)),
        actions=actions,
        action=action if action in actions else "",
        action_labels=ACTION_LABELS_JA,
    )


# --- audit trail -------------------------------------------------------------------------------


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    sess: SessionDep,
    store: StoreDep,
    actor: str = "",
    what: str = "",
    status: str = "",
    facility: Annotated[str, Query(max_length=200, title="施設")] = "",
    since: str = "",
    until: str = "",
    page: Annotated[int, Query(ge=1, title="ページ")] = 1,
) -> HTMLResponse:
    """Who changed what when (proposal status changes and runs), for prefecture users."""
    if sess.user.role != "prefecture":
        raise Forbidden("変更履歴は都道府県のユーザーだけが見られます")
    scope = scope_of(sess.user)
    query = AuditQuery(
        actor=actor,
        what=what if what in ("proposal", "run") else "",
        status=status,
        facility=facility,
        since=_day(since),
        until=_day(until),
        page=page,
    )
    with store.read() as s:
        areas = visible_areas(s, scope)
        result = audit_trail(s, areas, scope, query)
        actors = audit_actors(s, scope)
    return render(request, "audit.html", sess, result=result, query=query, actors=actors)


# --- runs: parameters → preview → progress → result --------------------------------------------


_CAPABILITY_JA = {c.code: c.label_ja for c in CAPABILITIES}


class RunForm(BaseModel):
    """The run's parameters as the pages send them (flat fields: the preview's query, the
    confirming form); ``run_in`` nests them into the API's ``RunIn``, which holds the ranges."""

    area_code: str = Field(title="地域")
    mode: Mode = Field(Mode.OPTIMAL, title="方式")
    consult_km: float = Field(30.0, title=f"{_CAPABILITY_JA['consult']}の距離の上限 (km)")
    care_km: float = Field(16.0, title=f"{_CAPABILITY_JA['care']}の距離の上限 (km)")
    admit_km: float = Field(30.0, title=f"{_CAPABILITY_JA['admit']}の距離の上限 (km)")
    max_new_partners: int = Field(2, title="1施設あたりの新規協力医療機関の上限")
    include_unknown: str = Field("", title=f"{Status.UNKNOWN.label_ja}の施設も対象にする")
    note: str = Field("", title="メモ")
    prefer_infection_agreement: float = Field(0.0, title="第二種協定指定医療機関の優先")
    replace_other_areas: str = Field("", title="他の地域の提案も取り下げる")

    def run_in(self, where: str) -> RunIn:
        """The ``RunIn``; a value out of its range is refused as FastAPI refuses a parameter
        (``RequestValidationError`` at ``where``, query or body, under the form's name)."""
        try:
            return RunIn.model_validate(
                {
                    "area_code": self.area_code,
                    "mode": self.mode,
                    "max_km": {
                        "consult": self.consult_km,
                        "care": self.care_km,
                        "admit": self.admit_km,
                    },
                    "max_new_partners": self.max_new_partners,
                    "include_unknown": self.include_unknown == "1",
                    "note": self.note,
                    "prefer_infection_agreement": self.prefer_infection_agreement,
                    "replace_other_areas": self.replace_other_areas == "1",
                }
            )
        except ValidationError as exc:
            raise RequestValidationError(
                [
                    {**e, "loc": (where, _RUN_FORM_NAMES.get(e["loc"], e["loc"][-1]))}
                    for e in exc.errors()
                ]
            ) from None


# ``RunIn``'s error locations → the form's field names
_RUN_FORM_NAMES: dict[tuple[int | str, ...], str] = {
    ("max_km", "consult"): "consult_km",
    ("max_km", "care"): "care_km",
    ("max_km", "admit"): "admit_km",
}


def _run_query(form: Annotated[RunForm, Query()]) -> RunIn:
    return form.run_in("query")


def _run_body(form: Annotated[RunForm, Form()]) -> RunIn:
    return form.run_in("body")


RunQuery = Annotated[RunIn, Depends(_run_query)]
RunBody = Annotated[RunIn, Depends(_run_body)]


def _change_counts(changes: list[dict[str, Any]]) -> dict[str, int]:
    """How many of the run's changes are of each kind (new, kept, dropped, released)."""
    return {k: sum(c["change"] == k for c in changes) for k in labels.CHANGE_LABELS_JA}


def _run_done(info: dict[str, object]) -> RedirectResponse | None:
    """The run's page when the job ``info`` has finished it."""
    if info["state"] == "done" and info["run_id"]:
        return RedirectResponse(f"/runs/{info['run_id']}", 303)
    return None


@router.get("/runs/new", response_class=HTMLResponse)
def run_new(request: Request, sess: SessionDep, store: StoreDep, area: str = "") -> HTMLResponse:
    """The run's parameters (defaults: MODEL.md's ranges, 2 new partners, unknown included)."""
    writer_session(sess)
    with store.read() as s:
        areas = visible_areas(s, scope_of(sess.user))
    return render(request, "run_new.html", sess, areas=areas, body=RunIn(area_code=area or "-"))


@router.get("/runs/preview", response_class=HTMLResponse)
def run_preview(
    request: Request, body: RunQuery, sess: SessionDep, store: StoreDep
) -> HTMLResponse:
    """What the run would change (new, kept, withdrawn, released — with reasons), computed by
    the planner without storing anything. A GET (the parameter form's method): the browser
    keeps it in its history as a page it may load again."""
    return _preview(request, body, sess, store)


@router.post("/runs/preview", response_class=HTMLResponse)
def run_preview_form(
    request: Request, body: RunBody, sess: SessionDep, store: StoreDep
) -> HTMLResponse:
    """The preview for a posted form (parameter pages opened before the preview was a GET)."""
    return _preview(request, body, sess, store)


def _preview(request: Request, body: RunIn, sess: Session, store: Store) -> HTMLResponse:
    writer_session(sess)
    with store.read() as s:
        area = get_visible_area(s, scope_of(sess.user), body.area_code)
        areas = visible_areas(s, scope_of(sess.user))
    params = params_of(body)
    try:
        report = run_plan(
            store,
            area.code,
            params,
            body.mode.value,
            actor=sess.user.username,
            note=body.note,
            lock_wait=2.0,
            dry_run=True,
        )
    except RunInProgressError as exc:
        return render(request, "run_new.html", sess, 409, areas=areas, body=body, error=str(exc))
    planned = {
        (p.facility_id, p.institution_id): (p.covers, p.distance_km)
        for p in report.result.proposals
    }
    with store.read() as s:
        changes = named_changes(s, report.changes, report.notes, planned)
    names = {f.facility_id: f.name for f in report.state.instance.facilities}
    unmatched = [
        {
            "facility_id": u.facility_id,
            "name": names.get(u.facility_id, ""),
            "capability": int(u.capability),
            "reason": u.reason,
        }
        for u in report.result.unmatched
    ]
    counts = _change_counts(changes)
    return render(
        request,
        "run_preview.html",
        sess,
        body=body,
        area=area,
        report=report,
        objective=report.result.objective,
        changes=changes,
        counts=counts,
        unmatched=unmatched,
    )


@router.post("/runs/confirm")
def run_confirm(request: Request, body: RunBody, sess: SessionDep, store: StoreDep) -> Response:
    """Start the run previewed (the planner reads the state again at commit), then 303 to the
    run's page or, while it runs, its progress page (post/redirect/get: reloading or going
    back never starts it again)."""
    writer_session(sess)
    job = start_run(request, store, sess.user, body)
    info = job.to_dict()
    if (done := _run_done(info)) is not None:
        return done
    return RedirectResponse(f"/runs/progress/{info['job_id']}", 303)


@router.get("/runs/progress/{job_id:int}", response_class=HTMLResponse)
def run_progress(job_id: int, request: Request, sess: SessionDep, store: StoreDep) -> Response:
    """A running job's progress (``static/runs.js`` polls it); done: the run's page."""
    info = visible_job(request, store, sess.user, job_id).to_dict()
    if (done := _run_done(info)) is not None:
        return done
    return render(request, "run_progress.html", sess, job=info)


@router.get("/runs/{run_id:int}", response_class=HTMLResponse)
def run_page(run_id: int, request: Request, sess: SessionDep, store: StoreDep) -> HTMLResponse:
    """A stored run: its values next to the previous run's, what it changed and why, and its
    reports, letters and exports."""
    scope = scope_of(sess.user)
    with store.read() as s:
        run = get_run(s, run_id)
        area = s.get(AreaRow, run.area_id)
        try:
            # a wider area's run opens too, showing only the user's facilities
            area = get_run_area(s, scope, area.code if area else "")
        except NotFoundError:
            raise NotFoundError(f"計算 {run_id} は見つかりません") from None
        partial = not scope.covers(area_codes(area))
        previous = get_run(s, run.previous_run_id) if run.previous_run_id else None
        mine = (
            {f for f, code in facility_codes(cache_of(request.app), store).items() if code in scope}
            if partial
            else None
        )
        changes = [
            c
            for c in named_changes(s, run_changes(s, run_id), run_notes(s, run_id))
            if mine is None or c["facility_id"] in mine
        ]
    counts = _change_counts(changes)
    letters = sorted(
        {
            (c["institution_id"], c["institution_name"])
            for c in changes
            if c["change"] in ("new", "kept")
        }
    )
    return render(
        request,
        "run.html",
        sess,
        run=run,
        previous=previous,
        area=area,
        changes=changes,
        counts=counts,
        letters=letters,
        warnings=warnings_of_counts(run.counts),
    )


# --- map fallback ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _outlines() -> dict[str, list[list[float]]]:
    """Prefecture name → its outline (one lon/lat ring), bundled with ``matcher.gaps``."""
    text = resources.files("matcher.gaps").joinpath("prefectures.json").read_text("utf-8")
    outlines: dict[str, list[list[float]]] = json.loads(text)["prefectures"]
    return outlines


@router.get("/api/map/fallback", summary="タイルなしの背景 (都道府県の輪郭と市区町村名)")
def map_fallback(request: Request, sess: SessionDep, area: str = "") -> JSONResponse:
    """The outlines of the prefectures in the user's scope and the names of its
    municipalities at their points: a background that needs no tile server (LGWAN)."""
    scope = scope_of(sess.user)
    members = None
    if area:
        a = cached_visible_area(cache_of(request.app), request.app.state.store, scope, area)
        members = {m.code for m in a.municipalities}
    towns = [
        m
        for m in municipalities()
        if scope.contains(m.code5)
        and (members is None or m.code5 in members or m.code5[:2] in members)
    ]
    prefs = sorted({m.prefecture for m in towns})
    outlines = _outlines()
    return JSONResponse(
        {
            "outlines": [{"name": p, "rings": outlines.get(p, [])} for p in prefs],
            "municipalities": [
                {"code": m.code5, "name": m.name, "lat": m.lat, "lon": m.lon} for m in towns
            ],
        },
        headers={"Cache-Control": "private, max-age=3600"},
    )
