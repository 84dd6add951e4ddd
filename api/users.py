"""Web users, their scope and the audit trail (the store's ``web_users`` and ``web_audit`` tables).

The tables are defined with the store's models (``matcher.store.models``) and created by its
migrations; this module holds what the web does with them. Proposal status changes are also in
the store's append-only ``proposal_history``; ``web_audit`` records every change made through the
web (status changes, hand-made proposals, runs, imports, users).

A user's scope is a list of codes: 2-digit prefecture codes and/or 5-digit municipality codes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher._errors import InputError, RowIssue
from matcher.store.errors import NotFoundError
from matcher.store.models import UserRow, utcnow
from matcher.store.web_audit import audit_log as audit_log  # the API's audit log
from matcher.store.web_audit import record as audit  # every change through the web
from matcher.usecases.actor import ROLE_LABELS_JA, ROLES, Actor, Role, may_write
from matcher.vocab import CodeSet

from .security import sessions as server_sessions

__all__ = ["ROLES", "ROLE_LABELS_JA", "Role", "User", "audit", "audit_log"]

_hasher = PasswordHasher()  # argon2id with the library's current defaults


@dataclass(frozen=True)
class User:
    """The logged-in user as the routes see it (no password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    scope: tuple[str, ...]
    session_epoch: int = 0

    @property
    def can_write(self) -> bool:
        return may_write(self.role)

    @property
    def actor(self) -> Actor:
        """The user as the use cases take it (``matcher.usecases.actor``)."""
        return Actor(self.username, self.role, _scope(self.scope))

    @property
    def role_ja(self) -> str:
        return ROLE_LABELS_JA[self.role]


@lru_cache(maxsize=4096)
def _scope(codes: tuple[str, ...]) -> CodeSet:
    return CodeSet.of(codes)


def _as_user(row: UserRow) -> User:
    return User(
        row.id,
        row.username,
        row.display_name,
        row.role,  # type: ignore[arg-type]  # a stored role is one of ROLES (checked by add_user)
        tuple(row.scope or ()),
        row.session_epoch,
    )


def normalize_scope(codes: Iterable[str]) -> list[str]:
    """Scope codes as 2 or 5 digits (6-digit municipality codes lose their check digit)."""
    out: set[str] = set()
    for raw in codes:
        text = unicodedata.normalize("NFKC", str(raw)).strip()
        if not text:
            continue
        if not text.isdigit() or len(text) not in (1, 2, 5, 6):
            raise InputError(
                f"担当地域のコード「{raw}」が不正です (都道府県2桁または市区町村5桁・6桁)"
            )
        out.add(text.zfill(2) if len(text) <= 2 else text[:5])
    return sorted(out)


def add_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    scope: Iterable[str],
    display_name: str = "",
    actor: str = "cli",
) -> User:
    """Create a user (or reset an existing user's password, role and scope)."""
    if role not in ROLES:
        raise InputError(f"不明な役割「{role}」(使えるのは {', '.join(ROLES)})")
    username = username.strip()
    if not username:
        raise InputError("ユーザー名が空です")
    if len(password) < 8:
        raise InputError(f"パスワードは8文字以上にしてください (今は {len(password)} 文字)")
    codes = normalize_scope(scope)
    if not codes:
        raise InputError("担当地域 (都道府県コードまたは市区町村コード) を一つ以上指定してください")
    row = session.scalar(select(UserRow).where(UserRow.username == username))
    if row is None:
        row = UserRow(username=username, created_at=utcnow(), session_epoch=0)
        session.add(row)
    else:
        row.session_epoch = (row.session_epoch or 0) + 1
    row.password_hash = _hasher.hash(password)
    row.role, row.scope, row.display_name, row.active = role, codes, display_name or username, True
    session.flush()
    ended = server_sessions.revoke_user(session, row.id, actor, "password")
    audit(
        session,
        actor,
        "user.save",
        username,
        {"role": role, "scope": codes, "sessions_ended": ended},
    )
    return _as_user(row)


def change_password(
    session: Session, user: User, current: str, new: str, keep_session: str | None = None
) -> int:
    """A user's own password change: the current password is checked, every session of the user
    but ``keep_session`` ends. Returns how many sessions were ended."""
    row = session.get(UserRow, user.id)
    if row is None or authenticate(session, user.username, current) is None:
        raise InputError(RowIssue("", None, "current_password", None, "現在のパスワードが違います"))
    if len(new) < 8:
        raise InputError(
            RowIssue(
                "",
                None,
                "new_password",
                None,
                f"パスワードは8文字以上にしてください (今は {len(new)} 文字)",
            )
        )
    if new == current:
        raise InputError(RowIssue("", None, "new_password", None, "新しいパスワードが今と同じです"))
    row.password_hash = _hasher.hash(new)
    row.session_epoch = (row.session_epoch or 0) + 1
    ended = server_sessions.revoke_user(session, row.id, user.username, "password", keep_session)
    audit(session, user.username, "user.password", user.username, {"sessions_ended": ended})
    return ended


def find_user(session: Session, username: str) -> User | None:
    """An active user by name (``None``: unknown or deactivated)."""
    row = session.scalar(select(UserRow).where(UserRow.username == username.strip()))
    return None if row is None or not row.active else _as_user(row)


def revoke_sessions(session: Session, actor: User, username: str) -> int:
    """An administrator ends every session of a user: a prefecture user for users whose scope
    lies inside theirs, anyone for themselves. Returns how many sessions were ended."""
    target = find_user(session, username)
    allowed = target is not None and (
        target.id == actor.id
        or (actor.role == "prefecture" and CodeSet.of(actor.scope).covers(CodeSet.of(target.scope)))
    )
    if target is None or not allowed:
        raise NotFoundError(f"ユーザー「{username}」は見つかりません (または管理できません)")
    ended = server_sessions.revoke_user(session, target.id, actor.username, "admin")
    audit(session, actor.username, "session.revoke", target.username, {"sessions_ended": ended})
    return ended


def revoke_all_sessions(session: Session, username: str, actor: str = "cli") -> int:
    """The server's operator ends every session of a user (``kyoryoku users revoke``), also of a
    deactivated one; returns how many were open. Unknown user: ``NotFoundError``."""
    row = session.scalar(select(UserRow).where(UserRow.username == username.strip()))
    if row is None:
        raise NotFoundError(f"ユーザー「{username}」は見つかりません")
    ended = server_sessions.revoke_user(session, row.id, actor, "admin")
    audit(session, actor, "session.revoke", row.username, {"sessions_ended": ended})
    return ended


def authenticate(session: Session, username: str, password: str) -> User | None:
    row = session.scalar(select(UserRow).where(UserRow.username == username.strip()))
    if row is None or not row.active:
        _hasher.hash(password)  # same work whether or not the user exists
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return _as_user(row)


def get_user(session: Session, user_id: int) -> User | None:
    row = session.get(UserRow, user_id)
    return None if row is None or not row.active else _as_user(row)


def list_users(session: Session) -> list[User]:
    return [_as_user(r) for r in session.scalars(select(UserRow).order_by(UserRow.username))]
