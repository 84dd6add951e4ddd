"""Areas: a prefecture, a municipality, or a set of municipalities — a 在宅医療連携拠点's area, a
構想区域 or a 郡市医師会's area (``vocab.AreaKind``).

Membership is by municipality code: an area holds 5-digit municipality codes and/or 2-digit
prefecture codes, and a facility belongs to it when the first five (or two) digits of its own
code match (``matcher.vocab.CodeSet``; ``member_filter`` is the same test in SQL).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session, selectinload

from .._errors import InputError
from ..vocab import AreaKind, CodeSet, code5_of
from .cache import ValueCache
from .db import Store
from .errors import NotFoundError
from .models import AreaMunicipalityRow, AreaRow, FacilityRow

__all__ = [
    "AreaKind",
    "area_codes",
    "cached_visible_area",
    "check_kind",
    "code5_of",
    "get_area",
    "get_visible_area",
    "list_areas",
    "member_filter",
    "save_area",
    "visible_areas",
]


def _member_code(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip()
    if text.isdigit() and len(text) in (1, 2):
        return text.zfill(2)
    code = code5_of(text)
    if not code:
        raise InputError(f"市区町村コード「{value}」が不正です (5桁または6桁、都道府県は2桁)")
    return code


def check_kind(kind: str) -> AreaKind:
    """``kind`` as an ``AreaKind`` (``InputError`` naming the known kinds otherwise)."""
    if kind not in AreaKind.codes():
        known = " / ".join(f"{k.value} ({k.label_ja})" for k in AreaKind)
        raise InputError(f"不明な地域の種類「{kind}」({known})")
    return AreaKind(kind)


def save_area(
    session: Session, code: str, name: str, kind: AreaKind | str, members: Iterable[str]
) -> AreaRow:
    """Create the area ``code`` or replace its name, kind and members (idempotent)."""
    kind = check_kind(kind)
    wanted = sorted({_member_code(m) for m in members})
    if not wanted:
        raise InputError(f"地域「{code}」に市区町村が一つもありません")
    area = session.scalar(select(AreaRow).where(AreaRow.code == code))
    if area is None:
        area = AreaRow(code=code, name=name, kind=kind.value)
        session.add(area)
    else:
        area.name, area.kind = name, kind.value
    have = {m.code for m in area.municipalities}
    if have != set(wanted):
        area.municipalities = [m for m in area.municipalities if m.code in wanted]
        area.municipalities.extend(AreaMunicipalityRow(code=c) for c in wanted if c not in have)
    session.flush()
    return area


def _code_name(code: str) -> str:
    """A prefecture's (2 digits) or a municipality's (5 digits) name from the offline reference
    table; the code itself when the table does not know it."""
    from ..progress import municipality_names
    from ..reference import prefectures

    if len(code) == 2:
        names = prefectures()
        return names[int(code) - 1] if 1 <= int(code) <= len(names) else f"都道府県 {code}"
    return municipality_names().get(code, f"市区町村 {code}")


def get_area(session: Session, code: str, create: bool = False) -> AreaRow:
    """The area ``code``. A bare prefecture (2 digits) or municipality code (5/6 digits) that is
    not stored is an area of that kind too: stored when ``create``, else a transient object."""
    area = session.scalar(select(AreaRow).where(AreaRow.code == code))
    if area is not None:
        return area
    text = unicodedata.normalize("NFKC", code).strip()
    if text.isdigit() and len(text) in (1, 2):
        c, kind, name = text.zfill(2), "prefecture", _code_name(text.zfill(2))
    elif code5_of(text):
        c, kind, name = code5_of(text), "municipality", _code_name(code5_of(text))
    else:
        raise NotFoundError(
            f"地域「{code}」は登録されていません "
            "(都道府県コード2桁・市区町村コード、または登録済みの地域コードを指定してください)"
        )
    existing = session.scalar(select(AreaRow).where(AreaRow.code == c))
    if existing is not None:
        return existing
    if create:
        return save_area(session, c, name, kind, [c])
    return AreaRow(code=c, name=name, kind=kind, municipalities=[AreaMunicipalityRow(code=c)])


def list_areas(session: Session) -> list[AreaRow]:
    return list(session.scalars(select(AreaRow).order_by(AreaRow.code)))


def visible_areas(session: Session, scope: CodeSet) -> list[AreaRow]:
    """The stored areas lying wholly within ``scope`` (a user sees an area only then)."""
    return [a for a in list_areas(session) if scope.covers(area_codes(a))]


def overlapping_areas(session: Session, scope: CodeSet) -> list[AreaRow]:
    """The stored areas sharing some municipality with ``scope``: the user's own areas and the
    wider or neighbouring ones whose runs proposed partners for the user's facilities."""
    return [a for a in list_areas(session) if scope.overlaps(area_codes(a))]


def get_run_area(session: Session, scope: CodeSet, code: str) -> AreaRow:
    """The area ``code`` of a run a user may open: one lying within ``scope`` or overlapping it
    (the page then shows only the user's facilities); else ``NotFoundError``."""
    area = session.scalar(
        select(AreaRow).where(AreaRow.code == code).options(selectinload(AreaRow.municipalities))
    )
    if area is None or not scope.overlaps(area_codes(area)):
        raise _not_found(code)
    return area


def _not_found(code: str) -> NotFoundError:
    return NotFoundError(f"地域「{code}」は見つかりません")


def get_visible_area(session: Session, scope: CodeSet, code: str) -> AreaRow:
    """The area ``code`` if it lies wholly within ``scope``, else ``NotFoundError``: a stored
    one, or a bare prefecture or municipality code not stored yet (transient, as ``get_area``
    gives it: a run stores it, as ``kyoryoku run`` does)."""
    area = session.scalar(
        select(AreaRow).where(AreaRow.code == code).options(selectinload(AreaRow.municipalities))
    )
    if area is None:
        try:
            area = get_area(session, code)
        except NotFoundError:
            raise _not_found(code) from None
    if not scope.covers(area_codes(area)):
        raise _not_found(code)
    return area


def cached_visible_area(cache: ValueCache, store: Store, scope: CodeSet, code: str) -> AreaRow:
    """``get_visible_area`` through ``cache`` (the row is detached, its members loaded)."""

    def compute() -> dict[str, AreaRow]:
        with store.read() as s:
            return {
                a.code: a
                for a in s.scalars(select(AreaRow).options(selectinload(AreaRow.municipalities)))
            }

    area = cache.get(("areas",), compute).get(code)
    if area is None or not scope.covers(area_codes(area)):
        raise _not_found(code)
    return area


def area_codes(area: AreaRow) -> CodeSet:
    """The area's member codes as a ``CodeSet``."""
    return CodeSet.of(m.code for m in area.municipalities)


def area_facilities(session: Session, area: AreaRow) -> list[FacilityRow]:
    """The facilities of ``area`` (``member_filter``), by id."""
    return list(
        session.scalars(
            select(FacilityRow)
            .where(member_filter(area, FacilityRow.code5))
            .order_by(FacilityRow.facility_id)
        )
    )


def member_filter(
    members: AreaRow | CodeSet, code5_column: QueryableAttribute[str]
) -> ColumnElement[bool]:
    """SQL condition: the row's ``code5`` lies in the area or code set (``CodeSet.contains``)."""
    codes = area_codes(members) if isinstance(members, AreaRow) else members
    parts = []
    if codes.municipalities:
        parts.append(code5_column.in_(sorted(codes.municipalities)))
    if codes.prefectures:
        parts.append(func.substr(code5_column, 1, 2).in_(sorted(codes.prefectures)))
    return or_(*parts) if parts else false()
