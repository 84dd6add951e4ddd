"""Conditional backup requests (条件付き依頼): their table and how answers settle them.

A run with ``round_strategy`` backups (``matcher.store.round_strategy``) asks a second
institution for a pair whose coverage hangs on one scarce pair; the backup is a proposal of the
run with a ``proposal_backups`` row naming the request it backs (its primary). Settling:

- the backup answered 受入可 while its primary is open (proposed, contacted) becomes 打診中 and
  is marked accepted (``answer_target``, from the reply path) — a conditional yes;
- once the primary is agreed, the backup is withdrawn; once it is declined or withdrawn, an
  accepted backup is agreed when its institution's ledger has room, and any other open backup
  becomes an ordinary request (its row goes: nothing is conditional any more). ``settlements``
  says what; ``proposal_commands.settle_backups`` applies it after every status change of the
  primary, whichever path made it (``set_status``, recorded answers, a run's withdrawals and
  releases in ``run_write``), so no open backup ever backs a closed request;
- a backup is never agreed while its primary is open (``agree_refusal``), so a backup and its
  primary are never both agreed;
- a backup answered 不可 is declined as any request; an answer to a backup already withdrawn
  because its primary was agreed is moot (``settled_note``).

The capacity ledger counts a backup as any live proposal, and a run adds one only where the
ledger has room counting it, so agreeing it never exceeds a declared capacity.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..vocab import BACKUP_LABEL_JA
from ..vocab import ProposalStatus as Status
from ..wareki import today as today_jp
from .models import Base, InstitutionRow, ProposalRow
from .state import institution_states

OPEN = (Status.PROPOSED.value, Status.CONTACTED.value)
_CHUNK = 500  # ids per IN list


class BackupRow(Base):
    """A conditional backup request: proposal ``backup_id`` is asked in case ``primary_id`` is
    declined, made by run ``run_id`` (revision 0013_backup_requests). ``accepted``: the
    institution said 受入可 while the primary was still open."""

    __tablename__ = "proposal_backups"

    backup_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True
    )
    primary_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)


def backup_of(session: Session, proposal_id: int) -> BackupRow | None:
    """The backup row of ``proposal_id`` when it is a backup request."""
    return session.get(BackupRow, proposal_id)


def answer_target(session: Session, p: ProposalRow, target: str) -> tuple[str, str]:
    """What an answer's status ``target`` does to ``p``: a backup answered 受入可 while its
    primary is still open becomes 打診中 (marked accepted) instead of 合意. (status, a note to
    add; empty when nothing changes.)"""
    row = backup_of(session, p.id)
    if row is None or target != Status.AGREED.value:
        return target, ""
    primary = session.get(ProposalRow, row.primary_id)
    if primary is None or primary.status not in OPEN:
        return target, ""
    row.accepted = True
    session.flush()
    return Status.CONTACTED.value, (
        f"{BACKUP_LABEL_JA}に受入可: 提案 {primary.id} の回答を待って合意または取り下げ"
    )


def settled_note(session: Session, p: ProposalRow) -> str:
    """Why an answer to backup ``p`` is moot: it was withdrawn because the request it backs was
    agreed (empty otherwise)."""
    row = backup_of(session, p.id)
    if row is None or p.status != Status.WITHDRAWN.value:
        return ""
    primary = session.get(ProposalRow, row.primary_id)
    if primary is None or primary.status != Status.AGREED.value:
        return ""
    return f"{BACKUP_LABEL_JA}は、提案 {primary.id} が合意したため不要になりました"


def agree_refusal(session: Session, p: ProposalRow) -> str:
    """Why backup ``p`` may not be agreed now: the request it backs is still open (empty when
    it may: not a backup, or its primary decided)."""
    row = backup_of(session, p.id)
    if row is None:
        return ""
    primary = session.get(ProposalRow, row.primary_id)
    if primary is None or primary.status not in OPEN:
        return ""
    return (
        f"提案 {p.id} は{BACKUP_LABEL_JA}です。提案 {primary.id} "
        f"({Status(primary.status).label_ja}) が決まるまで合意にできません "
        f"(受入可の回答は{Status.CONTACTED.label_ja}として記録し、提案 {primary.id} が"
        "不可・取り下げになれば合意になります)"
    )


def _has_room(session: Session, institution_id: str, on: dt.date) -> bool:
    """Whether the institution's ledger (which counts the backup already) is within its
    declared capacity, so agreeing the backup promises nothing it has not got."""
    inst = session.get(InstitutionRow, institution_id)
    if inst is None:
        return False
    st = institution_states(session, [inst], on).get(institution_id)
    return st is None or st.declared is None or st.used <= st.declared


def settlements(
    session: Session, p: ProposalRow, on: dt.date | None = None
) -> list[tuple[ProposalRow, str | None, str]]:
    """What ``p``'s status now does to its open backups: (backup, new status, history note) —
    withdrawn when ``p`` is agreed; when ``p`` is declined or withdrawn, agreed if it said
    受入可 already and its institution has room, else ``None``: it becomes an ordinary request
    (its row is dropped by the caller). Nothing while ``p`` is open."""
    if p.status in OPEN:
        return []
    on = on or today_jp()
    out: list[tuple[ProposalRow, str | None, str]] = []
    for row in session.scalars(
        select(BackupRow).where(BackupRow.primary_id == p.id).order_by(BackupRow.backup_id)
    ):
        b = session.get(ProposalRow, row.backup_id)
        if b is None or b.status not in OPEN:
            continue
        label = Status(p.status).label_ja
        if p.status == Status.AGREED.value:
            out.append((b, Status.WITHDRAWN.value, f"提案 {p.id} が合意したため取り下げ"))
        elif row.accepted and b.status == Status.CONTACTED.value:
            if _has_room(session, b.institution_id, on):
                why = f"提案 {p.id} が{label}のため、受入可の回答どおり合意"
                out.append((b, Status.AGREED.value, why))
            else:
                why = (
                    f"提案 {p.id} が{label}になりましたが、受入枠に余裕がないため合意にせず"
                    f"{Status.CONTACTED.label_ja}の通常の依頼にしました"
                )
                out.append((b, None, why))
        else:
            why = f"提案 {p.id} が{label}のため、条件のない通常の依頼になりました"
            out.append((b, None, why))
    return [(b, status, f"{BACKUP_LABEL_JA}: {note}") for b, status, note in out]


def backups_of(session: Session, proposal_ids: list[int]) -> dict[int, int]:
    """backup proposal id → the proposal it backs, among ``proposal_ids`` (for the pages)."""
    out: dict[int, int] = {}
    for chunk in range(0, len(proposal_ids), _CHUNK):
        out.update(
            (int(b), int(p))
            for b, p in session.execute(
                select(BackupRow.backup_id, BackupRow.primary_id).where(
                    BackupRow.backup_id.in_(proposal_ids[chunk : chunk + _CHUNK])
                )
            )
        )
    return out
