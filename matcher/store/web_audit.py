"""The audit log of changes made through the web and the user commands (``web_audit``): who did
what to what, when — status changes, hand-made proposals, runs, imports, logins, users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AuditRow, utcnow


def record(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one line to the audit log (in the caller's transaction)."""
    session.add(
        AuditRow(at=utcnow(), actor=actor, action=action, target=target, detail=detail or {})
    )


def audit_log(session: Session, limit: int = 200, actor: str | None = None) -> list[AuditRow]:
    """The latest ``limit`` lines, newest first (only ``actor``'s when given)."""
    q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if actor is not None:
        q = q.where(AuditRow.actor == actor)
    return list(session.scalars(q))
