"""Who acts: a user's name, role and scope as plain values, and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._errors import MatcherError
from ..vocab import CodeSet

Role = Literal["prefecture", "coordinator", "viewer"]
ROLES: tuple[Role, ...] = ("prefecture", "coordinator", "viewer")
ROLE_LABELS_JA: dict[str, str] = {
    "prefecture": "都道府県",
    "coordinator": "コーディネーター",
    "viewer": "閲覧のみ",
}
WRITING_ROLES: frozenset[str] = frozenset({"prefecture", "coordinator"})


class NotAllowedError(MatcherError, PermissionError):
    """The actor's role does not allow the action (the web answers 403)."""


def may_write(role: str) -> bool:
    """Whether ``role`` may change things (propose, change a status, run, import)."""
    return role in WRITING_ROLES


@dataclass(frozen=True)
class Actor:
    """The user a use case acts for: every read is limited to ``scope``, every change is
    recorded under ``username``."""

    username: str
    role: Role
    scope: CodeSet

    @property
    def may_write(self) -> bool:
        return may_write(self.role)

    def require_writer(self) -> None:
        """``NotAllowedError`` unless the actor may change things."""
        if not self.may_write:
            raise NotAllowedError("閲覧のみのユーザーは変更できません")

    @property
    def reads_everyones_log(self) -> bool:
        """A prefecture user reads everyone's audit log; others read their own actions."""
        return self.role == "prefecture"

    def require_audit_log(self) -> None:
        """The audit log (``/api/audit``) is for the users who change things."""
        if self.role == "viewer":
            raise NotAllowedError("監査ログを見る権限がありません")

    def require_audit_trail(self) -> None:
        """The audit trail page (変更履歴) is the prefecture's."""
        if self.role != "prefecture":
            raise NotAllowedError("変更履歴は都道府県のユーザーだけが見られます")
