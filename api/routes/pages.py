"""Japanese pages: login, dashboard, map, facility actions, printable proposals per institution,
uploads.

Every page shows a use case's view (``matcher.usecases``), as the API does; forms carry the
session's CSRF token (the login form a signed pre-session one, see ``api.deps``) and end in a
redirect (post/redirect/get) so that reloading never repeats a change.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from matcher.usecases import areas, imports, institutions, proposals, replies, runs
from matcher.usecases.errors import ConflictError, InputError, TransitionError
from matcher.usecases.runs import run_request
from matcher.vocab import Mode
from matcher.wareki import today as today_jp

from ..deps import (
    COOKIE,
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    JobsDep,
    NotAuthenticated,
    Session,
    SessionDep,
    UowDep,
    WriterSessionDep,
    login_form_ok,
    login_form_token,
    read_session,
    read_uploads,
)
from ..render import flash_redirect, render, safe_next
from ..schemas import IntId
from ..security.login import attempt_login, cookie_secure, end_session, set_cookie
from ..security.throttle import LoginThrottled

router = APIRouter(include_in_schema=False)
# Form fields that are free text: bounded so that a page never carries an unbounded value on.
Note = Annotated[str, Form(max_length=2000, title="メモ")]
NextPage = Annotated[str, Form(max_length=2000, title="戻り先")]


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
    return login_form(request, next=safe_next(next))


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
            request, status_code, next=safe_next(next), username=username, error=error
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
    redirect = RedirectResponse(safe_next(next), 303)
    set_cookie(request, redirect, token)
    redirect.delete_cookie(LOGIN_COOKIE, path="/login")
    return redirect


@router.post("/logout")
def logout(request: Request, sess: SessionDep) -> Response:
    end_session(request, sess)
    response = flash_redirect("/login", "msg", "logged-out")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, sess: SessionDep, uow: UowDep) -> HTMLResponse:
    view = areas.dashboard(uow, sess.user.actor)
    return render(
        request,
        "dashboard.html",
        sess,
        areas=view.areas,
        counts=view.counts,
        days=view.days_left,
        by_status=view.by_status,
        runs=view.runs,
        area_names=view.area_names,
        columns=view.columns,
        infection=view.infection,
        infection_label=view.infection_label,
        progress=view.progress,
        rounds=replies.rounds_of(uow, sess.user.actor),
    )


@router.get("/map", response_class=HTMLResponse)
def map_page(
    request: Request, sess: SessionDep, uow: UowDep, area: str | None = None
) -> HTMLResponse:
    view = areas.map_page(uow, sess.user.actor, area)
    return render(
        request,
        "map.html",
        sess,
        area=view.area,
        areas=view.areas,
        facilities=view.facilities,
        tiles_url=request.app.state.tiles_url,
        tiles_attribution=request.app.state.tiles_attribution,
    )


@router.post("/proposals/{proposal_id}/status")
def proposal_status(
    proposal_id: IntId,
    status: Annotated[str, Form(title="状態")],
    version: Annotated[int, Form(title="版")],
    sess: WriterSessionDep,
    uow: UowDep,
    note: Note = "",
    next: NextPage = "/",
) -> Response:
    back = safe_next(next)
    try:
        p = proposals.change_status(uow, sess.user.actor, proposal_id, status, version, note)
    except ConflictError:
        return flash_redirect(back, "err", "conflict")
    except TransitionError:
        return flash_redirect(back, "err", "transition")
    return flash_redirect(back, "msg", f"status-{p.status}")


@router.get("/institutions/{institution_id}/print", response_class=HTMLResponse)
def institution_print(
    institution_id: str, request: Request, sess: SessionDep, uow: UowDep
) -> HTMLResponse:
    view = institutions.institution_print(uow, sess.user.actor, institution_id)
    return render(
        request, "institution_print.html", sess, inst=view.institution, proposals=view.proposals
    )


REJECTS_SHOWN = 2000  # a page of a national file's rejects would not load; the API returns them all


def _imports(
    request: Request, sess: Session, status_code: int = 200, kind: str = "facilities", **ctx: Any
) -> HTMLResponse:
    return render(
        request,
        "imports.html",
        sess,
        status_code,
        kinds_ja=imports.KIND_LABELS_JA,
        kind=kind,
        shown=REJECTS_SHOWN,
        today=today_jp().isoformat(),  # the date field's default: the day in Japan
        **{"result": None, **ctx},
    )


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, sess: SessionDep) -> HTMLResponse:
    return _imports(request, sess)


def _form_year(text: str) -> int | None:
    year = int(text) if text.strip() else None
    if year is not None and not 2000 <= year <= 2100:
        raise ValueError(text)
    return year


@router.post("/imports", response_class=HTMLResponse)
async def imports_submit(
    request: Request,
    kind: Annotated[str, Form(title="種類")],
    file: Annotated[list[UploadFile], File(title="ファイル")],
    sess: WriterSessionDep,
    uow: UowDep,
    filing_year: Annotated[str, Form(title="届出の年度")] = "",
    declared_on: Annotated[str, Form(title="申出の適用開始日")] = "",
) -> HTMLResponse:
    if kind not in imports.KIND_LABELS_JA:
        return _imports(request, sess, 422, error=f"不明な種類「{kind}」")
    try:
        year = _form_year(filing_year)
    except ValueError:
        return _imports(
            request, sess, 422, kind, error=f"届出の年度「{filing_year}」が不正です (2000〜2100)"
        )
    try:
        day = dt.date.fromisoformat(declared_on.strip()) if declared_on.strip() else None
    except ValueError:
        return _imports(
            request,
            sess,
            422,
            kind,
            error=f"申出の適用開始日「{declared_on}」が不正です (例 2025-04-01)",
        )
    uploads = await read_uploads(file)
    try:
        result = await run_in_threadpool(
            imports.import_upload, uow, sess.user.actor, kind, uploads, year, day
        )
    except InputError as exc:
        return _imports(
            request, sess, 422, kind, issues=exc.issues, error="ファイルを取り込めませんでした"
        )
    return _imports(request, sess, kind=kind, result=result)


@router.post("/runs")
def run_submit(
    area_code: Annotated[str, Form(min_length=1, max_length=40, title="地域")],
    sess: WriterSessionDep,
    uow: UowDep,
    jobs: JobsDep,
    mode: Annotated[Mode, Form(title="方式")] = Mode.OPTIMAL,
) -> Response:
    request = run_request(area_code, mode.value)
    job = runs.start_run(uow, sess.user.actor, jobs, request)
    return RedirectResponse(f"/runs/jobs/{job.job_id}", 303)


@router.get("/runs/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    job_id: IntId, request: Request, sess: SessionDep, uow: UowDep, jobs: JobsDep
) -> HTMLResponse:
    job = runs.visible_job(uow, sess.user.actor, jobs, job_id)
    return render(request, "job.html", sess, job=job)


@router.get("/favicon.ico", include_in_schema=False)
def favicon(request: Request) -> Response:
    del request
    return Response(status_code=204)


__all__ = ["read_session", "render", "router"]
