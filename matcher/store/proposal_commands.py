"""What a coordinator does to a proposal: propose a pair by hand, change a proposal's status.

A status change is version-checked (optimistic: a stale version is a ``ConflictError``) and
follows the lifecycle ``TRANSITIONS``; every change appends a history row (``record_history``,
also used by a run's commit). How each decision weighs in the next run: ``planner_input``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..vocab import PROPOSAL_TRANSITIONS
from ..vocab import ProposalStatus as ProposalStatusCode
from . import holds
from .backups import BackupRow, agree_refusal, settlements
from .errors import ConflictError, NotFoundError, TransitionError
from .locks import ledger_lock
from .manual import LimitExceeded, check_proposal
from .models import (
    ACTIVE_STATUSES,
    FacilityRow,
    InstitutionRow,
    ProposalHistoryRow,
    ProposalRow,
    utcnow,
)
from .proposals import proposal_row

ProposalStatus = Literal["proposed", "contacted", "agreed", "declined", "withdrawn"]
STATUS_LABELS_JA = {s.value: s.label_ja for s in ProposalStatusCode}
TRANSITIONS: dict[str, frozenset[str]] = {
    k.value: frozenset(v.value for v in allowed) for k, allowed in PROPOSAL_TRANSITIONS.items()
}


def record_history(
    session: Session,
    p: ProposalRow,
    from_status: str | None,
    actor: str,
    note: str,
    run_id: int | None = None,
) -> None:
    """Append the history row of a change of ``p`` (to its status and version now)."""
    session.add(
        ProposalHistoryRow(
            proposal_id=p.id,
            at=utcnow(),
            actor=actor,
            from_status=from_status,
            to_status=p.status,
            note=note,
            run_id=run_id,
            version=p.version,
        )
    )


def set_status(
    session: Session,
    proposal_id: int,
    status: ProposalStatus,
    expected_version: int,
    actor: str,
    note: str = "",
) -> ProposalRow:
    """Move a proposal to ``status`` if nobody changed it since the caller read
    ``expected_version``.

    A decided request settles its conditional backups and held answers (``settle_backups``); a
    backup is not agreed while the request it backs is open (``backups.agree_refusal``); a
    受入可 under a ``hold`` strategy stays 打診中, held (``holds.answer_target``).

    Raises ``ConflictError`` on a stale version, ``TransitionError`` on a change the lifecycle does
    not allow, ``NotFoundError`` for an unknown id.
    """
    if status not in TRANSITIONS:
        raise TransitionError(f"不明な状態「{status}」(使えるのは {', '.join(TRANSITIONS)})")
    p = proposal_row(session, proposal_id, lock=True)
    if p.version != expected_version:
        raise ConflictError(
            f"提案 {proposal_id} は他の人が先に更新しました (あなたの版: {expected_version}、"
            f"現在の版: {p.version}、現在の状態: {STATUS_LABELS_JA[p.status]})。"
            "最新の内容を読み込んでから、もう一度操作してください",
            expected_version,
            p.version,
        )
    if status not in TRANSITIONS[p.status]:
        allowed = "、".join(STATUS_LABELS_JA[s] for s in sorted(TRANSITIONS[p.status])) or "なし"
        raise TransitionError(
            f"提案 {proposal_id} は「{STATUS_LABELS_JA[p.status]}」から"
            f"「{STATUS_LABELS_JA[status]}」に変更できません (変更できる状態: {allowed})"
        )
    refusal = agree_refusal(session, p) if status == ProposalStatusCode.AGREED.value else ""
    if refusal:
        raise TransitionError(refusal)
    before = p.status
    now = utcnow()
    target, held = holds.answer_target(session, p, status)
    if held:
        note = f"{note} / {held}" if note else held
    if target == p.status:  # a 受入可 to a request already 打診中, held: touched, so seen
        p.updated_by, p.updated_at = actor, now
    else:
        p.status, p.updated_by, p.updated_at, p.status_at = target, actor, now, now
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(
            f"提案 {proposal_id} は他の人が同時に更新しました。"
            "最新の内容を読み込んでから、もう一度操作してください",
            expected_version,
        ) from None
    record_history(session, p, before, actor, note)
    session.flush()
    settle_backups(session, [p], actor)
    return p


def settle_backups(
    session: Session, decided: Iterable[ProposalRow], actor: str, run_id: int | None = None
) -> list[ProposalRow]:
    """Settle the open backups of the ``decided`` proposals as ``backups.settlements`` says,
    and the held answers as ``holds.settlements`` says — the one place every status change
    applies them: ``set_status``, and a run's withdrawals and releases (``run_write``,
    ``run_id`` in the history). A backup moved is itself settled in turn; one left open becomes
    an ordinary request (its ``proposal_backups`` row is deleted, its history says why; touched
    so that cached lists see it). The proposals changed."""
    decided = list(decided)
    changed = apply_settlements(session, holds.settlements(session, decided), actor, run_id)
    ids = [p.id for p in decided]
    backed: set[int] = set()  # one query for a run's hundreds of withdrawals, not one each
    for k in range(0, len(ids), 500):
        backed.update(
            session.scalars(
                select(BackupRow.primary_id).where(BackupRow.primary_id.in_(ids[k : k + 500]))
            )
        )
    for p in decided:
        if p.id in backed:
            changed += apply_settlements(session, settlements(session, p), actor, run_id)
    session.flush()
    return changed


def apply_settlements(
    session: Session,
    moves: list[tuple[ProposalRow, str | None, str]],
    actor: str,
    run_id: int | None = None,
) -> list[ProposalRow]:
    """Apply ``moves`` (proposal, new status, history note) that settling decided: a moved
    proposal is itself settled in turn; ``None`` leaves a backup open as an ordinary request
    (its ``proposal_backups`` row is deleted; touched so that cached lists see it). Used by
    ``settle_backups`` and by a re-plan's held answers (``round_strategy.write_round``)."""
    changed: list[ProposalRow] = []
    for moved, to, why in moves:
        b = proposal_row(session, moved.id, lock=True)
        before, now = b.status, utcnow()
        if to is None:
            row = session.get(BackupRow, b.id)
            if row is not None:  # through the session: a later ``backup_of`` sees it gone
                session.delete(row)
            b.updated_by, b.updated_at = actor, now
        else:
            b.status, b.updated_by, b.updated_at, b.status_at = to, actor, now, now
        session.flush()
        record_history(session, b, before, actor, why, run_id)
        changed.append(b)
        if to is not None:
            changed += settle_backups(session, [b], actor, run_id)
    session.flush()
    return changed


