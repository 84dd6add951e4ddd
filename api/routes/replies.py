"""Answers that come back (``matcher.usecases.replies``): the recipients' reply pages behind
one-time links, and the coordinator's letters, held answers and bulk import of returned Excel
forms.

**Public pages** ``/r/{token}`` (no login): the letter's rows only, answered in two steps (form →
confirmation → sent), reopened to correct until the coordinator locks the letter. Besides the
token (256 bits, stored as SHA-256, ``matcher.store.replies``) they are guarded as every public
page is (``api.security.public``: floods, guessing, the double-submit form token, bodies of at
most 64 KB read only after the token was found live, tokens out of the access log) and by
``RATE_POSTS_PER_LETTER`` answers per letter in ten minutes. A row of another letter in a form
is refused and counted as a probe. The audit names the letter (``回答票 L12``), never the token.

**Coordinator pages** (login, scope of the run's area): ``/runs/{id}/replies`` (the run's
letters; issue links → a ZIP with each letter's printable form with its QR code, its Excel form
and ``links.csv`` — the only place the tokens exist in clear), ``/replies/letters/{id}`` (rows,
answers, held parts with both versions, typed answers, re-issue, revoke, lock, the re-plan a
decline asks for) and ``/replies`` (held answers of every visible letter, upload of returned
Excel forms). JSON: ``POST /api/imports/replies``, ``GET /api/runs/{id}/replies``,
``GET /api/replies/held``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from matcher.settings import get_settings
from matcher.sources.limits import ArchiveLimits
from matcher.usecases import replies
from matcher.usecases.errors import InputError
from matcher.usecases.replies import (
    ANSWER_CODES,
    ANSWER_LABELS_JA,
    CHANNEL_LABELS_JA,
    LIVE,
    MAX_PARTNER_CHANGES,
    OUTCOME_LABELS_JA,
    PARTNER_CHANGES_JA,
    RECIPIENT_LABELS_JA,
    Download,
    HeldItem,
    LetterLocked,
    LetterSummary,
    LetterView,
    LinkRefused,
    ReplyImport,
)
from matcher.vocab import CAPABILITIES

from ..deps import ActorDep, SessionDep, UowDep, WriterActorDep, WriterSessionDep, read_uploads
from ..errors import ERROR_RESPONSES
from ..render import flash_redirect, page, render, run_preview_url, safe_next
from ..schemas import IntId
from ..security import public
from ..security.middleware import error_response

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["replies"], responses=ERROR_RESPONSES)

RATE_POSTS_PER_LETTER = 20  # answers (confirm or send) per letter in ten minutes
LINK_LABELS_JA = {"none": "未発行", "active": "有効", "expired": "期限切れ", "revoked": "無効"}


def install(app: FastAPI) -> None:
    """Mount the reply pages and API on ``app`` (before the imports router: its
    ``/api/imports/{kind}`` would take ``/api/imports/replies``), with the public pages' guards
    (``api.security.public``) and the reply forms' keys."""
    app.state.reply_key = public.derived_key(app, b"kyoryoku-reply-form")
    app.state.reply_forms = public.FormGuard(
        public.derived_key(app, b"kyoryoku-reply-csrf"), "kyoryoku_reply", "/r/"
    )
    app.state.reply_post_rate = public.RateWindow(RATE_POSTS_PER_LETTER, 600.0)
    public.install(app)
    app.state.templates.env.globals["run_preview_url"] = run_preview_url  # the dashboard's too
    app.exception_handler(LinkRefused)(_link_refused)
    app.exception_handler(LetterLocked)(_letter_locked)
    app.include_router(api)
    app.include_router(router)


def public_base(request: Request) -> str:
    """The address outside recipients open: the first of ``KYORYOKU_ALLOWED_ORIGINS`` when set
    (the public host behind a proxy), else the address this request came to."""
    origins = [o.strip().rstrip("/") for o in get_settings().allowed_origins.split(",")]
    origins = [o for o in origins if o]
    return origins[0] if origins else str(request.base_url).rstrip("/")


def _download(d: Download) -> Response:
    return Response(
        d.data,
        media_type=d.media,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(d.name)}"},
    )


