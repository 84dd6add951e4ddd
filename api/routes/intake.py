"""The 相談窓口 (``matcher.usecases.intake``): facilities' requests for help and reports of new
partners, and the coordinator's queue.

**Public pages** (no login), each form → confirmation → sent, guarded as every public page is
(``api.security.public``: address floods and failures, the double-submit form token, 64 KB
bodies) and by their own windows: ``/r/{token}/soudan`` — a facility's letter link (the token
opens its letter; the page shows the facility's own name and filed partners, nothing else);
``/soudan`` — the public page, only while ``KYORYOKU_INTAKE_PUBLIC`` is on (else 404): the
facility writes its name and chooses a municipality, at most ``SENDS_PER_ADDRESS`` requests per
address and ``SENDS_PER_HOUR`` in all per hour; it shows nothing of any facility, and its
answer is the request's number only.

**Coordinator pages** (login; requests of the municipalities in the scope): ``/intake`` (the
queue by status), ``/intake/new`` (a request taken by telephone, in person or by mail: channel,
who took it, when; for a facility or a municipality of the scope), ``/intake/{id}`` (the
request, status / assignee / due date / facility / note, and the confirmation of partner changes
into the filing). JSON: ``GET /api/intake``, ``POST /api/intake`` (a taken request),
``GET /api/intake/{id}``, ``POST /api/intake/{id}``, ``POST /api/intake/{id}/confirm``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from matcher.settings import get_settings
from matcher.usecases import intake, replies
from matcher.usecases.errors import InputError, NotFoundError
from matcher.usecases.intake import (
    CHANNEL_LABELS_JA,
    MAX_CONTACT,
    MAX_MESSAGE,
    MAX_NAME,
    MAX_PERSON,
    STATUS_LABELS_JA,
    TAKEN_CHANNELS,
    TOPIC_LABELS_JA,
    IntakeRequest,
    IntakeView,
    PartnerChange,
)
from matcher.vocab import CAPABILITIES
from matcher.wareki import JST

from ..deps import (
    ActorDep,
    Session,
    SessionDep,
    UowDep,
    WriterActorDep,
    WriterSessionDep,
    client_address,
)
from ..errors import ERROR_RESPONSES
from ..render import flash_redirect, page, render
from ..schemas import IntId
from ..security import public

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/intake", tags=["intake"], responses=ERROR_RESPONSES)

SENDS_PER_ADDRESS = 5  # public requests per client address an hour
SENDS_PER_HOUR = 100  # public requests an hour from all addresses (all workers together)
SENDS_PER_LETTER = 10  # requests through one letter's link an hour
PUBLIC = "/soudan"


def install(app: FastAPI) -> None:
    """Mount the 相談窓口's pages and API, with the public pages' guards."""
    app.state.intake_forms = public.FormGuard(
        public.derived_key(app, b"kyoryoku-intake-csrf"), "kyoryoku_soudan", PUBLIC
    )
    public.install(app)
    app.state.intake_per_address = public.RateWindow(SENDS_PER_ADDRESS, 3600.0, "intake-address")
    app.state.intake_per_hour = public.RateWindow(SENDS_PER_HOUR, 3600.0, "intake-all")
    app.state.intake_per_letter = public.RateWindow(SENDS_PER_LETTER, 3600.0, "intake-letter")
    app.include_router(api)
    app.include_router(router)


# --- the public pages ------------------------------------------------------------------------


def _choices() -> dict[str, Any]:
    return {
        "topics": [(k, v) for k, v in TOPIC_LABELS_JA.items() if k != "partners"],
        "capabilities": [(c.code, c.label_ja, int(c)) for c in CAPABILITIES],
        "partner_changes": list(replies.PARTNER_CHANGES_JA.items()),
        "limits": {
            "message": MAX_MESSAGE,
            "name": MAX_NAME,
            "person": MAX_PERSON,
            "contact": MAX_CONTACT,
        },
    }


class _Form:
    """One kind of 相談窓口 form: where it posts, which form token guards it, what it knows of
    the facility (a letter's link) and how a request is sent."""

    def __init__(self, request: Request, uow: Any, token: str | None) -> None:
        self.request, self.uow = request, uow
        if token is None:
            if not get_settings().intake_public:
                raise NotFoundError("このページは見つかりません。URL を確かめてください")
            public.check_address(request)
            self.letter_id, self.facility = None, None
            self.guard: public.FormGuard = request.app.state.intake_forms
            self.purpose, self.base = "soudan", PUBLIC
        else:
            self.letter_id = public.guarded(
                request, lambda: replies.open_link(uow, token), replies.LinkRefused
            )
            self.facility = intake.link_facility(uow, self.letter_id)
            self.guard = request.app.state.reply_forms
            self.purpose, self.base = f"L{self.letter_id}/soudan", f"/r/{token}/soudan"

    def render(self, name: str, status_code: int = 200, **ctx: Any) -> Response:
        nonce, csrf = self.guard.pair(self.request, self.purpose)
        municipalities = () if self.facility else intake.public_municipalities(self.uow)
        response = page(
            self.request,
            name,
            status_code,
            **_choices(),
            facility=self.facility,
            municipalities=municipalities,
            csrf=csrf,
            action=self.base,
            **ctx,
        )
        return self.guard.set_cookie(self.request, response, nonce)

    def form(self, values: dict[str, str], status_code: int = 200, errors: Any = ()) -> Response:
        return self.render("reply_intake_form.html", status_code, values=values, errors=errors)

    async def posted(self) -> dict[str, str] | Response:
        """The posted fields, once the form token is good (else the refusal, counted)."""
        form = await self.request.form(max_files=0, max_fields=100)
        if not self.guard.ok(self.request, self.purpose, form.get("csrf_token")):
            await run_in_threadpool(public.count_refused, self.request)
            return page(
                self.request,
                "reply_closed.html",
                403,
                message="ページの有効期限が切れたか、別の画面から送られました。"
                "もう一度はじめから開いて送ってください",
                reason="refused",
                service="相談窓口",
            )
        return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}

    def checked(self, fields: dict[str, str]) -> IntakeRequest | Response:
        """The request of ``fields``, or the form again with what is wrong (422)."""
        req = intake.request_from_fields(fields, public=self.facility is None)
        try:
            if self.facility is None:
                return intake.checked_public(self.uow, req)
            return intake.checked_by_link(req)
        except InputError as exc:
            lines = [f"{i.column}: {i.message}" if i.column else i.message for i in exc.issues]
            return self.form(fields, 422, lines)

    def send(self, req: IntakeRequest) -> str:
        """Send the request within the windows (``PublicThrottled`` beyond them)."""
        state = self.request.app.state
        if self.letter_id is None:
            public.hit(self.request, state.intake_per_address, client_address(self.request))
            public.hit(self.request, state.intake_per_hour, "all")
            return intake.submit_public(self.uow, req)
        public.hit(self.request, state.intake_per_letter, f"letter:{self.letter_id}")
        return intake.submit_by_link(self.uow, self.letter_id, req)


