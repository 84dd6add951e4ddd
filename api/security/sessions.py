"""Server-side sessions (``web_sessions``): created at login, looked up by the SHA-256 of the
token, ended by logout, a password change, an administrator, idle time or absolute age.

The token is 256 random bits; only its hash is stored, so a copy of the database does not log
anyone in. ``last_seen_at`` is written at most once per ``TOUCH_SECONDS`` so that an active
session does not turn every read into a write (and keeps the read cache valid).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from matcher.store.models import WebSessionRow, utcnow

TOUCH_SECONDS = 60
PURGE_AFTER = dt.timedelta(days=7)  # ended sessions are kept a week for the audit, then deleted


@dataclass(frozen=True)
class SessionRecord:
    """A stored session as the request sees it (immutable: it may be shared through the cache)."""

    id: str
    user_id: int
    csrf: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool

    def alive(self, now: dt.datetime, idle_seconds: int) -> bool:
        """Not revoked, not past its absolute expiry, not idle for longer than allowed."""
        return (
            not self.revoked
            and now < self.expires_at
            and (now - self.last_seen_at).total_seconds() <= idle_seconds
        )


def token_id(token: str) -> str:
    """The stored id of a token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create(
    session: Session, user_id: int, lifetime_seconds: int, client: str = ""
) -> tuple[str, str]:
    """Start a session; returns the token (for the cookie or bearer header) and its CSRF token."""
    now = utcnow()
    session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now - PURGE_AFTER))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        WebSessionRow(
            id=token_id(token),
            user_id=user_id,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(seconds=lifetime_seconds),
            client=client[:100],
        )
    )
    session.flush()
    return token, csrf


def find(session: Session, sid: str) -> SessionRecord | None:
    row = session.get(WebSessionRow, sid)
    if row is None:
        return None
    return SessionRecord(
        row.id,
        row.user_id,
        row.csrf,
        row.created_at,
        row.last_seen_at,
        row.expires_at,
        row.revoked_at is not None,
    )


def touch(session: Session, sid: str, now: dt.datetime) -> None:
    session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.id == sid, WebSessionRow.revoked_at.is_(None))
        .values(last_seen_at=now)
    )


def revoke(session: Session, sid: str, actor: str, reason: str) -> bool:
    """End one session; whether it was still open."""
    result = session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.id == sid, WebSessionRow.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by=actor[:100], revoked_reason=reason)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_user(
    session: Session, user_id: int, actor: str, reason: str, keep: str | None = None
) -> int:
    """End every open session of a user (but ``keep``); how many were open."""
    q = (
        update(WebSessionRow)
        .where(WebSessionRow.user_id == user_id, WebSessionRow.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by=actor[:100], revoked_reason=reason)
    )
    if keep is not None:
        q = q.where(WebSessionRow.id != keep)
    return int(session.execute(q).rowcount)  # type: ignore[attr-defined]