def _letter_ctx(letter: LetterView) -> dict[str, Any]:
    """What the answer fields (``_reply_fields.html``) show besides the letter."""
    return {
        "letter": letter,
        "choices": [(c, ANSWER_LABELS_JA[letter.kind][c]) for c in ANSWER_CODES],
        "capabilities": [(c.code, c.label_ja, int(c)) for c in CAPABILITIES],
        "partner_changes": list(PARTNER_CHANGES_JA.items()),
        "max_partner_changes": MAX_PARTNER_CHANGES,
        "live": LIVE,
    }


# --- the public pages ------------------------------------------------------------------------


async def _link_refused(request: Request, exc: Exception) -> Response:
    reason = getattr(exc, "reason", "unknown")
    status = 404 if reason == "unknown" else 410
    return page(request, "reply_closed.html", status, message=str(exc), reason=reason)


async def _letter_locked(request: Request, exc: Exception) -> Response:
    if not request.url.path.startswith("/r/"):
        return error_response(request.scope, 409, str(exc))
    return page(request, "reply_closed.html", 409, message=str(exc), reason="locked")


def open_letter(request: Request, uow: Any, token: str) -> int:
    """The letter behind ``token`` for this request, after the address's flood and guessing
    limits; a refused token counts against the address."""
    return public.guarded(request, lambda: replies.open_link(uow, token), LinkRefused)


def _refused(request: Request, status: int, message: str) -> Response:
    return page(request, "reply_closed.html", status, message=message, reason="refused")


def _form_page(
    request: Request,
    letter: LetterView,
    values: dict[str, str],
    status_code: int = 200,
    errors: list[str] | None = None,
) -> Response:
    forms: public.FormGuard = request.app.state.reply_forms
    nonce, csrf = forms.pair(request, letter.code)
    response = page(
        request,
        "reply_form.html",
        status_code,
        **_letter_ctx(letter),
        values=values,
        errors=errors or [],
        csrf=csrf,
        action=request.url.path.removesuffix("/send"),
        soudan=request.url.path.removesuffix("/send") + "/soudan",
    )
    return forms.set_cookie(request, response, nonce)


def issue_lines(exc: InputError) -> list[str]:
    """An ``InputError`` as the lines a public form lists."""
    return [
        (f"{i.column}: " if i.column and i.column != "file" else "") + i.message for i in exc.issues
    ]


@router.get("/r/{token}", response_class=HTMLResponse)
def reply_page(token: str, request: Request, uow: UowDep) -> Response:
    view = replies.public_letter(uow, open_letter(request, uow, token))
    if view.letter.locked:
        return page(
            request,
            "reply_closed.html",
            message="回答の受付は締め切られました。ご回答ありがとうございました。",
            reason="locked",
            summary=view.summary,
            letter=view.letter,
        )
    return _form_page(request, view.letter, view.values)


async def _posted(request: Request, uow: Any, token: str) -> tuple[LetterView, FormData] | Response:
    """The letter of ``token`` and the posted form, read only after the token and the form
    token were found good; else the refusal to answer with."""
    letter_id = await run_in_threadpool(open_letter, request, uow, token)
    public.hit(request, request.app.state.reply_post_rate, f"letter:{letter_id}")
    form = await request.form(max_files=0, max_fields=200)
    view = await run_in_threadpool(replies.public_letter, uow, letter_id)
    if not request.app.state.reply_forms.ok(request, view.letter.code, form.get("csrf_token")):
        await run_in_threadpool(public.count_refused, request)
        return _refused(
            request,
            403,
            "ページの有効期限が切れたか、別の画面から送られました。"
            "もう一度リンクを開いてから送ってください",
        )
    if view.letter.locked:
        raise LetterLocked(letter_id)
    return view.letter, form


async def _checked(
    request: Request, letter: LetterView, form: FormData
) -> replies.LetterAnswer | Response:
    """The posted answer, or the form again with what is wrong (422); a row of another letter
    is refused as a probe and counted like a bad token."""
    try:
        return replies.checked_answer(letter, form)
    except InputError as exc:
        if replies.is_probe(exc):
            await run_in_threadpool(public.count_refused, request)
            return _refused(request, 422, "この回答票にない行への回答は受け付けられません")
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return _form_page(request, letter, values, 422, issue_lines(exc))


