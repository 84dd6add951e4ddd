"""The status table by kind × area in the seed table's ①②③④ form; the audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Query

from matcher.store.areas import get_visible_area, visible_areas
from matcher.store.dashboard import STATUS_COLUMNS, days_left, status_table

from ..deps import Forbidden, StoreDep, UserDep, scope_of
from ..errors import ERROR_RESPONSES
from ..schemas import AuditOut, StatusTableOut
from ..users import audit_log

router = APIRouter(prefix="/api", tags=["status"], responses=ERROR_RESPONSES)


@router.get(
    "/status-table", summary="施設種別 × 地域の状況表 (①②③④)", response_model=StatusTableOut
)
def get_status_table(
    user: UserDep, store: StoreDep, area: str | None = Query(None)
) -> dict[str, object]:
    scope = scope_of(user)
    with store.read() as s:
        areas = [get_visible_area(s, scope, area)] if area else visible_areas(s, scope)
        return {
            "columns": [{"key": k, "label": label} for k, label in STATUS_COLUMNS],
            "days_left": days_left(),
            "rows": status_table(s, scope, areas),
        }


@router.get(
    "/audit",
    summary="監査ログ (都道府県ユーザーは全員分、その他は本人の操作)",
    response_model=list[AuditOut],
)
def get_audit(
    user: UserDep, store: StoreDep, limit: int = Query(200, ge=1, le=5000)
) -> list[dict[str, object]]:
    if user.role == "viewer":
        raise Forbidden("監査ログを見る権限がありません")
    with store.read() as s:
        rows = audit_log(s, limit, None if user.role == "prefecture" else user.username)
        return [
            {
                "id": r.id,
                "at": r.at.isoformat(timespec="seconds"),
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "detail": r.detail,
            }
            for r in rows
        ]
