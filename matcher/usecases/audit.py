"""Who changed what, when: the audit log of changes made through the web (JSON) and the audit
trail page of proposal status changes and runs (the prefecture's).

Who may read what is the actor's role (``actor.Actor``): a prefecture user reads everyone's log,
a coordinator their own actions, a viewer nothing; the trail page is the prefecture's only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store.areas import visible_areas
from ..store.audit import AuditEntry, audit_actors, audit_trail
from ..store.audit import AuditQuery as AuditQuery
from ..store.browse import Page
from ..store.web_audit import audit_log as stored_log
from .actor import Actor
from .unit import UnitOfWork
from .views import AuditLogEntryView

__all__ = ["AuditQuery", "AuditTrail", "audit_log", "audit_trail_page"]
WHAT = ("proposal", "run")  # what the trail lists: proposal status changes, runs


def audit_log(uow: UnitOfWork, actor: Actor, limit: int = 200) -> tuple[AuditLogEntryView, ...]:
    """The latest ``limit`` changes: everyone's for a prefecture user, one's own otherwise."""
    actor.require_audit_log()
    with uow.read() as s:
        rows = stored_log(s, limit, None if actor.reads_everyones_log else actor.username)
        return tuple(
            AuditLogEntryView(
                r.id, r.at.isoformat(timespec="seconds"), r.actor, r.action, r.target, r.detail
            )
            for r in rows
        )


@dataclass(frozen=True)
class AuditTrail:
    """One page of the audit trail, its filters and who may be filtered for."""

    result: Page[AuditEntry]
    query: AuditQuery
    actors: tuple[str, ...]


def audit_trail_page(uow: UnitOfWork, actor: Actor, query: AuditQuery) -> AuditTrail:
    """Proposal status changes of the actor's facilities and runs of their areas, newest first
    (an unknown ``what`` lists both)."""
    actor.require_audit_trail()
    if query.what not in WHAT:
        query = AuditQuery(**{**vars(query), "what": ""})
    with uow.read() as s:
        areas = visible_areas(s, actor.scope)
        result = audit_trail(s, areas, actor.scope, query)
        actors = tuple(audit_actors(s, actor.scope))
    return AuditTrail(result, query, actors)
