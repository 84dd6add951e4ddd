"""Areas a user sees, the seed-table status of their facilities, the dashboard and the map.

An area is visible when all its municipalities lie in the actor's scope
(``matcher.store.areas``); a run's page also opens for a wider area overlapping the scope.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from ..progress import Progress, municipality_names
from ..reference import municipalities
from ..store.areas import (
    cached_visible_area,
    get_visible_area,
    overlapping_areas,
    visible_areas,
)
from ..store.dashboard import (
    INFECTION_COLUMN,
    STATUS_COLUMNS,
    days_left,
    infection_counts,
    latest_runs,
    map_layers,
    status_counts,
    status_table,
)
from ..store.facilities import facility_dict, scoped_states
from ..store.models import AreaRow
from ..store.progress import progress_by_year
from ..store.proposals import scoped_proposals
from ..vocab import ProposalStatus
from .actor import Actor
from .unit import UnitOfWork
from .views import (
    AreaDetailView,
    AreaView,
    FacilityView,
    MapBackgroundView,
    MapFacilityView,
    MapInstitutionView,
    MapProposalView,
    MapView,
    OutlineView,
    RunView,
    StatusColumnView,
    StatusRowView,
    StatusTableView,
    TownView,
    area_view,
    from_dict,
    run_view,
)


def visible_area(uow: UnitOfWork, actor: Actor, code: str) -> AreaRow | None:
    """The area ``code`` if the actor sees it (``NotFoundError`` otherwise); "" → ``None``."""
    if not code:
        return None
    return cached_visible_area(uow.cache, uow.store, actor.scope, code)


def area_choices(uow: UnitOfWork, actor: Actor) -> tuple[AreaView, ...]:
    """The areas the actor sees, for a page's area filter."""
    with uow.read() as s:
        return tuple(area_view(a) for a in visible_areas(s, actor.scope))


@lru_cache(maxsize=64)
def municipality_choices(codes: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(code, name) of municipalities ``codes``, for a list's filter."""
    names = municipality_names()
    return tuple((c, names.get(c, c)) for c in codes)


# --- the JSON API ------------------------------------------------------------------------------


def list_areas(uow: UnitOfWork, actor: Actor) -> tuple[AreaView, ...]:
    return area_choices(uow, actor)


def area_detail(uow: UnitOfWork, actor: Actor, code: str) -> AreaDetailView:
    """An area with how many of its facilities are in each state."""
    with uow.read() as s:
        a = get_visible_area(s, actor.scope, code)
        counts = status_counts(scoped_states(s, actor.scope, a))
        return AreaDetailView(**vars(area_view(a)), status_counts=counts["total"])


def status_table_of(uow: UnitOfWork, actor: Actor, area: str | None = None) -> StatusTableView:
    """The seed table (施設種別 × 地域, ①②③④) of one area or of every visible area."""
    with uow.read() as s:
        areas = [get_visible_area(s, actor.scope, area)] if area else visible_areas(s, actor.scope)
        rows = status_table(s, actor.scope, areas)
    return StatusTableView(
        columns=tuple(StatusColumnView(k, label) for k, label in STATUS_COLUMNS),
        days_left=days_left(),
        rows=tuple(from_dict(StatusRowView, r) for r in rows),
    )


def map_of(uow: UnitOfWork, actor: Actor, area: str | None = None) -> MapView:
    """Facilities coloured by status, institutions near them, live proposals as lines."""
    with uow.read() as s:
        a = get_visible_area(s, actor.scope, area) if area else None
        layers = map_layers(s, actor.scope, a)
    return MapView(
        facilities=tuple(from_dict(MapFacilityView, d) for d in layers["facilities"]),  # type: ignore[attr-defined]
        institutions=tuple(from_dict(MapInstitutionView, d) for d in layers["institutions"]),  # type: ignore[attr-defined]
        proposals=tuple(from_dict(MapProposalView, d) for d in layers["proposals"]),  # type: ignore[attr-defined]
    )


@cache
def _outlines() -> dict[str, list[list[float]]]:
    """Prefecture name → its outline (lon/lat points), bundled with ``matcher.gaps``."""
    text = resources.files("matcher.gaps").joinpath("prefectures.json").read_text("utf-8")
    outlines: dict[str, list[list[float]]] = json.loads(text)["prefectures"]
    return outlines


def map_background(uow: UnitOfWork, actor: Actor, area: str = "") -> MapBackgroundView:
    """The outlines of the prefectures in the actor's scope (or ``area``) and the names of its
    municipalities at their points: a background that needs no tile server (LGWAN)."""
    members = None
    if area:
        a = visible_area(uow, actor, area)
        members = {m.code for m in a.municipalities} if a is not None else None
    towns = [
        m
        for m in municipalities()
        if actor.scope.contains(m.code5)
        and (members is None or m.code5 in members or m.code5[:2] in members)
    ]
    outlines = _outlines()
    return MapBackgroundView(
        outlines=tuple(
            OutlineView(p, outlines.get(p, [])) for p in sorted({m.prefecture for m in towns})
        ),
        municipalities=tuple(TownView(m.code5, m.name, m.lat, m.lon) for m in towns),
    )


# --- pages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    """The overview a coordinator starts from."""

    areas: tuple[AreaView, ...]
    counts: dict[str, dict[str, int]]  # kind (and "total") → status → facilities
    infection: dict[str, int]  # kind → facilities with a 第二種協定指定医療機関 partner
    infection_label: str
    columns: tuple[tuple[str, str], ...]  # (status, heading)
    days_left: int
    by_status: dict[str, int]  # proposal status → proposals
    progress: Progress
    runs: tuple[RunView, ...]  # latest runs of the areas overlapping the scope
    area_names: dict[str, str]  # area code → name, for the runs


def dashboard(uow: UnitOfWork, actor: Actor) -> Dashboard:
    scope = actor.scope
    with uow.read() as s:
        areas = visible_areas(s, scope)
        states = scoped_states(s, scope)
        props = scoped_proposals(s, scope)
        # runs of the actor's areas and of wider ones that proposed for the actor's facilities
        run_areas = overlapping_areas(s, scope)
        codes = {a.id: a.code for a in run_areas}
        runs = tuple(run_view(r, codes[r.area_id]) for r in latest_runs(s, run_areas))
        progress = progress_by_year(s, scope)
    return Dashboard(
        areas=tuple(area_view(a) for a in areas),
        counts=status_counts(states),
        infection=infection_counts(states),
        infection_label=INFECTION_COLUMN[1],
        columns=STATUS_COLUMNS,
        days_left=days_left(),
        by_status={k.value: sum(p["status"] == k.value for p in props) for k in ProposalStatus},
        progress=progress,
        runs=runs,
        area_names={a.code: a.name for a in run_areas},
    )


@dataclass(frozen=True)
class MapPage:
    area: AreaView | None
    areas: tuple[AreaView, ...]
    facilities: tuple[FacilityView, ...]


def map_page(uow: UnitOfWork, actor: Actor, area: str | None = None) -> MapPage:
    with uow.read() as s:
        a = get_visible_area(s, actor.scope, area) if area else None
        states = scoped_states(s, actor.scope, a)
        areas = visible_areas(s, actor.scope)
        return MapPage(
            area=None if a is None else area_view(a),
            areas=tuple(area_view(x) for x in areas),
            facilities=tuple(from_dict(FacilityView, facility_dict(st)) for st in states),
        )