def propose(
    session: Session,
    facility_id: str,
    institution_id: str,
    actor: str,
    note: str = "",
    covers: int | None = None,
    override_reason: str = "",
) -> ProposalRow:
    """A proposal a coordinator enters by hand (no run); ``covers`` defaults to what the
    institution offers of the facility's required capabilities. Beyond the distance limits of
    the area's latest run or the institution's remaining capacity it is refused
    (``manual.LimitExceeded``) unless ``override_reason`` says why; the reason and what was
    exceeded go into the history."""
    fac = session.get(FacilityRow, facility_id)
    inst = session.get(InstitutionRow, institution_id)
    if fac is None:
        raise NotFoundError(f"施設 {facility_id} は存在しません")
    if inst is None:
        raise NotFoundError(f"医療機関 {institution_id} は存在しません")
    live = session.scalar(
        select(ProposalRow).where(
            ProposalRow.facility_id == facility_id,
            ProposalRow.institution_id == institution_id,
            ProposalRow.status.in_(ACTIVE_STATUSES),
        )
    )
    if live is not None:
        raise ConflictError(
            f"この組み合わせには既に提案 {live.id} ({STATUS_LABELS_JA[live.status]}) があります"
        )
    ledger_lock(session)
    check = check_proposal(session, fac, inst, covers)
    if check.filed_partner:  # an existing partnership is never proposed as a new one
        raise ConflictError(
            f"{inst.name} はこの施設が届け出た既存の協力医療機関です。新たな提案にはできません"
        )
    covers, km, problems = check.covers, check.km, list(check.problems)
    if problems and not override_reason.strip():
        raise LimitExceeded(problems)
    if problems:
        exceeded, why = "; ".join(problems), override_reason.strip()
        note = f"{note or '手入力で提案'} / 条件を超えて提案: {why} ({exceeded})"
    return add_proposal(
        session, facility_id, institution_id, covers, km, actor, note or "手入力で提案", utcnow()
    )


def add_proposal(
    session: Session,
    facility_id: str,
    institution_id: str,
    covers: int,
    distance_km: float,
    actor: str,
    note: str,
    now: dt.datetime,
    run_id: int | None = None,
) -> ProposalRow:
    """A new proposal (``run_id``: the run's, ``None``: by hand) and its first history row."""
    p = ProposalRow(
        run_id=run_id,
        facility_id=facility_id,
        institution_id=institution_id,
        covers=covers,
        distance_km=distance_km,
        status="proposed",
        created_at=now,
        updated_at=now,
        updated_by=actor,
        status_at=now,
    )
    session.add(p)
    session.flush()
    record_history(session, p, None, actor, note, run_id)
    return p
