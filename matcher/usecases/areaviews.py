"""The picture per area (構想区域, 郡市医師会, 拠点 areas …): the areas an actor sees with their
facilities still short, one area's figures (``gaps.area_view.AreaView`` through
``store.area_report``) filtered as a page asks, and its 調整会議資料 workbook.

An area is visible when it lies wholly within the actor's scope (``store.areas``); another
answers ``NotFoundError``.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from ..gaps.area_view import AreaView, HelpingInstitution, ShortFacility
from ..model import FACILITY_KINDS
from ..reports.meeting import meeting_workbook
from ..store.area_report import area_report
from ..store.area_tables import AREA_KIND_LABELS_JA, area_kind
from ..store.areas import area_codes, visible_areas
from ..store.facilities import scoped_states
from ..vocab import CAPABILITY_CODES, Duty
from .actor import Actor
from .unit import UnitOfWork

# The order kinds are listed in (the reference areas first: they are why the page exists).
KIND_ORDER = ("kousou", "ishikai", "renkei", "prefecture", "municipality")


@dataclass(frozen=True)
class AreaSummary:
    """One line of the area list: facilities, those still short and the 義務 among them."""

    code: str
    name: str
    facilities: int
    short: int
    mandatory: int


@dataclass(frozen=True)
class AreaGroup:
    kind: str
    kind_ja: str
    areas: tuple[AreaSummary, ...]


def area_summaries(uow: UnitOfWork, actor: Actor) -> tuple[AreaGroup, ...]:
    """The areas the actor sees, grouped by kind, each with its facilities still short."""
    with uow.read() as s:
        areas = visible_areas(s, actor.scope)
        states = scoped_states(s, actor.scope)
    # (facilities, short, short 義務) per municipality, then summed per area: an area's
    # membership (its CodeSet) is tested once per municipality rather than per facility.
    per_code: dict[str, list[int]] = {}
    for st in states:
        n = per_code.setdefault(st.row.code5, [0, 0, 0])
        n[0] += 1
        if st.missing:
            n[1] += 1
            n[2] += FACILITY_KINDS[st.row.kind].duty is Duty.MANDATORY
    groups: dict[str, list[AreaSummary]] = {}
    for a in areas:
        codes = area_codes(a)
        sums = [0, 0, 0]
        for code, n in per_code.items():
            if codes.contains(code):
                sums = [x + y for x, y in zip(sums, n, strict=True)]
        groups.setdefault(area_kind(a), []).append(AreaSummary(a.code, a.name, *sums))
    order = sorted(groups, key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else 99)
    return tuple(AreaGroup(k, AREA_KIND_LABELS_JA.get(k, k), tuple(groups[k])) for k in order)


@dataclass(frozen=True)
class AreaFilter:
    """What an area page lists: facilities still short by duty, requirement, municipality and
    name or id; institutions by municipality."""

    duty: str = ""
    missing: str = ""
    municipality: str = ""
    q: str = ""

    def facilities(self, view: AreaView) -> tuple[ShortFacility, ...]:
        bit = {code: int(cap) for cap, code in CAPABILITY_CODES.items()}.get(self.missing, 0)
        return tuple(
            f
            for f in view.short
            if (not self.duty or f.duty.value == self.duty)
            and (not self.missing or f.missing & bit)
            and (not self.municipality or f.municipality_code == self.municipality[:5])
            and (not self.q or self.q in f.name or self.q in f.facility_id)
        )

    def institutions(self, view: AreaView) -> tuple[HelpingInstitution, ...]:
        if not self.municipality:
            return view.institutions
        return tuple(h for h in view.institutions if h.municipality_code == self.municipality[:5])


@dataclass(frozen=True)
class AreaPage:
    """An area's figures and the lines its filter keeps."""

    view: AreaView
    short: tuple[ShortFacility, ...]
    institutions: tuple[HelpingInstitution, ...]
    municipalities: tuple[tuple[str, str], ...]  # of the facilities still short, for the filter


def area_page(
    uow: UnitOfWork,
    actor: Actor,
    code: str,
    shown: AreaFilter = AreaFilter(),
    whatif: bool = False,
    today: dt.date | None = None,
) -> AreaPage:
    """Area ``code``'s figures (the what-if on request: it re-solves)."""
    with uow.read() as s:
        view = area_report(s, actor.scope, code, today=today, whatif=whatif)
    towns = tuple(sorted({(f.municipality_code, f.municipality_name) for f in view.short}))
    return AreaPage(view, shown.facilities(view), shown.institutions(view), towns)


def area_workbook(
    uow: UnitOfWork, actor: Actor, code: str, whatif: bool = False
) -> tuple[str, bytes]:
    """(file name, bytes) of area ``code``'s 調整会議資料 workbook."""
    with uow.read() as s:
        view = area_report(s, actor.scope, code, whatif=whatif)
    buf = io.BytesIO()
    meeting_workbook(view).save(buf)
    return f"{view.area.name}_調整会議資料.xlsx", buf.getvalue()
