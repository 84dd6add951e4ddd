"""Exports of an area's current state: CSV with BOM per table, or one Excel workbook."""

from __future__ import annotations

import io
from typing import Literal
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Query
from fastapi.responses import Response

from matcher.store.areas import get_visible_area
from matcher.store.dashboard import status_table
from matcher.store.db import Store
from matcher.store.export import csv_bytes, state_frames, write_xlsx
from matcher.store.facilities import scoped_facilities

from ..deps import StoreDep, UserDep, scope_of
from ..errors import ERROR_RESPONSES
from ..users import User

router = APIRouter(prefix="/api/exports", tags=["exports"], responses=ERROR_RESPONSES)
Table = Literal["summary", "facilities", "proposals", "institutions", "status"]


def _frames(store: Store, user: User, area: str) -> dict[str, pd.DataFrame]:
    scope = scope_of(user)
    with store.read() as s:
        a = get_visible_area(s, scope, area)
        frames = state_frames(s, a.code)
        # Only facilities within the user's scope (an area is visible only when wholly in scope,
        # so this is a safety net rather than a filter).
        ids = {r.facility_id for r in scoped_facilities(s, scope, a)}
        if not frames["facilities"].empty:
            frames["facilities"] = frames["facilities"][
                frames["facilities"]["facility_id"].isin(ids)
            ]
        frames["status"] = pd.DataFrame(status_table(s, scope, [a]))
        return frames


def _download(data: bytes, name: str, media: str) -> Response:
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/{table}.csv", summary="CSV (UTF-8 BOM 付き、Excel でそのまま開けます)")
def export_csv(
    table: Table,
    user: UserDep,
    store: StoreDep,
    area: str = Query(..., description="地域コード"),
) -> Response:
    df = _frames(store, user, area)[table]
    return _download(csv_bytes(df), f"{area}_{table}.csv", "text/csv; charset=utf-8")


@router.get("/state.xlsx", summary="Excel (施設・提案・医療機関・状況表のシート)")
def export_xlsx(user: UserDep, store: StoreDep, area: str = Query(...)) -> Response:
    buf = io.BytesIO()
    write_xlsx(_frames(store, user, area), buf)
    return _download(
        buf.getvalue(),
        f"{area}_state.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