async def _open(request: Request, uow: Any, token: str | None) -> _Form:
    return await run_in_threadpool(_Form, request, uow, token)


async def _show(request: Request, uow: Any, token: str | None) -> Response:
    return (await _open(request, uow, token)).form({})


async def _confirm(request: Request, uow: Any, token: str | None) -> Response:
    f = await _open(request, uow, token)
    fields = await f.posted()
    if isinstance(fields, Response):
        return fields
    req = await run_in_threadpool(f.checked, fields)
    if isinstance(req, Response):
        return req
    names = dict(intake.public_municipalities(uow)) if f.facility is None else {}
    return f.render(
        "reply_intake_confirm.html",
        summary=intake.request_summary(req, names.get(req.municipality_code, "")),
        hidden=list(fields.items()),
        send=f.base + "/send",
    )


async def _send(request: Request, uow: Any, token: str | None) -> Response:
    f = await _open(request, uow, token)
    fields = await f.posted()
    if isinstance(fields, Response):
        return fields
    if fields.get("action") == "edit":
        return f.form(fields)
    req = await run_in_threadpool(f.checked, fields)
    if isinstance(req, Response):
        return req
    await run_in_threadpool(f.send, req)
    return RedirectResponse(f.base + "/done", 303)


def _done(request: Request, uow: Any, token: str | None) -> Response:
    f = _Form(request, uow, token)
    return page(request, "reply_intake_done.html", facility=f.facility, again=f.base)


