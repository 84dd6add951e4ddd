"""Answers that come back: the recipients' reply pages behind one-time links, and the
coordinator's letters, held answers and bulk import of returned Excel forms.

**Public pages** ``/r/{token}`` (no login): the letter's rows only, answered in two steps (form →
confirmation → sent), reopened to correct until the coordinator locks the letter. What guards
them, besides the token (256 bits, stored as SHA-256, ``matcher.store.replies``):

- *floods*: at most ``RATE_PER_ADDRESS`` requests a minute per client address (in the worker's
  memory: cheap enough to answer a flood) and ``RATE_POSTS_PER_LETTER`` answers per letter in
  ten minutes; beyond that 429 with ``Retry-After``;
- *guessing*: every refused token counts against the address in the login throttle's table
  (``api.security.throttle``: same policy, key ``reply:<address>``): after
  ``REPLY_FREE_FAILURES`` failures the address is locked (30 s doubling, as for logins), before
  any token is looked up;
- *cross-site forms*: a signed double-submit token (cookie on ``/r/`` + form field, HMAC of the
  letter and the cookie's nonce under the service's key), the guard's Origin check, SameSite;
- *bodies*: a form's body is read only after its token was found live, and at most
  ``MAX_REPLY_BODY`` bytes. The security guard pre-authenticates bodies by the login session;
  a public form has none, so ``PublicReplyBodies`` (placed just outside the guard) enforces this
  route's own limit and hands the guard the request without its body headers (the guard still
  checks the Origin and counts the streamed bytes);
- *logs*: the access log shows ``/r/…`` instead of the token (``RedactReplyTokens``); the audit
  names the letter (``回答票 L12``), never the token; no Referer leaves for another site
  (``Referrer-Policy: same-origin``; ``no-referrer`` would make browsers post ``Origin: null``,
  which the guard refuses).

**Coordinator pages** (login, scope of the run's area): ``/runs/{id}/replies`` (the run's
letters; issue links → a ZIP with each letter's printable form with its QR code, its Excel form
and ``links.csv`` — the only place the tokens exist in clear), ``/replies/letters/{id}`` (rows,
answers, held parts with both versions, typed answers, re-issue, revoke, lock) and ``/replies``
(held answers of every visible letter, upload of returned Excel forms). JSON:
``POST /api/imports/replies``, ``GET /api/runs/{id}/replies``, ``GET /api/replies/held``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import logging
import math
import re
import secrets
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DbSession
from starlette.datastructures import FormData
from starlette.middleware import Middleware

from matcher._errors import InputError, RowIssue
from matcher.reports.replyform import form_html, form_workbook
from matcher.settings import get_settings
from matcher.sources.limits import ArchiveLimits
from matcher.store.areas import get_visible_area, visible_areas
from matcher.store.db import Store
from matcher.store.errors import NotFoundError
from matcher.store.models import AreaRow, LoginThrottleRow, RunRow, utcnow
from matcher.store.replies import (
    ANSWER_CODES,
    ANSWER_LABELS_JA,
    CHANNEL_LABELS_JA,
    MAX_PARTNER_CHANGES,
    OUTCOME_LABELS_JA,
    PARTNER_CHANGES_JA,
    RECIPIENT_LABELS_JA,
    IssuedLink,
    LetterAnswer,
    LetterLocked,
    LetterView,
    LinkRefused,
    PartnerChange,
    RowAnswer,
    batch_results,
    check_answer,
    held_items,
    issue_links,
    latest_answer,
    letter_answers,
    letter_for_token,
    letter_run_area,
    letter_summaries,
    letter_view,
    record_answer,
    reissue_link,
    resolve_item,
    revoke_links,
    set_locked,
    today_jst,
)
from matcher.store.reply_imports import import_returned_forms
from matcher.store.reply_models import ReplyLetterRow
from matcher.vocab import CAPABILITIES, CodeSet, ProposalStatus

from ..deps import SessionDep, StoreDep, UserDep, WriterDep, client_address, scope_of
from ..errors import ERROR_RESPONSES
from ..schemas import IntId
from ..security.middleware import BodyTooLarge, RequestGuard, error_response
from ..security.throttle import FORGET_AFTER, LoginThrottled, ThrottlePolicy
from ..users import User
from .auth import cookie_secure

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["replies"], responses=ERROR_RESPONSES)

MAX_REPLY_BODY = 64 * 1024
RATE_PER_ADDRESS = 60  # requests a minute to /r/ per client address
RATE_POSTS_PER_LETTER = 20  # answers (confirm or send) per letter in ten minutes
REPLY_FREE_FAILURES = 10  # refused tokens per address before the first lock
REPLY_COOKIE = "kyoryoku_reply"
PUBLIC_POST = re.compile(r"/r/[A-Za-z0-9_-]{43}(/send)?")
_TOKEN_IN_PATH = re.compile(r"/r/[^/?#\s\"]+")
DEFAULT_DAYS = 14  # the issue form's default reply deadline, from today

MESSAGES = {
    "answered": "回答を登録しました",
    "revoked": "リンクを無効にしました",
    "locked": "回答の受付を締め切りました",
    "unlocked": "回答の受付を再開しました",
    "resolved": "確認待ちの回答を処理しました",
}


# --- installation: routers, the body pass for public forms, the log filter -----------------


class RedactReplyTokens(logging.Filter):
    """Access-log lines show ``/r/…`` instead of a reply token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_PATH.sub("/r/…", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str) and "/r/" in record.msg:
            record.msg = _TOKEN_IN_PATH.sub("/r/…", record.msg)
        return True


