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

What each page shows is a use case's view (``matcher.usecases``); labels, JST times and URL
helpers come from ``api.labels``. Every form is a plain HTML form (works with the keyboard and
without script); the only script, ``static/runs.js``, shows a running job's progress.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from matcher.usecases import audit, facilities, institutions, proposals, runs
from matcher.usecases.audit import AuditQuery
from matcher.usecases.errors import ConflictError, LimitExceeded, RunInProgressError
from matcher.usecases.facilities import FACILITY_SORTS, PER_PAGE, FacilityListPage, FacilityQuery
from matcher.usecases.institutions import INSTITUTION_SORTS, InstitutionListPage, InstitutionQuery
from matcher.usecases.proposals import ProposalQuery
from matcher.usecases.runs import DEFAULTS
from matcher.usecases.unit import UnitOfWork
from matcher.usecases.views import JobView
from matcher.vocab import CAPABILITIES, Capability, Mode, RoundStrategy, Status

from .. import labels
from ..deps import JobsDep, Session, SessionDep, UowDep, WriterSessionDep
from ..render import flash_redirect, render
from ..schemas import RunIn
from ..security import previews

router = APIRouter(include_in_schema=False)
QueryT = TypeVar("QueryT")


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

    def list_query(self, make: Callable[..., QueryT], sorts: tuple[str, ...], **own: str) -> QueryT:
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
        return self.list_query(
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


CAPABILITY_CHOICES = tuple((c.code, c.label_ja) for c in CAPABILITIES)


# --- facility list -----------------------------------------------------------------------------


@router.get("/facilities", response_class=HTMLResponse)
def facility_list(
    request: Request,
    params: Annotated[FacilityListParams, Query()],
    sess: SessionDep,
    uow: UowDep,
) -> HTMLResponse:
    """Every facility in the user's scope, searched, filtered, sorted and paginated; each
    facility's link carries the list's query (``back``) for the way back."""
    view = facilities.facility_list(uow, sess.user.actor, params.facility_query(), params.area)
    return _list_page(
        request,
        "facility_list.html",
        sess,
        view,
        FACILITY_SORTS,
        area=view.area,
        areas=view.areas,
        back=params.query_string(),
    )


# --- institution list --------------------------------------------------------------------------


@router.get("/institutions", response_class=HTMLResponse)
def institution_list(
    request: Request,
    params: Annotated[InstitutionListParams, Query()],
    sess: SessionDep,
    uow: UowDep,
) -> HTMLResponse:
    """Institutions in the scope or partnered with its facilities: remaining capacity, offers,
    requests (proposals by status)."""
    query = params.list_query(
        InstitutionQuery,
        INSTITUTION_SORTS,
        offers=params.offers,
        capacity=params.capacity,
        requests=params.requests,
    )
    view = institutions.institution_list(uow, sess.user.actor, query)
    return _list_page(request, "institution_list.html", sess, view, INSTITUTION_SORTS)


def _list_page(
    request: Request,
    template: str,
    sess: Session,
    view: FacilityListPage | InstitutionListPage,
    sorts: tuple[str, ...],
    **own: Any,
) -> HTMLResponse:
    """A facility or institution list page: its rows, the search form's choices and ``own``."""
    return render(
        request,
        template,
        sess,
        result=view.result,
        query=view.query,
        municipalities=view.municipalities,
        sorts=sorts,
        per_page=PER_PAGE,
        capabilities=CAPABILITY_CHOICES,
        **own,
    )


# --- facility page -----------------------------------------------------------------------------


@router.get("/facilities/{facility_id}", response_class=HTMLResponse)
def facility_page(
    facility_id: str,
    request: Request,
    sess: SessionDep,
    uow: UowDep,
    cpage: Annotated[int, Query(ge=1, title="候補のページ")] = 1,
    back: Annotated[str, Query(max_length=BACK_MAX, title="一覧の条件")] = "",
) -> HTMLResponse:
    """The whole story of one facility: state, filed partners, proposals (live and past),
    candidates (paginated) and, when nothing is needed, why. ``back`` is the facility list's
    query it was opened from: the way back to the list keeps its filters."""
    return _facility(request, sess, uow, facility_id, cpage, facility_list_query(back))


def _facility(
    request: Request,
    sess: Session,
    uow: UnitOfWork,
    facility_id: str,
    cpage: int,
    back: str,
    status_code: int = 200,
    refused: Mapping[str, object] | None = None,
) -> HTMLResponse:
    """The facility page; ``refused``: a hand-made proposal the rules blocked (which rules,
    the note as typed, the override offered), shown at its candidate."""
    view = facilities.facility_page(uow, sess.user.actor, facility_id, cpage)
    # the actions' redirects come back here, list query and all
    here = f"/facilities/{quote(facility_id, safe='')}"
    return render(
        request,
        "facility.html",
        sess,
        status_code,
        list_url=f"{FACILITY_LIST}?{back}" if back else FACILITY_LIST,
        here=f"{here}?{urlencode({'back': back})}" if back else here,
        back=back,
        f=view.facility,
        site=view.site,
        live=view.live,
        past=view.past,
        candidates=view.candidates,
        missing_mask=view.missing,
        pending_mask=view.pending,
        open_missing=view.open_missing,
        max_km=view.max_km,
        action_labels=labels.ACTION_LABELS_JA,
        refused=refused,
    )


@router.post("/facilities/{facility_id}/propose", response_model=None)
def facility_propose(
    facility_id: str,
    request: Request,
    institution_id: Annotated[str, Form(title="医療機関")],
    sess: WriterSessionDep,
    uow: UowDep,
    note: Annotated[str, Form(max_length=2000, title="メモ")] = "",
    override_reason: Annotated[str, Form(max_length=2000, title="理由")] = "",
    list_query: Annotated[str, Form(alias="back", max_length=BACK_MAX, title="一覧の条件")] = "",
) -> Response:
    """Propose an institution for the facility, then back to its page (with the facility list's
    query, validated before use). A proposal the planner's rules block comes back on the page
    (422) naming each rule, with the note as typed and the override (a reason) offered."""
    back = facility_list_query(list_query)
    target = f"/facilities/{quote(facility_id, safe='')}"
    if back:
        target += "?" + urlencode({"back": back})
    try:
        facilities.propose(uow, sess.user.actor, facility_id, institution_id, note, override_reason)
    except ConflictError:
        return flash_redirect(target, "err", "exists")
    except LimitExceeded as exc:
        refused = {"institution_id": institution_id, "problems": exc.problems, "note": note}
        return _facility(request, sess, uow, facility_id, 1, back, 422, refused)
    return flash_redirect(
        target, "msg", "proposed-override" if override_reason.strip() else "proposed"
    )


# --- proposals list ----------------------------------------------------------------------------


@router.get("/proposals", response_class=HTMLResponse)
def proposals_page(
    request: Request,
    params: Annotated[ProposalListParams, Query()],
    sess: SessionDep,
    uow: UowDep,
) -> HTMLResponse:
    """The scope's proposals by institution (each with its printable list), searched by
    facility, filtered by status, area, municipality and institution, paginated."""
    query = ProposalQuery(
        q=params.q,
        status=params.status,
        municipality=params.municipality,
        institution=params.institution,
        page=params.page,
        per_page=params.per,
    )
    view = proposals.proposals_page(uow, sess.user.actor, query, params.area)
    return render(
        request,
        "proposals.html",
        sess,
        result=view.result,
        query=view.query,
        filtered=any(
            (params.q, params.status, params.area, params.municipality, params.institution)
        ),
        area=view.area,
        areas=view.areas,
        municipalities=view.municipalities,
        institutions=view.institutions,
        per_page=PER_PAGE,
    )


# --- one proposal ------------------------------------------------------------------------------


@router.get("/proposals/{proposal_id:int}", response_class=HTMLResponse)
def proposal_page(
    proposal_id: int, request: Request, sess: SessionDep, uow: UowDep, action: str = ""
) -> HTMLResponse:
    """A proposal, its history (who, when, from → to, note) and its possible actions."""
    view = proposals.proposal_page(uow, sess.user.actor, proposal_id)
    return render(
        request,
        "proposal.html",
        sess,
        p=view.proposal,
        history=view.history,
        actions=view.actions,
        action=action if action in view.actions else "",
        action_labels=labels.ACTION_LABELS_JA,
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
    uow: UowDep,
    actor: str = "",
    what: str = "",
    status: str = "",
    facility: Annotated[str, Query(max_length=200, title="施設")] = "",
    since: str = "",
    until: str = "",
    page: Annotated[int, Query(ge=1, title="ページ")] = 1,
) -> HTMLResponse:
    """Who changed what when (proposal status changes and runs), for prefecture users."""
    query = AuditQuery(
        actor=actor,
        what=what,
        status=status,
        facility=facility,
        since=_day(since),
        until=_day(until),
        page=page,
    )
    view = audit.audit_trail_page(uow, sess.user.actor, query)
    return render(
        request, "audit.html", sess, result=view.result, query=view.query, actors=view.actors
    )


# --- runs: parameters → preview → progress → result --------------------------------------------


_CAPABILITY_JA = {c.code: c.label_ja for c in CAPABILITIES}


class RunForm(BaseModel):
    """The run's parameters as the pages send them (flat fields: the preview's query, the
    confirming form); ``run_in`` nests them into the API's ``RunIn``, which holds the ranges.
    Defaults: ``matcher.params.MatchParams``."""

    area_code: str = Field(title="地域")
    mode: Mode = Field(Mode.OPTIMAL, title="方式")
    consult_km: float = Field(
        DEFAULTS.max_km[Capability.CONSULT], title=f"{_CAPABILITY_JA['consult']}の距離の上限 (km)"
    )
    care_km: float = Field(
        DEFAULTS.max_km[Capability.CARE], title=f"{_CAPABILITY_JA['care']}の距離の上限 (km)"
    )
    admit_km: float = Field(
        DEFAULTS.max_km[Capability.ADMIT], title=f"{_CAPABILITY_JA['admit']}の距離の上限 (km)"
    )
    max_new_partners: int = Field(
        DEFAULTS.max_new_partners, title="1施設あたりの新規協力医療機関の上限"
    )
    include_unknown: str = Field("", title=f"{Status.UNKNOWN.label_ja}の施設も対象にする")
    note: str = Field("", title="メモ")
    prefer_infection_agreement: float = Field(
        DEFAULTS.prefer_infection_agreement, title="第二種協定指定医療機関の優先"
    )
    round_strategy: RoundStrategy = Field(
        RoundStrategy(DEFAULTS.round_strategy), title="依頼の出し方"
    )
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
                    "round_strategy": self.round_strategy,
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


def _run_done(job: JobView) -> RedirectResponse | None:
    """The run's page when ``job`` has finished it."""
    if job.state == "done" and job.run_id:
        return RedirectResponse(f"/runs/{job.run_id}", 303)
    return None


@router.get("/runs/new", response_class=HTMLResponse)
def run_new(request: Request, sess: WriterSessionDep, uow: UowDep, area: str = "") -> HTMLResponse:
    """The run's parameters (defaults: ``MatchParams``')."""
    areas = runs.run_areas(uow, sess.user.actor)
    return render(request, "run_new.html", sess, areas=areas, body=RunIn(area_code=area or "-"))


@router.get("/runs/preview", response_class=HTMLResponse)
def run_preview(
    request: Request, body: RunQuery, sess: WriterSessionDep, uow: UowDep
) -> HTMLResponse:
    """What the run would change (new, kept, withdrawn, released — with reasons), computed by
    the planner without storing anything. A GET (the parameter form's method): the browser
    keeps it in its history as a page it may load again. Computed only for a request from this
    site (``security.previews``): another site's link or image gets a page that asks first."""
    if previews.cross_site(request):
        return render(
            request,
            "run_preview_refused.html",
            sess,
            403,
            body=body,
            message=previews.CROSS_SITE_JA,
        )
    return _preview(request, body, sess, uow)


@router.post("/runs/preview", response_class=HTMLResponse)
def run_preview_form(
    request: Request, body: RunBody, sess: WriterSessionDep, uow: UowDep
) -> HTMLResponse:
    """The preview for a posted form (parameter pages opened before the preview was a GET)."""
    return _preview(request, body, sess, uow)


def _preview(request: Request, body: RunIn, sess: Session, uow: UnitOfWork) -> HTMLResponse:
    """The preview page, in one of the user's preview slots (``previews.PreviewSlots``)."""
    try:
        previews.count_start(request, sess.user.id)
        with previews.preview_slots(request).hold(sess.user.id):
            preview = runs.preview_run(uow, sess.user.actor, body.request())
    except (RunInProgressError, previews.PreviewBusy) as exc:
        busy = isinstance(exc, previews.PreviewBusy)
        areas = runs.run_areas(uow, sess.user.actor)
        page = render(
            request,
            "run_new.html",
            sess,
            429 if busy else 409,
            areas=areas,
            body=body,
            error=str(exc),
        )
        if busy:
            wait = exc.wait if isinstance(exc, previews.PreviewRated) else 5
            page.headers["Retry-After"] = str(wait)
        return page
    return render(request, "run_preview.html", sess, body=body, preview=preview)


@router.post("/runs/confirm")
def run_confirm(body: RunBody, sess: WriterSessionDep, uow: UowDep, jobs: JobsDep) -> Response:
    """Start the run previewed (the planner reads the state again at commit), then 303 to the
    run's page or, while it runs, its progress page (post/redirect/get: reloading or going
    back never starts it again)."""
    job = runs.start_run(uow, sess.user.actor, jobs, body.request())
    if (done := _run_done(job)) is not None:
        return done
    return RedirectResponse(f"/runs/progress/{job.job_id}", 303)


@router.get("/runs/progress/{job_id:int}", response_class=HTMLResponse)
def run_progress(
    job_id: int, request: Request, sess: SessionDep, uow: UowDep, jobs: JobsDep
) -> Response:
    """A running job's progress (``static/runs.js`` polls it); done: the run's page."""
    job = runs.visible_job(uow, sess.user.actor, jobs, job_id)
    if (done := _run_done(job)) is not None:
        return done
    return render(request, "run_progress.html", sess, job=job)


@router.get("/runs/{run_id:int}", response_class=HTMLResponse)
def run_page(run_id: int, request: Request, sess: SessionDep, uow: UowDep) -> HTMLResponse:
    """A stored run: its values next to the previous run's, what it changed and why, and its
    reports, letters and exports."""
    view = runs.run_page(uow, sess.user.actor, run_id)
    return render(request, "run.html", sess, page=view, run=view.run, area=view.area)