@router.get(PUBLIC, response_class=HTMLResponse)
async def public_form(request: Request, uow: UowDep) -> Response:
    return await _show(request, uow, None)


@router.post(PUBLIC, response_class=HTMLResponse)
async def public_confirm(request: Request, uow: UowDep) -> Response:
    return await _confirm(request, uow, None)


@router.post(PUBLIC + "/send", response_class=HTMLResponse)
async def public_send(request: Request, uow: UowDep) -> Response:
    return await _send(request, uow, None)


@router.get(PUBLIC + "/done", response_class=HTMLResponse)
def public_done(request: Request, uow: UowDep) -> Response:
    return _done(request, uow, None)


@router.get("/r/{token}/soudan", response_class=HTMLResponse)
async def link_form(token: str, request: Request, uow: UowDep) -> Response:
    return await _show(request, uow, token)


@router.post("/r/{token}/soudan", response_class=HTMLResponse)
async def link_confirm(token: str, request: Request, uow: UowDep) -> Response:
    return await _confirm(request, uow, token)


@router.post("/r/{token}/soudan/send", response_class=HTMLResponse)
async def link_send(token: str, request: Request, uow: UowDep) -> Response:
    return await _send(request, uow, token)


@router.get("/r/{token}/soudan/done", response_class=HTMLResponse)
def link_done(token: str, request: Request, uow: UowDep) -> Response:
    return _done(request, uow, token)


# --- the coordinator's pages -----------------------------------------------------------------

StatusQuery = Annotated[str, Query(max_length=16, pattern="^[a-z_]*$", title="状態")]


@router.get("/intake", response_class=HTMLResponse)
def queue_page(
    request: Request, sess: SessionDep, uow: UowDep, status: StatusQuery = ""
) -> Response:
    view = intake.queue(uow, sess.user.actor, status)
    return render(
        request,
        "replies_intake_queue.html",
        sess,
        queue=view,
        status_labels=STATUS_LABELS_JA,
    )


def _taken_form(
    request: Request,
    sess: Session,
    values: dict[str, str],
    status_code: int = 200,
    errors: Any = (),
) -> Response:
    return render(
        request,
        "replies_intake_new.html",
        sess,
        status_code,
        **_choices(),
        channels=[(c, CHANNEL_LABELS_JA[c]) for c in TAKEN_CHANNELS],
        municipalities=intake.scope_municipalities(sess.user.actor),
        values=values,
        errors=errors,
    )


@router.get("/intake/new", response_class=HTMLResponse)
def taken_form(request: Request, sess: WriterSessionDep) -> Response:
    now = dt.datetime.now(JST).strftime("%Y-%m-%dT%H:%M")
    return _taken_form(request, sess, {"taken_by": sess.user.username, "taken_at": now})