_REDACT = RedactReplyTokens()


class PublicReplyBodies:
    """Let the public reply forms through the guard's pre-authentication of bodies, within
    their own limit (module docstring). Every other request passes untouched."""

    def __init__(self, app: Any, max_body: int = MAX_REPLY_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not PUBLIC_POST.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        length = next((v for k, v in headers if k.lower() == b"content-length"), None)
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body):
            message = f"送信されたデータが大きすぎます (上限 {self.max_body:,} バイト)"
            await error_response(scope, 413, message, {"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)  # the guard answers 413
            return message

        inner = {
            **scope,
            "headers": [
                (k, v)
                for k, v in headers
                if k.lower() not in (b"content-length", b"transfer-encoding")
            ],
        }
        await self.app(inner, limited, send)


def install(app: FastAPI) -> None:
    """Mount the reply pages and API on ``app`` (before the imports router: its
    ``/api/imports/{kind}`` would take ``/api/imports/replies``), put ``PublicReplyBodies`` just
    outside the security guard, and keep tokens out of the access log."""
    serializer = app.state.login_serializer
    secret = serializer.secret_key if hasattr(serializer, "secret_key") else b""
    if isinstance(secret, str):
        secret = secret.encode()
    # One key per purpose, derived from the service's secret (KYORYOKU_SECRET_KEY).
    app.state.reply_key = hmac.new(secret, b"kyoryoku-reply-form", hashlib.sha256).digest()
    app.state.reply_csrf_key = hmac.new(secret, b"kyoryoku-reply-csrf", hashlib.sha256).digest()
    app.state.reply_rate = RateWindow(RATE_PER_ADDRESS, 60.0)
    app.state.reply_post_rate = RateWindow(RATE_POSTS_PER_LETTER, 600.0)
    guard = next(
        (k for k, m in enumerate(app.user_middleware) if getattr(m, "cls", None) is RequestGuard),
        len(app.user_middleware),
    )
    app.user_middleware.insert(guard, Middleware(PublicReplyBodies))
    access = logging.getLogger("uvicorn.access")
    if _REDACT not in access.filters:
        access.addFilter(_REDACT)
    app.exception_handler(LinkRefused)(_link_refused)
    app.exception_handler(LetterLocked)(_letter_locked)
    app.include_router(api)
    app.include_router(router)


# --- throttling ------------------------------------------------------------------------------


class RateWindow:
    """At most ``limit`` hits per key in any ``seconds`` (sliding window, this worker's memory,
    at most ``max_keys`` keys: the oldest are forgotten first)."""

    def __init__(self, limit: int, seconds: float, max_keys: int = 20_000) -> None:
        self.limit, self.seconds, self.max_keys = limit, seconds, max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> int:
        """Count a hit; the seconds to wait (0: allowed, and counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.seconds:
                hits.popleft()
            self._hits[key] = hits  # most recently used last
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.seconds - now))
            hits.append(now)
            while len(self._hits) > self.max_keys:
                self._hits.pop(next(iter(self._hits)))
            return 0


class ReplyThrottled(LoginThrottled):
    """Too many requests to the reply pages from one address (429, ``Retry-After``)."""

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.args = (
            f"短い間に多くの操作があったため、一時的に受け付けを止めています。"
            f"{self.seconds} 秒ほど待ってから、もう一度お試しください",
        )


def _failure_key(address: str) -> str:
    return f"reply:{address[:100]}"


def failures_wait(session: DbSession, address: str) -> int:
    """Seconds the address stays locked for refused tokens (0: not locked)."""
    row = session.get(LoginThrottleRow, _failure_key(address))
    if row is None or row.locked_until is None:
        return 0
    return max(0, math.ceil((row.locked_until - utcnow()).total_seconds()))


def count_failure(session: DbSession, address: str, policy: ThrottlePolicy) -> int:
    """Count a refused token against the address; the lock it starts (seconds, 0: none)."""
    now = utcnow()
    session.execute(
        delete(LoginThrottleRow).where(LoginThrottleRow.last_failed_at < now - FORGET_AFTER)
    )
    key = _failure_key(address)
    row = session.get(LoginThrottleRow, key)
    if row is None:
        row = LoginThrottleRow(key=key, failures=0, last_failed_at=now)
        session.add(row)
    row.failures += 1
    row.last_failed_at = now
    seconds = policy.lock_for(row.failures, REPLY_FREE_FAILURES)
    if seconds:
        row.locked_until = now + dt.timedelta(seconds=seconds)
    session.flush()
    return seconds


def _open_letter(request: Request, store: Store, token: str) -> int:
    """The letter behind ``token`` for this request, after the flood and guessing limits."""
    address = client_address(request)
    wait = request.app.state.reply_rate.hit(address)
    if wait:
        raise ReplyThrottled(wait)
    with store.read() as s:
        wait = failures_wait(s, address)
    if wait:
        raise ReplyThrottled(wait)
    try:
        with store.read() as s:
            return letter_for_token(s, token)
    except LinkRefused:
        with store.write() as s:
            count_failure(s, address, request.app.state.throttle)
        raise


def _count_refused_answer(request: Request, store: Store) -> None:
    with store.write() as s:
        count_failure(s, client_address(request), request.app.state.throttle)


# --- the public pages ------------------------------------------------------------------------


def _page(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, ctx, status_code=status_code
    )
    return response


async def _link_refused(request: Request, exc: Exception) -> Response:
    reason = getattr(exc, "reason", "unknown")
    return _page(
        request,
        "reply_closed.html",
        404 if reason == "unknown" else 410,
        message=str(exc),
        reason=reason,
    )


async def _letter_locked(request: Request, exc: Exception) -> Response:
    if not request.url.path.startswith("/r/"):
        return error_response(request.scope, 409, str(exc))
    return _page(request, "reply_closed.html", 409, message=str(exc), reason="locked")


def _csrf_value(request: Request, letter_id: int, nonce: str) -> str:
    key: bytes = request.app.state.reply_csrf_key
    mac = hmac.new(key, f"{letter_id}|{nonce}".encode(), hashlib.sha256).hexdigest()
    return f"{nonce}.{mac}"


def _csrf_pair(request: Request, letter_id: int) -> tuple[str, str]:
    nonce = request.cookies.get(REPLY_COOKIE) or ""
    if not re.fullmatch(r"[A-Za-z0-9_-]{32}", nonce):
        nonce = secrets.token_urlsafe(24)
    return nonce, _csrf_value(request, letter_id, nonce)


def _csrf_ok(request: Request, letter_id: int, sent: str) -> bool:
    nonce = request.cookies.get(REPLY_COOKIE) or ""
    if not nonce or not sent or "." not in sent or not sent.startswith(nonce + "."):
        return False
    return hmac.compare_digest(sent, _csrf_value(request, letter_id, nonce))


def _with_cookie(request: Request, response: Response, nonce: str) -> Response:
    response.set_cookie(
        REPLY_COOKIE,
        nonce,
        max_age=4 * 3600,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        path="/r/",
    )
    return response


def _letter_ctx(letter: LetterView) -> dict[str, Any]:
    return {
        "letter": letter,
        "choices": [(c, ANSWER_LABELS_JA[letter.kind][c]) for c in ANSWER_CODES],
        "capabilities": [(c.code, c.label_ja, int(c)) for c in CAPABILITIES],
        "partner_changes": list(PARTNER_CHANGES_JA.items()),
        "max_partner_changes": MAX_PARTNER_CHANGES,
        "live": {ProposalStatus.PROPOSED.value, ProposalStatus.CONTACTED.value},
    }


def _form_values(letter: LetterView, answer: LetterAnswer | None) -> dict[str, str]:
    """An answer as the form's field values (for a correction, or after an error)."""
    v: dict[str, str] = {}
    if answer is None:
        if letter.kind == "institution":
            v["capacity"] = "" if letter.capacity is None else str(letter.capacity)
            v["infection"] = "yes" if letter.infection_agreement else ""
            for c in CAPABILITIES:
                v[f"offer_{c.code}"] = "on" if letter.offers & c else ""
        return v
    for r in answer.rows:
        v[f"a_{r.proposal_id}"] = r.answer
        v[f"reason_{r.proposal_id}"] = r.reason
        v[f"from_{r.proposal_id}"] = r.from_date.isoformat() if r.from_date else ""
    if letter.kind == "institution":
        v["capacity"] = "" if answer.capacity is None else str(answer.capacity)
        offers = letter.offers if answer.offers is None else answer.offers
        for c in CAPABILITIES:
            v[f"offer_{c.code}"] = "on" if offers & c else ""
        inf = answer.infection_agreement
        v["infection"] = "" if inf is None else ("yes" if inf else "no")
    for k, pc in enumerate(answer.partner_changes):
        v[f"pc_name_{k}"] = pc.name
        v[f"pc_change_{k}"] = pc.change
        for c in CAPABILITIES:
            v[f"pc_{c.code}_{k}"] = "on" if pc.covers & c else ""
    v |= {"person": answer.person, "contact": answer.contact, "note": answer.note}
    return v


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


def answer_from_form(letter: LetterView, form: Mapping[str, Any]) -> LetterAnswer:
    """The answer a reply form sent (``InputError`` for what cannot be read: a row of another
    letter or an unknown choice is left to ``check_answer``, which refuses the whole answer)."""
    issues: list[RowIssue] = []
    rows = []
    for name in form:
        m = re.fullmatch(r"a_(\d{1,10})", str(name))
        if not m:
            continue
        pid, choice = int(m.group(1)), _text(form, name)
        if not choice:
            continue
        when = _text(form, f"from_{pid}")
        from_date = None
        if when:
            try:
                from_date = dt.date.fromisoformat(when)
            except ValueError:
                issues.append(RowIssue("回答", None, "受入開始日", when[:20], "日付が読めません"))
        rows.append(RowAnswer(pid, choice, _text(form, f"reason_{pid}"), from_date))
    capacity = offers = infection = None
    if letter.kind == "institution":
        text = _text(form, "capacity")
        if text:
            if text.isdigit() and len(text) <= 4:
                capacity = int(text)
            else:
                issues.append(
                    RowIssue("回答", None, "受入可能な施設数", text[:20], "整数で書いてください")
                )
        if _text(form, "offers_shown"):
            offers = sum(int(c) for c in CAPABILITIES if _text(form, f"offer_{c.code}"))
        inf = _text(form, "infection")
        infection = {"yes": True, "no": False}.get(inf)
    changes = []
    for k in range(MAX_PARTNER_CHANGES):
        name, change = _text(form, f"pc_name_{k}"), _text(form, f"pc_change_{k}")
        if not name and not change:
            continue
        covers = sum(int(c) for c in CAPABILITIES if _text(form, f"pc_{c.code}_{k}"))
        changes.append(PartnerChange(name, change, covers))
    if issues:
        raise InputError(issues)
    return LetterAnswer(
        rows=tuple(sorted(rows, key=lambda r: r.proposal_id)),
        capacity=capacity,
        offers=offers,
        infection_agreement=infection,
        partner_changes=tuple(changes),
        person=_text(form, "person"),
        contact=_text(form, "contact"),
        note=_text(form, "note"),
    )


def _summary(letter: LetterView, answer: LetterAnswer) -> list[tuple[str, str]]:
    """The answer in plain words, for the confirmation page."""
    out = []
    for r in answer.rows:
        row = letter.row(r.proposal_id)
        name = (
            row.facility_name
            if row and letter.kind == "institution"
            else row.institution_name
            if row
            else str(r.proposal_id)
        )
        text = letter.answer_label(r.answer)
        if r.reason:
            text += f" (理由・条件: {r.reason})"
        if r.from_date:
            text += f" {r.from_date.year}年{r.from_date.month}月{r.from_date.day}日から"
        out.append((name, text))
    if answer.capacity is not None:
        out.append(("受入可能な施設数", f"{answer.capacity} 施設"))
    if answer.offers is not None:
        out.append(
            (
                "対応できる要件",
                "・".join(c.label_ja for c in CAPABILITIES if answer.offers & c) or "なし",
            )
        )
    if answer.infection_agreement is not None:
        out.append(("第二種協定指定医療機関", "はい" if answer.infection_agreement else "いいえ"))
    for pc in answer.partner_changes:
        caps = "".join(c.mark for c in CAPABILITIES if pc.covers & c)
        out.append(
            (
                "協力医療機関の変更",
                f"{pc.name}: {PARTNER_CHANGES_JA.get(pc.change, pc.change)} {caps}",
            )
        )
    for label, value in (
        ("ご担当者", answer.person),
        ("連絡先", answer.contact),
        ("備考", answer.note),
    ):
        if value:
            out.append((label, value))
    return out


def _form_page(
    request: Request,
    letter: LetterView,
    values: dict[str, str],
    status_code: int = 200,
    errors: list[str] | None = None,
) -> Response:
    nonce, csrf = _csrf_pair(request, letter.id)
    response = _page(
        request,
        "reply_form.html",
        status_code,
        **_letter_ctx(letter),
        values=values,
        errors=errors or [],
        csrf=csrf,
        action=request.url.path.removesuffix("/send"),
    )
    return _with_cookie(request, response, nonce)


def _issue_lines(exc: InputError) -> list[str]:
    return [
        (f"{i.column}: " if i.column and i.column != "file" else "") + i.message for i in exc.issues
    ]


@router.get("/r/{token}", response_class=HTMLResponse)
def reply_page(token: str, request: Request, store: StoreDep) -> Response:
    letter_id = _open_letter(request, store, token)
    with store.read() as s:
        letter = letter_view(s, letter_id)
        before = latest_answer(s, letter_id)
    if letter.locked:
        return _page(
            request,
            "reply_closed.html",
            200,
            message="回答の受付は締め切られました。ご回答ありがとうございました。",
            reason="locked",
            summary=_summary(letter, before) if before else [],
            letter=letter,
        )
    return _form_page(request, letter, _form_values(letter, before))


async def _posted(request: Request, store: Store, token: str) -> tuple[LetterView, FormData]:
    """The letter of ``token`` and the posted form, read only after the token and the CSRF
    pair were found good."""
    letter_id = await run_in_threadpool(_open_letter, request, store, token)
    wait = request.app.state.reply_post_rate.hit(f"letter:{letter_id}")
    if wait:
        raise ReplyThrottled(wait)
    form = await request.form(max_files=0, max_fields=200)
    sent = form.get("csrf_token")
    if not _csrf_ok(request, letter_id, sent if isinstance(sent, str) else ""):
        await run_in_threadpool(_count_refused_answer, request, store)
        raise _Refused(
            403,
            "ページの有効期限が切れたか、別の画面から送られました。"
            "もう一度リンクを開いてから送ってください",
        )

    def read() -> LetterView:
        with store.read() as s:
            return letter_view(s, letter_id)

    letter = await run_in_threadpool(read)
    if letter.locked:
        raise LetterLocked(letter.id)
    return letter, form


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _refused_page(request: Request, exc: _Refused) -> Response:
    return _page(request, "reply_closed.html", exc.status, message=str(exc), reason="refused")


async def _checked_answer(
    request: Request, store: Store, letter: LetterView, form: FormData
) -> LetterAnswer | Response:
    """The posted answer, or the form again with what is wrong (422)."""
    try:
        answer = answer_from_form(letter, form)
        check_answer(letter, answer)
    except InputError as exc:
        foreign = [i for i in exc.issues if i.message == "この回答票にない行です"]
        if foreign:  # another letter's rows: refused as a probe, counted like a bad token
            await run_in_threadpool(_count_refused_answer, request, store)
            return _refused_page(
                request, _Refused(422, "この回答票にない行への回答は受け付けられません")
            )
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return _form_page(request, letter, values, 422, _issue_lines(exc))
    return answer


@router.post("/r/{token}", response_class=HTMLResponse)
async def reply_confirm(token: str, request: Request, store: StoreDep) -> Response:
    try:
        letter, form = await _posted(request, store, token)
    except _Refused as exc:
        return _refused_page(request, exc)
    answer = await _checked_answer(request, store, letter, form)
    if isinstance(answer, Response):
        return answer
    nonce, csrf = _csrf_pair(request, letter.id)
    hidden = [(k, v) for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"]
    response = _page(
        request,
        "reply_confirm.html",
        letter=letter,
        summary=_summary(letter, answer),
        hidden=hidden,
        csrf=csrf,
        action=request.url.path + "/send",
    )
    return _with_cookie(request, response, nonce)


@router.post("/r/{token}/send", response_class=HTMLResponse)
async def reply_send(token: str, request: Request, store: StoreDep) -> Response:
    try:
        letter, form = await _posted(request, store, token)
    except _Refused as exc:
        return _refused_page(request, exc)
    if form.get("action") == "edit":
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return _form_page(request, letter, values)
    answer = await _checked_answer(request, store, letter, form)
    if isinstance(answer, Response):
        return answer

    def apply() -> None:
        with store.write() as s:
            record_answer(s, letter.id, answer, "link", f"{CHANNEL_LABELS_JA['link']}")

    await run_in_threadpool(apply)
    path = request.url.path.removesuffix("/send")
    return RedirectResponse(f"{path}/done", 303)


@router.get("/r/{token}/done", response_class=HTMLResponse)
def reply_done(token: str, request: Request, store: StoreDep) -> Response:
    letter_id = _open_letter(request, store, token)
    with store.read() as s:
        letter = letter_view(s, letter_id)
        answers = letter_answers(s, letter)
        before = latest_answer(s, letter_id)
    last = next((a for a in answers if a.channel == "link"), None)
    return _page(
        request,
        "reply_done.html",
        letter=letter,
        result=last,
        summary=_summary(letter, before) if before else [],
        again=request.url.path.removesuffix("/done"),
        outcome_labels=OUTCOME_LABELS_JA,
    )


# --- the coordinator's pages -----------------------------------------------------------------


def _visible_run(s: DbSession, user: User, run_id: int) -> RunRow:
    run = s.get(RunRow, run_id)
    area = s.get(AreaRow, run.area_id) if run is not None else None
    try:
        if run is None or area is None:
            raise NotFoundError(run_id)
        get_visible_area(s, scope_of(user), area.code)
    except NotFoundError:
        raise NotFoundError(f"計算 {run_id} は見つかりません") from None
    return run


def _visible_letter(s: DbSession, user: User, letter_id: int) -> LetterView:
    try:
        get_visible_area(s, scope_of(user), letter_run_area(s, letter_id))
    except NotFoundError:
        raise NotFoundError(f"回答票 L{letter_id} は見つかりません") from None
    return letter_view(s, letter_id)


def visible_letter_ids(s: DbSession, scope: CodeSet) -> list[int]:
    """The letters of the runs of areas the user sees."""
    areas = [a.id for a in visible_areas(s, scope)]
    if not areas:
        return []
    return list(
        s.scalars(
            select(ReplyLetterRow.id)
            .join(RunRow, RunRow.id == ReplyLetterRow.run_id)
            .where(RunRow.area_id.in_(areas))
        )
    )


def _render(request: Request, name: str, sess: Any, **ctx: Any) -> HTMLResponse:
    from .pages import render

    code = request.query_params.get("msg", "")
    return render(request, name, sess, reply_message=MESSAGES.get(code, ""), **ctx)


def _back(target: str, code: str) -> RedirectResponse:
    assert code in MESSAGES
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}msg={code}", 303)


def public_base(request: Request) -> str:
    """The address outside recipients open: the first of ``KYORYOKU_ALLOWED_ORIGINS`` when set
    (the public host behind a proxy), else the address this request came to."""
    origins = [o.strip().rstrip("/") for o in get_settings().allowed_origins.split(",")]
    origins = [o for o in origins if o]
    return origins[0] if origins else str(request.base_url).rstrip("/")


def _safe_file(text: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", text)[:60] or "letter"


def _pack(request: Request, store: Store, issued: list[IssuedLink], key: bytes) -> bytes:
    """The ZIP of freshly issued links: per letter the printable form with its QR code and the
    Excel form, and links.csv (the only copy of the tokens)."""
    base = public_base(request)
    out = io.BytesIO()
    listing = io.StringIO()
    w = csv.writer(listing)
    w.writerow(["回答票番号", "宛先の種類", "ID", "名称", "回答用アドレス", "回答期限"])
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z, store.read() as s:
        for link in issued:
            letter = letter_view(s, link.letter_id)
            url = base + link.path()
            folder = "医療機関" if link.kind == "institution" else "施設"
            stem = f"{folder}/{link.code}_{_safe_file(link.recipient_name)}"
            z.writestr(f"回答票/{stem}.html", form_html(letter, url, today_jst()))
            z.writestr(
                f"回答票/{stem}.xlsx", form_workbook(letter, key, latest_answer(s, letter.id))
            )
            w.writerow(
                [
                    link.code,
                    RECIPIENT_LABELS_JA[link.kind],
                    link.recipient_id,
                    link.recipient_name,
                    url,
                    link.deadline.isoformat(),
                ]
            )
        z.writestr("links.csv", "\ufeff" + listing.getvalue())
    return out.getvalue()


def _download(data: bytes, name: str, media: str) -> Response:
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


DeadlineForm = Annotated[dt.date, Form(title="回答期限")]


@router.get("/runs/{run_id}/replies", response_class=HTMLResponse)
def run_replies_page(
    run_id: IntId, request: Request, sess: SessionDep, store: StoreDep
) -> Response:
    with store.read() as s:
        run = _visible_run(s, sess.user, run_id)
        letters = letter_summaries(s, run.id)
    deadlines = [x.deadline for x in letters if x.deadline is not None]
    sent = [x for x in letters if x.link != "none"]
    rounds = {
        "letters": len(letters),
        "sent": len(sent),
        "answered": sum(x.answers > 0 for x in sent),
        "outstanding": sum(x.answers == 0 and not x.locked for x in sent),
        "held": sum(x.held for x in letters),
        "deadline": min(deadlines) if deadlines else None,
        "days_left": (min(deadlines) - today_jst()).days if deadlines else None,
    }
    return _render(
        request,
        "replies_run.html",
        sess,
        run=run,
        letters=letters,
        rounds=rounds,
        recipient_labels=RECIPIENT_LABELS_JA,
        default_deadline=(today_jst() + dt.timedelta(days=DEFAULT_DAYS)).isoformat(),
    )


@router.post("/runs/{run_id}/replies/issue")
def run_replies_issue(
    run_id: IntId,
    request: Request,
    user: WriterDep,
    store: StoreDep,
    deadline: DeadlineForm,
) -> Response:
    """Links for every letter of the run without a live one; the ZIP to print and send."""
    with store.write() as s:
        _visible_run(s, user, run_id)
        issued = issue_links(s, run_id, deadline, user.username)
    data = _pack(request, store, issued, request.app.state.reply_key)
    return _download(data, f"回答票_計算{run_id}_{dt.date.today():%Y%m%d}.zip", "application/zip")


@router.get("/replies/letters/{letter_id}", response_class=HTMLResponse)
def letter_page(letter_id: IntId, request: Request, sess: SessionDep, store: StoreDep) -> Response:
    with store.read() as s:
        letter = _visible_letter(s, sess.user, letter_id)
        answers = letter_answers(s, letter)
        held = [h for h in held_items(s, [letter_id])]
        before = latest_answer(s, letter_id)
    return _render(
        request,
        "replies_letter.html",
        sess,
        **_letter_ctx(letter),
        answers=answers,
        held=held,
        values=_form_values(letter, before),
        recipient_labels=RECIPIENT_LABELS_JA,
        channel_labels=CHANNEL_LABELS_JA,
        outcome_labels=OUTCOME_LABELS_JA,
        default_deadline=(
            letter.deadline or today_jst() + dt.timedelta(days=DEFAULT_DAYS)
        ).isoformat(),
    )


@router.get("/replies/letters/{letter_id}/form.xlsx")
def letter_workbook(letter_id: IntId, request: Request, user: UserDep, store: StoreDep) -> Response:
    with store.read() as s:
        letter = _visible_letter(s, user, letter_id)
        data = form_workbook(letter, request.app.state.reply_key, latest_answer(s, letter_id))
    return _download(
        data,
        f"回答票_{letter.code}_{_safe_file(letter.recipient_name)}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.get("/replies/letters/{letter_id}/form.html")
def letter_form(letter_id: IntId, user: UserDep, store: StoreDep) -> Response:
    """The printable form without a link (the link exists only when it is issued)."""
    with store.read() as s:
        letter = _visible_letter(s, user, letter_id)
    return _download(
        form_html(letter, "", today_jst()).encode(),
        f"回答票_{letter.code}_{_safe_file(letter.recipient_name)}.html",
        "text/html; charset=utf-8",
    )


@router.post("/replies/letters/{letter_id}/reissue")
def letter_reissue(
    letter_id: IntId,
    request: Request,
    user: WriterDep,
    store: StoreDep,
    deadline: DeadlineForm,
) -> Response:
    """A new link for one letter (the earlier ones stop working): its printable form with the
    new QR code, as a download."""
    with store.write() as s:
        _visible_letter(s, user, letter_id)
        link = reissue_link(s, letter_id, user.username, deadline)
    with store.read() as s:
        letter = letter_view(s, letter_id)
    url = public_base(request) + link.path()
    return _download(
        form_html(letter, url, today_jst()).encode(),
        f"回答票_{letter.code}_{_safe_file(letter.recipient_name)}_リンク付き.html",
        "text/html; charset=utf-8",
    )


def _letter_action(
    store: Store, user: User, letter_id: int, act: Callable[[DbSession], object]
) -> None:
    with store.write() as s:
        _visible_letter(s, user, letter_id)
        act(s)


@router.post("/replies/letters/{letter_id}/revoke")
def letter_revoke(letter_id: IntId, user: WriterDep, store: StoreDep) -> Response:
    _letter_action(store, user, letter_id, lambda s: revoke_links(s, letter_id, user.username))
    return _back(f"/replies/letters/{letter_id}", "revoked")


@router.post("/replies/letters/{letter_id}/lock")
def letter_lock(
    letter_id: IntId, user: WriterDep, store: StoreDep, locked: Annotated[bool, Form()] = True
) -> Response:
    _letter_action(
        store, user, letter_id, lambda s: set_locked(s, letter_id, locked, user.username)
    )
    return _back(f"/replies/letters/{letter_id}", "locked" if locked else "unlocked")


@router.post("/replies/letters/{letter_id}/answer")
async def letter_answer(
    letter_id: IntId, request: Request, user: WriterDep, store: StoreDep
) -> Response:
    """An answer the coordinator types in (received by phone, FAX or on paper)."""
    form = await request.form(max_files=0, max_fields=200)

    def apply() -> None:
        with store.write() as s:
            letter = _visible_letter(s, user, letter_id)
            record_answer(
                s, letter_id, answer_from_form(letter, form), "coordinator", user.username
            )

    await run_in_threadpool(apply)
    return _back(f"/replies/letters/{letter_id}", "answered")


@router.post("/replies/items/{item_id}/resolve")
def item_resolve(
    item_id: IntId,
    user: WriterDep,
    store: StoreDep,
    action: Annotated[str, Form(pattern="^(apply|dismiss)$", title="処理")],
    note: Annotated[str, Form(max_length=2000, title="メモ")] = "",
    back: Annotated[str, Form(max_length=200, title="戻り先")] = "/replies",
) -> Response:
    with store.write() as s:
        ids = set(visible_letter_ids(s, scope_of(user)))
        held = {h.id: h for h in held_items(s, ids)}
        if item_id not in held:
            raise NotFoundError(f"確認待ちの回答 {item_id} は見つかりません")
        resolve_item(s, item_id, "apply" if action == "apply" else "dismiss", user.username, note)
    target = back if back.startswith("/") and not back.startswith("//") else "/replies"
    return _back(target, "resolved")


@router.get("/replies", response_class=HTMLResponse)
def replies_page(
    request: Request,
    sess: SessionDep,
    store: StoreDep,
    batch: Annotated[str, Query(max_length=32, pattern="^[0-9a-f]*$", title="取り込み")] = "",
) -> Response:
    with store.read() as s:
        ids = visible_letter_ids(s, scope_of(sess.user))
        held = held_items(s, ids)
        results = [
            r
            for r in (batch_results(s, batch) if batch else [])
            if r.letter_id is None or r.letter_id in set(ids)
        ]
    return _render(
        request,
        "replies_queue.html",
        sess,
        held=held,
        results=results,
        channel_labels=CHANNEL_LABELS_JA,
        outcome_labels=OUTCOME_LABELS_JA,
    )


# --- JSON API --------------------------------------------------------------------------------


class ReplyItemOut(BaseModel):
    item: str
    outcome: str
    outcome_ja: str
    message: str
    proposal_id: int | None = None
    label: str = ""
    answer: str = ""


class ReplyFileOut(BaseModel):
    file_name: str
    letter_id: int | None
    outcome: str
    outcome_ja: str
    message: str
    items: list[ReplyItemOut]


class ReplyImportOut(BaseModel):
    batch: str
    files: list[ReplyFileOut]
    counts: dict[str, int]


class LetterOut(BaseModel):
    id: int
    code: str
    kind: str
    recipient_id: str
    recipient_name: str
    rows: int
    deadline: dt.date | None
    locked: bool
    link: str
    link_expires_at: dt.datetime | None
    answers: int
    last_answer_at: dt.datetime | None
    held: int


class HeldOut(BaseModel):
    id: int
    letter_id: int
    kind: str
    recipient_name: str
    item: str
    proposal_id: int | None
    answer: str
    answer_ja: str
    message: str
    detail: dict[str, Any]
    versions: dict[str, Any]
    channel: str
    at: dt.datetime


def _item_out(i: Any) -> ReplyItemOut:
    return ReplyItemOut(
        item=i.item,
        outcome=i.outcome,
        outcome_ja=i.outcome_ja,
        message=i.message,
        proposal_id=i.proposal_id,
        label=i.label,
        answer=i.answer,
    )


@api.post(
    "/imports/replies",
    summary="返送された Excel の回答票を取り込む (複数ファイル・ZIP、ファイルごとに全部か無し)",
    response_model=ReplyImportOut,
)
def import_replies(
    request: Request,
    user: WriterDep,
    store: StoreDep,
    files: Annotated[list[UploadFile], File(description="回答票 (.xlsx) または ZIP")],
    page: Annotated[bool, Form(description="画面から: 結果のページへ移動する")] = False,
) -> Any:
    uploads = []
    for f in files[:1000]:
        uploads.append((f.filename or "upload.xlsx", f.file.read()))
    settings = get_settings()
    limits = ArchiveLimits(max_total_bytes=settings.max_uncompressed_bytes)
    with store.write() as s:
        visible = set(visible_letter_ids(s, scope_of(user)))
        report = import_returned_forms(
            s,
            uploads,
            request.app.state.reply_key,
            user.username,
            limits=limits,
            visible=visible.__contains__,
        )
    if page:
        return RedirectResponse(f"/replies?batch={report.batch}", 303)
    return ReplyImportOut(
        batch=report.batch,
        files=[
            ReplyFileOut(
                file_name=f.file_name,
                letter_id=f.letter_id,
                outcome=f.outcome,
                outcome_ja=f.outcome_ja,
                message=f.message,
                items=[_item_out(i) for i in f.items],
            )
            for f in report.files
        ],
        counts={o: report.count(o) for o in OUTCOME_LABELS_JA},
    )


@api.get(
    "/runs/{run_id}/replies",
    summary="計算の回答票 (宛先・リンク・回答)",
    response_model=list[LetterOut],
)
def run_replies(run_id: IntId, user: UserDep, store: StoreDep) -> list[LetterOut]:
    with store.read() as s:
        _visible_run(s, user, run_id)
        return [
            LetterOut(
                id=x.id,
                code=x.code,
                kind=x.kind,
                recipient_id=x.recipient_id,
                recipient_name=x.recipient_name,
                rows=x.n_rows,
                deadline=x.deadline,
                locked=x.locked,
                link=x.link,
                link_expires_at=x.link_expires_at,
                answers=x.answers,
                last_answer_at=x.last_answer_at,
                held=x.held,
            )
            for x in letter_summaries(s, run_id)
        ]


@api.get(
    "/replies/held",
    summary="担当者の確認待ちの回答 (保留・条件付き、送付時と現在の両方の版)",
    response_model=list[HeldOut],
)
def held_replies(user: UserDep, store: StoreDep) -> list[HeldOut]:
    with store.read() as s:
        items = held_items(s, visible_letter_ids(s, scope_of(user)))
    return [
        HeldOut(
            id=h.id,
            letter_id=h.letter_id,
            kind=h.kind,
            recipient_name=h.recipient_name,
            item=h.item,
            proposal_id=h.proposal_id,
            answer=h.answer,
            answer_ja=h.answer_ja,
            message=h.message,
            detail=h.detail,
            versions=h.versions,
            channel=h.channel,
            at=h.at,
        )
        for h in items
    ]
