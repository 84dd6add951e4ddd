"""Reference areas in the store: 構想区域 and 郡市医師会 tables kept as ordinary areas.

Each area of a table (``matcher.reference_areas.ReferenceArea``) is one row of ``areas`` with its
municipalities in ``area_municipalities``, saved by ``areas.save_area``: membership, scoping,
runs and every list treat it as any other area (``CodeSet`` / ``member_filter``). Its kind is
stored as itself (``kousou``, ``ishikai``: ``vocab.AreaKind``, since revision 0010; before, the
check constraint admitted only ``renkei`` for a set of municipalities, and the migration moved
those whose code the tables made — ``kousou-…``, ``ishikai-…`` — to their own kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from ..reference_areas import (
    AreaTable,
    ReferenceKind,
    TableRow,
    code_of_key,
    prefecture_code,
    table_name,
    table_of_rows,
)
from ..vocab import AREA_KIND_LABELS_JA as AREA_KIND_LABELS_JA
from .areas import area_codes, list_areas, save_area
from .models import AreaRow, RunRow


def area_kind(area: AreaRow) -> str:
    """The area's kind (``vocab.AreaKind``), as stored."""
    return area.kind


@dataclass(frozen=True)
class TableSaved:
    """What saving a table did: area codes saved, removed, and kept because runs use them."""

    saved: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def reference_rows(
    session: Session, kind: ReferenceKind, prefecture: str | None = None
) -> list[AreaRow]:
    """The stored areas of ``kind`` (of one prefecture: code or name), by code."""
    pref = prefecture_code(prefecture) if prefecture else None
    q = (
        select(AreaRow)
        .where(AreaRow.kind == kind)
        .options(selectinload(AreaRow.municipalities))
        .order_by(AreaRow.code)
    )
    return [
        a
        for a in session.scalars(q)
        if pref is None or {m.code[:2] for m in a.municipalities} == {pref}
    ]


def save_table(session: Session, table: AreaTable, prune: bool = True) -> TableSaved:
    """Store every area of ``table`` (created or replaced, idempotent). With ``prune``, the
    stored areas of the same kind in the table's prefectures that the table no longer has are
    removed — unless a run was made for one (runs keep their area): those are kept and named."""
    out = TableSaved()
    wanted = {a.key for a in table.areas}
    for a in table.areas:
        save_area(session, a.key, a.display_name, table.kind, a.members)
        out.saved.append(a.key)
    if prune:
        for pref in table.prefectures:
            for area in reference_rows(session, table.kind, pref):
                if area.code in wanted:
                    continue
                used = session.scalar(select(exists().where(RunRow.area_id == area.id)))
                if used:
                    out.kept.append(area.code)
                else:
                    session.delete(area)
                    out.removed.append(area.code)
    session.flush()
    return out


def stored_table(session: Session, kind: ReferenceKind, prefecture: str | None = None) -> AreaTable:
    """The stored areas of ``kind`` as a table (to export, edit and import again)."""
    rows = []
    for area in reference_rows(session, kind, prefecture):
        name = table_name(kind, area.name)
        code = code_of_key(kind, area.code, name)
        rows += [TableRow(None, m, name, code) for m in sorted(area_codes(area).codes)]
    return table_of_rows(kind, rows, "データベース")


def same_kind_areas(session: Session, area: AreaRow) -> list[AreaRow]:
    """The other stored areas of ``area``'s kind (its neighbours in the same table; for other
    areas, the other stored areas of their kind), by code."""
    kind = area_kind(area)
    return [a for a in list_areas(session) if a.code != area.code and area_kind(a) == kind]
