"""The status table by kind × area in the seed table's ①②③④ form; the audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from matcher.store.db import Store

from ..deps import Forbidden, current_user, get_store
from ..queries import STATUS_COLUMNS, days_left, get_visible_area, status_table, visible_areas
from ..users import User, audit_log

router = APIRouter(prefix="/api", tags=["status"])


@router.get("/status-table", summary="施設種別 × 地域の状況表 (①②③④)")
def get_status_table(
    area: str | None = Query(None),
    user: User = Depends(current_user),
    store: Store = Depends(get_store),
) -> dict[str, object]:
    with store.read() as s:
        areas = [get_visible_area(s, user, area)] if area else visible_areas(s, user)
        return {
            "columns": [{"key": k, "label": label} for k, label in STATUS_COLUMNS],
            "days_left": days_left(),
            "rows": status_table(s, user, areas),
        }


@router.get("/audit", summary="監査ログ (都道府県ユーザーは全員分、その他は本人の操作)")
def get_audit(
    limit: int = Query(200, ge=1, le=5000),
    user: User = Depends(current_user),
    store: Store = Depends(get_store),
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
