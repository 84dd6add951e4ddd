"""Japanese pages: login, dashboard, map, facility actions, printable proposals per institution,
uploads.

Every page reads through the same scoped queries as the API; forms carry the session's CSRF token
(the login form a signed pre-session one, see ``api.deps``)
and end in a redirect (post/redirect/get) so that reloading never repeats a change.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from matcher._errors import InputError
from matcher.model import FACILITY_KINDS
from matcher.store.areas import get_visible_area, overlapping_areas, visible_areas
from matcher.store.dashboard import (
    INFECTION_COLUMN,
    STATUS_COLUMNS,
    days_left,
    infection_counts,
    latest_runs,
    status_counts,
)
from matcher.store.errors import ConflictError, TransitionError
from matcher.store.facilities import facility_dict, scoped_states
from matcher.store.institutions import get_institution
from matcher.store.manual import LimitExceeded
from matcher.store.models import ACTIVE_STATUSES
from matcher.store.progress import progress_by_year
from matcher.store.proposals import scoped_proposals
from matcher.vocab import Mode, ProposalStatus

from ..deps import (
    COOKIE,
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    NotAuthenticated,
    Session,
    SessionDep,
    StoreDep,
    login_form_ok,
    login_form_token,
    read_session,
    scope_of,
    writer_session,
)
from ..schemas import IntId, RunIn
from ..security import flash
from ..security.throttle import LoginThrottled
from .auth import attempt_login, cookie_secure, end_session, set_cookie
from .facilities import propose_for
from .imports import KIND_LABELS_JA, import_upload
from .proposals import change_status_for
from .runs import start_run, visible_job

router = APIRouter(include_in_schema=False)
STATUS_LABELS_JA = {s.value: s.label_ja for s in ProposalStatus}
# Form fields that are free text: bounded so that a page never carries an unbounded value on.
Note = Annotated[str, Form(max_length=2000, title="メモ")]
NextPage = Annotated[str, Form(max_length=2000, title="戻り先")]


def render(
    request: Request, name: str, sess: Session | None, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    ctx.update(
        user=sess.user if sess else None,
        csrf=sess.csrf if sess else "",
        proposal_labels=STATUS_LABELS_JA,
        kinds=FACILITY_KINDS,
        flash=flash.message(request.query_params.get("msg")),
        error=ctx.get("error", flash.error(request.query_params.get("err"))),
    )
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, ctx, status_code=status_code
    )
    return response


def _safe_next(target: str | None, default: str = "/") -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else default


def _flash_redirect(target: str, kind: str, code: str) -> RedirectResponse:
    """Back to ``target`` (303) with the message (``msg``) or error (``err``) ``code`` shown."""
    return RedirectResponse(flash.with_code(target, kind, code), 303)


def login_form(request: Request, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """The login page with a fresh CSRF pair (cookie and form field)."""
    nonce, token = login_form_token(request)
    response = render(request, "login.html", None, status_code, login_csrf=token, **ctx)
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_FORM_SECONDS,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return login_form(request, next=_safe_next(next))


@router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    def again(status_code: int, error: str) -> HTMLResponse:
        return login_form(
            request, status_code, next=_safe_next(next), username=username, error=error
        )

    if not login_form_ok(request, csrf_token):
        return again(
            403,
            "ログインフォームの確認用トークンがないか、期限が切れています。もう一度ログインしてください",
        )
    try:
        _, token, _ = attempt_login(request, username, password)
    except LoginThrottled as exc:
        response = again(429, str(exc))
        response.headers["Retry-After"] = str(exc.seconds)
        return response
    except NotAuthenticated as exc:
        return again(401, str(exc))
    redirect = RedirectResponse(_safe_next(next), 303)
    set_cookie(request, redirect, token)
    redirect.delete_cookie(LOGIN_COOKIE, path="/login")
    return redirect


@router.post("/logout")
def logout(request: Request, sess: SessionDep) -> Response:
    end_session(request, sess)
    response = _flash_redirect("/login", "msg", "logged-out")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, sess: SessionDep, store: StoreDep) -> HTMLResponse:
    scope = scope_of(sess.user)
    with store.read() as s:
        areas = visible_areas(s, scope)
        states = scoped_states(s, scope)
        counts = status_counts(states)
        infection = infection_counts(states)
        progress = progress_by_year(s, scope)
        props = scoped_proposals(s, scope)
        # runs of the user's areas and of wider ones that proposed for the user's facilities
        run_areas = overlapping_areas(s, scope)
        runs = latest_runs(s, run_areas)
        area_by_id = {a.id: a for a in run_areas}
    by_status = {k: sum(p["status"] == k for p in props) for k in STATUS_LABELS_JA}
    return render(
        request,
        "dashboard.html",
        sess,
        areas=areas,
        counts=counts,
        days=days_left(),
        by_status=by_status,
        runs=runs,
        area_by_id=area_by_id,
        columns=STATUS_COLUMNS,
        infection=infection,
        infection_label=INFECTION_COLUMN[1],
        progress=progress,
    )


@router.get("/map", response_class=HTMLResponse)
def map_page(
    request: Request, sess: SessionDep, store: StoreDep, area: str | None = None
) -> HTMLResponse:
    scope = scope_of(sess.user)
    with store.read() as s:
        a = get_visible_area(s, scope, area) if area else None
        states = scoped_states(s, scope, a)
        areas = visible_areas(s, scope)
    facs = [facility_dict(st) for st in states]
    return render(
        request,
        "map.html",
        sess,
        area=a,
        areas=areas,
        facilities=facs,
        tiles_url=request.app.state.tiles_url,
        tiles_attribution=request.app.state.tiles_attribution,
    )


@router.post("/facilities/{facility_id}/propose")
def facility_propose(
    facility_id: str,
    request: Request,
    institution_id: Annotated[str, Form(title="医療機関")],
    sess: SessionDep,
    store: StoreDep,
    note: Note = "",
    override_reason: Annotated[str, Form(max_length=2000, title="理由")] = "",
    list_query: Annotated[str, Form(alias="back", max_length=2000, title="一覧の条件")] = "",
) -> Response:
    """Propose an institution for the facility, then back to its page (with the facility list's
    query it was opened from, which that page validates before using it)."""
    writer_session(sess)
    back = f"/facilities/{quote(facility_id, safe='')}"
    if list_query:
        back += "?" + urlencode({"back": list_query})
    try:
        propose_for(store, sess.user, facility_id, institution_id, note, override_reason)
    except ConflictError:
        return _flash_redirect(back, "err", "exists")
    except LimitExceeded:
        return _flash_redirect(back, "err", "limits")
    done = "proposed-override" if override_reason.strip() else "proposed"
    return _flash_redirect(back, "msg", done)


@router.post("/proposals/{proposal_id}/status")
def proposal_status(
    proposal_id: IntId,
    request: Request,
    status: Annotated[str, Form(title="状態")],
    version: Annotated[int, Form(title="版")],
    sess: SessionDep,
    store: StoreDep,
    note: Note = "",
    next: NextPage = "/",
) -> Response:
    writer_session(sess)
    back = _safe_next(next)
    try:
        p = change_status_for(store, sess.user, proposal_id, status, version, note)
    except ConflictError:
        return _flash_redirect(back, "err", "conflict")
    except TransitionError:
        return _flash_redirect(back, "err", "transition")
    return _flash_redirect(back, "msg", f"status-{p['status']}")


@router.get("/institutions/{institution_id}/print", response_class=HTMLResponse)
def institution_print(
    institution_id: str, request: Request, sess: SessionDep, store: StoreDep
) -> HTMLResponse:
    scope = scope_of(sess.user)
    with store.read() as s:
        inst = get_institution(s, scope, institution_id)
        props = scoped_proposals(s, scope, institution_id=institution_id, status=ACTIVE_STATUSES)
    return render(request, "institution_print.html", sess, inst=inst, proposals=props)


REJECTS_SHOWN = 2000  # a page of a national file's rejects would not load; the API returns them all


def _imports(
    request: Request, sess: Session, status_code: int = 200, kind: str = "facilities", **ctx: Any
) -> HTMLResponse:
    return render(
        request,
        "imports.html",
        sess,
        status_code,
        kinds_ja=KIND_LABELS_JA,
        kind=kind,
        shown=REJECTS_SHOWN,
        **{"result": None, **ctx},
    )


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, sess: SessionDep) -> HTMLResponse:
    return _imports(request, sess)


@router.post("/imports", response_class=HTMLResponse)
async def imports_submit(
    request: Request,
    kind: Annotated[str, Form(title="種類")],
    file: Annotated[list[UploadFile], File(title="ファイル")],
    sess: SessionDep,
    store: StoreDep,
    filing_year: Annotated[str, Form(title="届出の年度")] = "",
    declared_on: Annotated[str, Form(title="申出の適用開始日")] = "",
) -> HTMLResponse:
    writer_session(sess)
    if kind not in KIND_LABELS_JA:
        return _imports(request, sess, 422, error=f"不明な種類「{kind}」")
    year: int | None = None
    day: dt.date | None = None
    try:
        if filing_year.strip():
            year = int(filing_year)
            if not 2000 <= year <= 2100:
                raise ValueError
    except ValueError:
        return _imports(
            request, sess, 422, kind, error=f"届出の年度「{filing_year}」が不正です (2000〜2100)"
        )
    try:
        if declared_on.strip():
            day = dt.date.fromisoformat(declared_on.strip())
    except ValueError:
        return _imports(
            request,
            sess,
            422,
            kind,
            error=f"申出の適用開始日「{declared_on}」が不正です (例 2025-04-01)",
        )
    try:
        result = await import_upload(store, sess.user, kind, file, year, day)
    except InputError as exc:
        return _imports(
            request, sess, 422, kind, issues=exc.issues, error="ファイルを取り込めませんでした"
        )
    return _imports(request, sess, kind=kind, result=result)


@router.post("/runs")
def run_submit(
    request: Request,
    area_code: Annotated[str, Form(min_length=1, max_length=40, title="地域")],
    sess: SessionDep,
    store: StoreDep,
    mode: Annotated[Mode, Form(title="方式")] = Mode.OPTIMAL,
) -> Response:
    writer_session(sess)
    body = RunIn(area_code=area_code, mode=mode)
    job = start_run(request, store, sess.user, body)
    return RedirectResponse(f"/runs/jobs/{job.id}", 303)


@router.get("/runs/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: IntId, request: Request, sess: SessionDep, store: StoreDep) -> HTMLResponse:
    job = visible_job(request, store, sess.user, job_id)
    return render(request, "job.html", sess, job=job.to_dict())


@router.get("/favicon.ico", include_in_schema=False)
def favicon(request: Request) -> Response:
    del request
    return Response(status_code=204)


__all__ = ["read_session", "router"]