@router.post("/intake/new", response_class=HTMLResponse)
async def taken_create(request: Request, sess: WriterSessionDep, uow: UowDep) -> Response:
    form = await request.form(max_files=0, max_fields=100)
    fields = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    facility_id = fields.get("facility_id", "").strip()[:40]
    req = intake.request_from_fields(fields, public=not facility_id)
    try:
        view = await run_in_threadpool(
            intake.take,
            uow,
            sess.user.actor,
            req,
            fields.get("channel", ""),
            fields.get("taken_by", ""),
            intake.taken_time_from_text(fields.get("taken_at", "")),
            facility_id or None,
        )
    except InputError as exc:
        lines = [f"{i.column}: {i.message}" if i.column else i.message for i in exc.issues]
        return _taken_form(request, sess, fields, 422, lines)
    return flash_redirect(f"/intake/{view.id}", "msg", "intake-taken")


@router.get("/intake/{request_id}", response_class=HTMLResponse)
def request_page(request_id: IntId, request: Request, sess: SessionDep, uow: UowDep) -> Response:
    view = intake.request_page(uow, sess.user.actor, request_id)
    return render(
        request,
        "replies_intake.html",
        sess,
        view=view,
        r=view.request,
        status_labels=STATUS_LABELS_JA,
        capabilities=[(c.code, c.label_ja, int(c)) for c in CAPABILITIES],
        partner_changes=list(replies.PARTNER_CHANGES_JA.items()),
    )


def _day(text: str) -> dt.date | None:
    if not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"期限「{text[:20]}」が日付ではありません (例 2026-04-01)") from None


@router.post("/intake/{request_id}/update")
def request_update(
    request_id: IntId,
    sess: WriterSessionDep,
    uow: UowDep,
    version: Annotated[int, Form(ge=1, title="版")],
    status: Annotated[str, Form(max_length=16, title="状態")] = "",
    assignee: Annotated[str, Form(max_length=100, title="担当者")] = "",
    due_date: Annotated[str, Form(max_length=20, title="期限")] = "",
    facility_id: Annotated[str, Form(max_length=40, title="施設")] = "",
    note: Annotated[str, Form(max_length=2000, title="メモ")] = "",
) -> Response:
    current = intake.request(uow, sess.user.actor, request_id)
    intake.update(
        uow,
        sess.user.actor,
        request_id,
        version,
        status=status or None,
        assignee=assignee,
        due_date=_day(due_date),
        facility_id=facility_id.strip() or current.facility_id,
        note=note,
    )
    return flash_redirect(f"/intake/{request_id}", "msg", "intake-updated")


@router.post("/intake/{request_id}/confirm")
async def request_confirm(
    request_id: IntId, request: Request, sess: WriterSessionDep, uow: UowDep
) -> Response:
    form = await request.form(max_files=0, max_fields=200)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    version = fields.get("version", "")
    if not version.isdigit():
        raise InputError("版がありません。ページを読み込み直してください")
    changes, covered = intake.confirmed_changes(fields)
    await run_in_threadpool(
        intake.confirm, uow, sess.user.actor, request_id, int(version), changes, covered
    )
    return flash_redirect(f"/intake/{request_id}", "msg", "intake-confirmed")


# --- JSON API --------------------------------------------------------------------------------


class IntakeUpdateIn(BaseModel):
    """What to change (fields left out stay as they are; ``due_date: null`` clears it)."""

    version: int = Field(ge=1, le=2**31 - 1, description="相談を読んだときの版 (古ければ 409)")
    status: str | None = Field(
        None, description="received (受付)・in_progress (対応中)・done (完了)"
    )
    assignee: str | None = Field(None, max_length=100)
    due_date: dt.date | None = None
    facility_id: str | None = Field(None, max_length=40, description="相談の施設 (公開ページから)")
    note: str = Field("", max_length=2000, description="追記するメモ")


