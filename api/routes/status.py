"""The status table by kind × area in the seed table's ①②③④ form; the audit log
(``matcher.usecases.areas``, ``matcher.usecases.audit``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from matcher.usecases import areas, audit
from matcher.usecases.views import AuditLogEntryView, StatusTableView

from ..deps import ActorDep, UowDep
from ..errors import ERROR_RESPONSES
from ..schemas import AuditOut, StatusTableOut, many

router = APIRouter(prefix="/api", tags=["status"], responses=ERROR_RESPONSES)


@router.get(
    "/status-table", summary="施設種別 × 地域の状況表 (①②③④)", response_model=StatusTableOut
)
def get_status_table(
    actor: ActorDep, uow: UowDep, area: Annotated[str | None, Query()] = None
) -> StatusTableView:
    return areas.status_table_of(uow, actor, area)


@router.get(
    "/audit",
    summary="監査ログ (都道府県ユーザーは全員分、その他は本人の操作)",
    response_model=many(AuditOut),
)
def get_audit(
    actor: ActorDep, uow: UowDep, limit: Annotated[int, Query(ge=1, le=5000)] = 200
) -> tuple[AuditLogEntryView, ...]:
    return audit.audit_log(uow, actor, limit)
