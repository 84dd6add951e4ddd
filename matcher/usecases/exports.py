"""Exports of an area's current state: CSV (with BOM) per table, or one Excel workbook."""

from __future__ import annotations

import io
from typing import Literal

import pandas as pd

from ..store.areas import get_visible_area
from ..store.dashboard import status_table
from ..store.export import csv_bytes, state_frames, write_xlsx
from ..store.facilities import scoped_facilities
from .actor import Actor
from .unit import UnitOfWork

Table = Literal["summary", "facilities", "proposals", "institutions", "status"]


def export_frames(uow: UnitOfWork, actor: Actor, area: str) -> dict[str, pd.DataFrame]:
    """The tables of one of the actor's areas (only facilities within the scope: an area is
    visible only when wholly in scope, so this is a safety net rather than a filter)."""
    with uow.read() as s:
        a = get_visible_area(s, actor.scope, area)
        frames = state_frames(s, a.code)
        ids = {r.facility_id for r in scoped_facilities(s, actor.scope, a)}
        if not frames["facilities"].empty:
            frames["facilities"] = frames["facilities"][
                frames["facilities"]["facility_id"].isin(ids)
            ]
        frames["status"] = pd.DataFrame(status_table(s, actor.scope, [a]))
        return frames


def export_csv(uow: UnitOfWork, actor: Actor, area: str, table: Table) -> bytes:
    """One table as CSV (UTF-8 with BOM: Excel opens it as it is)."""
    return csv_bytes(export_frames(uow, actor, area)[table])


def export_xlsx(uow: UnitOfWork, actor: Actor, area: str) -> bytes:
    """Every table as one Excel workbook."""
    buf = io.BytesIO()
    write_xlsx(export_frames(uow, actor, area), buf)
    return buf.getvalue()