class PartnerChangeIn(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    change: str = Field(description="add (追加) または end (終了)")
    covers: int = Field(0, ge=0, le=7, description="満たす要件 (①=1, ②=2, ③=4 の和)")
    institution_id: str | None = Field(None, max_length=40)


class IntakeConfirmIn(BaseModel):
    """The partner changes as confirmed (institution ids added, requirements corrected)."""

    version: int = Field(ge=1, le=2**31 - 1)
    changes: list[PartnerChangeIn] = Field(max_length=20)
    covered: int | None = Field(
        None, ge=0, le=7, description="届出の①②③のうち医療機関ごとでない分 (省略: 今のまま)"
    )


class IntakeTakenIn(BaseModel):
    """A request a coordinator took by telephone, in person or by mail: for a facility of the
    scope (``facility_id``), or one named with a municipality of the scope."""

    channel: str = Field(description="phone (電話)・visit (来所)・mail (メール)")
    taken_by: str = Field(min_length=1, max_length=MAX_PERSON, description="受け付けた人")
    taken_at: dt.datetime = Field(
        description="受け付けた日時 (タイムゾーンなしは日本時間、未来の日時は 422)"
    )
    facility_id: str | None = Field(None, max_length=40, description="施設 (分かれば)")
    facility_name: str = Field("", max_length=MAX_NAME, description="施設名 (施設が不明のとき)")
    municipality: str = Field(
        "", max_length=8, description="市区町村コード (施設が不明のとき、担当地域の中)"
    )
    topic: str = Field("", description="partner_search・agreement・filing・partners・other")
    message: str = Field("", max_length=MAX_MESSAGE)
    partner_changes: list[PartnerChangeIn] = Field([], max_length=5)
    person: str = Field("", max_length=MAX_PERSON, description="相談者のお名前")
    contact: str = Field("", max_length=MAX_CONTACT, description="相談者の連絡先")


@api.post(
    "",
    summary="電話・来所・メールで受けた相談を受付に登録 (経路・受付者・受付日時)",
    response_model=IntakeView,
    status_code=201,
)
def take_request(body: IntakeTakenIn, actor: WriterActorDep, uow: UowDep) -> IntakeView:
    changes = tuple(
        PartnerChange(c.name, c.change, c.covers, c.institution_id or None)
        for c in body.partner_changes
    )
    req = IntakeRequest(
        topic=body.topic or ("partners" if changes else ""),
        message=body.message,
        partner_changes=changes,
        person=body.person,
        contact=body.contact,
        facility_name="" if body.facility_id else body.facility_name,
        municipality_code="" if body.facility_id else body.municipality,
    )
    return intake.take(
        uow, actor, req, body.channel, body.taken_by, body.taken_at, body.facility_id
    )


@api.get("", summary="相談窓口の受付一覧 (担当地域の市区町村)", response_model=list[IntakeView])
def list_requests(actor: ActorDep, uow: UowDep, status: StatusQuery = "") -> tuple[IntakeView, ...]:
    return intake.requests(uow, actor, status)


@api.get("/{request_id}", summary="相談の内容と対応", response_model=IntakeView)
def get_request(request_id: IntId, actor: ActorDep, uow: UowDep) -> IntakeView:
    return intake.request(uow, actor, request_id)


@api.post(
    "/{request_id}",
    summary="相談の状態・担当者・期限・施設を変更、メモを追記 (版が古ければ 409)",
    response_model=IntakeView,
)
def update_request(
    request_id: IntId, body: IntakeUpdateIn, actor: WriterActorDep, uow: UowDep
) -> IntakeView:
    given = body.model_fields_set
    return intake.update(
        uow,
        actor,
        request_id,
        body.version,
        status=body.status,
        assignee=body.assignee,
        note=body.note,
        **{k: getattr(body, k) for k in ("due_date", "facility_id") if k in given},
    )


@api.post(
    "/{request_id}/confirm",
    summary="報告された協力医療機関の変更を確認して届出に反映 (出典はこの相談)",
    response_model=IntakeView,
)
def confirm_request(
    request_id: IntId, body: IntakeConfirmIn, actor: WriterActorDep, uow: UowDep
) -> IntakeView:
    changes = [
        PartnerChange(c.name, c.change, c.covers, c.institution_id or None) for c in body.changes
    ]
    return intake.confirm(uow, actor, request_id, body.version, changes, body.covered)
