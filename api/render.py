"""Rendering a page: the template with the user, the CSRF token, the labels and the banner of a
redirect (``api.security.flash``); and the redirects that end every form (post/redirect/get)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from matcher.model import FACILITY_KINDS
from matcher.vocab import ProposalStatus

from .deps import Session
from .security import flash

STATUS_LABELS_JA = {s.value: s.label_ja for s in ProposalStatus}


def render(
    request: Request, name: str, sess: Session | None, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    """Template ``name`` with ``ctx`` and what every page shows."""
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


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirect)."""
    return target if target and target.startswith("/") and not target.startswith("//") else default


def flash_redirect(target: str, kind: str, code: str) -> RedirectResponse:
    """Back to ``target`` (303) with the message (``msg``) or error (``err``) ``code`` shown."""
    return RedirectResponse(flash.with_code(target, kind, code), 303)
