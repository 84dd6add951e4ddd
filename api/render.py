"""Rendering a page: the template with the user, the CSRF token, the labels and the banner of a
redirect (``api.security.flash``); a public page (no session: the reply links, the 相談窓口);
and the redirects that end every form (post/redirect/get)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from matcher.model import FACILITY_KINDS
from matcher.params import MatchParams
from matcher.vocab import Capability, ProposalStatus

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


def page(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """Template ``name`` with ``ctx`` only: a page for people without a login."""
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


def run_preview_url(area_code: str, mode: str, params: MatchParams, note: str = "") -> str:
    """The re-plan preview (``/runs/preview``, the run form's fields) of ``area_code`` with a
    run's mode and parameters (the form has no road factor or time limit: their defaults)."""
    query = {
        "area_code": area_code,
        "mode": mode,
        "consult_km": params.max_km[Capability.CONSULT],
        "care_km": params.max_km[Capability.CARE],
        "admit_km": params.max_km[Capability.ADMIT],
        "max_new_partners": params.max_new_partners,
        **({"include_unknown": "1"} if params.include_unknown else {}),
        "prefer_infection_agreement": params.prefer_infection_agreement,
        **({"note": note} if note else {}),
    }
    return "/runs/preview?" + urlencode(query)