@router.post("/r/{token}", response_class=HTMLResponse)
async def reply_confirm(token: str, request: Request, uow: UowDep) -> Response:
    posted = await _posted(request, uow, token)
    if isinstance(posted, Response):
        return posted
    letter, form = posted
    answer = await _checked(request, letter, form)
    if isinstance(answer, Response):
        return answer
    forms: public.FormGuard = request.app.state.reply_forms
    nonce, csrf = forms.pair(request, letter.code)
    hidden = [(k, v) for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"]
    response = page(
        request,
        "reply_confirm.html",
        letter=letter,
        summary=replies.summary(letter, answer),
        hidden=hidden,
        csrf=csrf,
        action=request.url.path + "/send",
    )
    return forms.set_cookie(request, response, nonce)


@router.post("/r/{token}/send", response_class=HTMLResponse)
async def reply_send(token: str, request: Request, uow: UowDep) -> Response:
    posted = await _posted(request, uow, token)
    if isinstance(posted, Response):
        return posted
    letter, form = posted
    if form.get("action") == "edit":
        return _form_page(request, letter, {k: v for k, v in form.items() if isinstance(v, str)})
    answer = await _checked(request, letter, form)
    if isinstance(answer, Response):
        return answer
    await run_in_threadpool(replies.answer_by_link, uow, letter.id, answer)
    return RedirectResponse(request.url.path.removesuffix("/send") + "/done", 303)


@router.get("/r/{token}/done", response_class=HTMLResponse)
def reply_done(token: str, request: Request, uow: UowDep) -> Response:
    view = replies.public_letter(uow, open_letter(request, uow, token))
    return page(
        request,
        "reply_done.html",
        letter=view.letter,
        result=view.last,
        summary=view.summary,
        again=request.url.path.removesuffix("/done"),
        soudan=request.url.path.removesuffix("/done") + "/soudan",
        outcome_labels=OUTCOME_LABELS_JA,
    )


# --- the coordinator's pages -----------------------------------------------------------------

DeadlineForm = Annotated[dt.date, Form(title="回答期限")]


@router.get("/runs/{run_id}/replies", response_class=HTMLResponse)
def run_replies_page(run_id: IntId, request: Request, sess: SessionDep, uow: UowDep) -> Response:
    view = replies.run_letters(uow, sess.user.actor, run_id)
    return render(
        request,
        "replies_run.html",
        sess,
        run_id=view.run_id,
        letters=view.letters,
        rounds=view.round,
        recipient_labels=RECIPIENT_LABELS_JA,
        link_labels=LINK_LABELS_JA,
        default_deadline=view.default_deadline.isoformat(),
    )


@router.post("/runs/{run_id}/replies/issue")
def run_replies_issue(
    run_id: IntId, request: Request, actor: WriterActorDep, uow: UowDep, deadline: DeadlineForm
) -> Response:
    """Links for every letter of the run without a live one; the ZIP to print and send."""
    key = request.app.state.reply_key
    return _download(replies.issue_forms(uow, actor, run_id, deadline, public_base(request), key))


@router.get("/replies/letters/{letter_id}", response_class=HTMLResponse)
def letter_page(letter_id: IntId, request: Request, sess: SessionDep, uow: UowDep) -> Response:
    view = replies.letter_page(uow, sess.user.actor, letter_id)
    return render(
        request,
        "replies_letter.html",
        sess,
        **_letter_ctx(view.letter),
        answers=view.answers,
        held=view.held,
        values=view.values,
        replans=view.replans,
        recipient_labels=RECIPIENT_LABELS_JA,
        channel_labels=CHANNEL_LABELS_JA,
        outcome_labels=OUTCOME_LABELS_JA,
        link_labels=LINK_LABELS_JA,
        default_deadline=view.default_deadline.isoformat(),
    )


@router.get("/replies/letters/{letter_id}/form.xlsx")
def letter_workbook(letter_id: IntId, request: Request, actor: ActorDep, uow: UowDep) -> Response:
    return _download(replies.letter_workbook(uow, actor, letter_id, request.app.state.reply_key))


@router.get("/replies/letters/{letter_id}/form.html")
def letter_form(letter_id: IntId, actor: ActorDep, uow: UowDep) -> Response:
    """The printable form without a link (the link exists only when it is issued)."""
    return _download(replies.letter_form(uow, actor, letter_id))


@router.post("/replies/letters/{letter_id}/reissue")
def letter_reissue(
    letter_id: IntId,
    request: Request,
    actor: WriterActorDep,
    uow: UowDep,
    deadline: DeadlineForm,
) -> Response:
    """A new link for one letter (the earlier ones stop working): its printable form with the
    new QR code, as a download."""
    return _download(replies.reissue(uow, actor, letter_id, deadline, public_base(request)))


@router.post("/replies/letters/{letter_id}/revoke")
def letter_revoke(letter_id: IntId, actor: WriterActorDep, uow: UowDep) -> Response:
    replies.revoke(uow, actor, letter_id)
    return flash_redirect(f"/replies/letters/{letter_id}", "msg", "reply-revoked")


@router.post("/replies/letters/{letter_id}/lock")
def letter_lock(
    letter_id: IntId, actor: WriterActorDep, uow: UowDep, locked: Annotated[bool, Form()] = True
) -> Response:
    replies.lock(uow, actor, letter_id, locked)
    code = "reply-locked" if locked else "reply-unlocked"
    return flash_redirect(f"/replies/letters/{letter_id}", "msg", code)


@router.post("/replies/letters/{letter_id}/answer")
async def letter_answer(
    letter_id: IntId, request: Request, sess: WriterSessionDep, uow: UowDep
) -> Response:
    """An answer the coordinator types in (received by phone, FAX or on paper)."""
    form = await request.form(max_files=0, max_fields=200)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    await run_in_threadpool(replies.typed_answer, uow, sess.user.actor, letter_id, fields)
    return flash_redirect(f"/replies/letters/{letter_id}", "msg", "reply-answered")


@router.post("/replies/items/{item_id}/resolve")
def item_resolve(
    item_id: IntId,
    actor: WriterActorDep,
    uow: UowDep,
    action: Annotated[Literal["apply", "dismiss"], Form(title="処理")],
    note: Annotated[str, Form(max_length=2000, title="メモ")] = "",
    back: Annotated[str, Form(max_length=200, title="戻り先")] = "/replies",
) -> Response:
    replies.resolve(uow, actor, item_id, action, note)
    return flash_redirect(safe_next(back, "/replies"), "msg", "reply-resolved")


@router.get("/replies", response_class=HTMLResponse)
def replies_page(
    request: Request,
    sess: SessionDep,
    uow: UowDep,
    batch: Annotated[str, Query(max_length=32, pattern="^[0-9a-f]*$", title="取り込み")] = "",
) -> Response:
    view = replies.queue_page(uow, sess.user.actor, batch)
    return render(
        request,
        "replies_queue.html",
        sess,
        held=view.held,
        results=view.results,
        replans=view.replans,
        channel_labels=CHANNEL_LABELS_JA,
        outcome_labels=OUTCOME_LABELS_JA,
    )


# --- JSON API --------------------------------------------------------------------------------


@api.post(
    "/imports/replies",
    summary="返送された Excel の回答票を取り込む (複数ファイル・ZIP、ファイルごとに全部か無し)",
    response_model=ReplyImport,
)
async def import_replies(
    request: Request,
    actor: WriterActorDep,
    uow: UowDep,
    files: Annotated[list[UploadFile], File(description="回答票 (.xlsx) または ZIP")],
    page: Annotated[bool, Form(description="画面から: 結果のページへ移動する")] = False,
) -> Any:
    uploads = await read_uploads(files[:1000])
    limits = ArchiveLimits(max_total_bytes=get_settings().max_uncompressed_bytes)
    key = request.app.state.reply_key
    report = await run_in_threadpool(replies.import_forms, uow, actor, uploads, key, limits)
    if page:
        return RedirectResponse(f"/replies?batch={report.batch}", 303)
    return report


@api.get(
    "/runs/{run_id}/replies",
    summary="計算の回答票 (宛先・リンク・回答)",
    response_model=list[LetterSummary],
)
def run_replies(run_id: IntId, actor: ActorDep, uow: UowDep) -> tuple[LetterSummary, ...]:
    return replies.letters_of_run(uow, actor, run_id)


@api.get(
    "/replies/held",
    summary="担当者の確認待ちの回答 (保留・条件付き、送付時と現在の両方の版)",
    response_model=list[HeldItem],
)
def held_replies(actor: ActorDep, uow: UowDep) -> tuple[HeldItem, ...]:
    return replies.held(uow, actor)
