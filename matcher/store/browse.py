"""List filters: the facility and institution lists searched, filtered, sorted and paginated.

``Page``, ``paginate`` and ``normalise`` serve every paginated list (the audit trail and the
proposals list too).

The filters work on what ``store.state`` computes (a facility's status, missing and pending
requirements; an institution's remaining capacity), never on a second definition of them.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..geo import EARTH_RADIUS_KM
from ..model import FACILITY_KINDS, parse_capabilities
from ..reference import municipality_point
from ..vocab import FacilityKind, Status, code5_of
from .models import (
    ACTIVE_STATUSES,
)
from .state import FacilityState

T = TypeVar("T")
U = TypeVar("U")
PER_PAGE = (20, 50, 100)
_STATUS_ORDER = {s.value: k for k, s in enumerate(Status)}
_KIND_ORDER = {k.value: n for n, k in enumerate(FacilityKind)}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a filtered list: its items, how many matched, and where it is."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        """1-based position of the first item shown (0 when nothing matched)."""
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        """This page with ``fn`` applied to each item."""
        return Page([fn(x) for x in self.items], self.total, self.page, self.per_page)


def paginate(items: Sequence[T], page: int, per_page: int) -> Page[T]:
    """The ``page``-th (1-based, clamped to the last) slice of ``items``."""
    per_page = per_page if per_page in PER_PAGE else PER_PAGE[0]
    pages = max(1, math.ceil(len(items) / per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    return Page(list(items[start : start + per_page]), len(items), page, per_page)


def normalise(text: object) -> str:
    """Search form of a text: NFKC (全角英数 → 半角), lower case, no spaces."""
    return "".join(unicodedata.normalize("NFKC", str(text or "")).casefold().split())


def _capability(code: str) -> int:
    try:
        return parse_capabilities(code) if code else 0
    except ValueError:
        return 0


def _distance(lat: float, lon: float, near: tuple[float, float] | None) -> float | None:
    """``geo.haversine_km`` for one pair in plain floats (numpy per scalar costs 10× more)."""
    if near is None:
        return None
    p1, p2 = math.radians(near[0]), math.radians(lat)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon - near[1]) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, a))))


# --- facilities --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FacilityQuery:
    """What a coordinator asks the facility list (every field comes from the page's URL)."""

    q: str = ""
    municipality: str = ""
    kind: str = ""
    duty: str = ""
    status: str = ""
    missing: str = ""  # a capability code: facilities still missing it
    proposal: str = ""  # a proposal status, or "none": facilities without a live proposal
    near: str = ""  # a municipality code: facilities within ``km`` of its point
    km: float = 10.0
    sort: str = "id"
    desc: bool = False
    page: int = 1
    per_page: int = PER_PAGE[0]


FACILITY_SORTS = ("id", "name", "kind", "status", "missing", "municipality", "distance")


def proposal_statuses(
    proposals: Iterable[Mapping[str, Any]], key: str
) -> dict[str, dict[str, int]]:
    """``key`` (facility_id or institution_id) → proposal status → count."""
    out: dict[str, dict[str, int]] = {}
    for p in proposals:
        counts = out.setdefault(str(p[key]), {})
        counts[str(p["status"])] = counts.get(str(p["status"]), 0) + 1
    return out


def browse_facilities(
    states: Sequence[FacilityState],
    dicts: Mapping[str, dict[str, object]],
    proposals: Mapping[str, Mapping[str, int]],
    query: FacilityQuery,
) -> Page[dict[str, object]]:
    """The facilities of ``states`` that match ``query``, sorted and paginated; each item is the
    facility's ``facility_dict`` (from ``dicts``) with its proposal counts and distance."""
    words = normalise(query.q)
    missing = _capability(query.missing)
    municipality = code5_of(query.municipality)
    near = municipality_point(query.near) if query.near else None
    wanted: list[tuple[FacilityState, float | None]] = []
    for st in states:
        r = st.row
        if words and words not in normalise(f"{r.facility_id} {r.name} {r.address}"):
            continue
        if municipality and r.code5 != municipality:
            continue
        if query.kind and r.kind != query.kind:
            continue
        if query.duty and FACILITY_KINDS[r.kind].duty.value != query.duty:
            continue
        if query.status and st.status.value != query.status:
            continue
        if missing and not st.missing & missing:
            continue
        counts = proposals.get(r.facility_id, {})
        if query.proposal == "none":
            if any(counts.get(s) for s in ACTIVE_STATUSES):
                continue
        elif query.proposal and not counts.get(query.proposal):
            continue
        km = _distance(r.lat, r.lon, near)
        if km is not None and km > query.km:
            continue
        wanted.append((st, km))
    keys: dict[str, Callable[[tuple[FacilityState, float | None]], object]] = {
        "id": lambda x: x[0].row.facility_id,
        "name": lambda x: (normalise(x[0].row.name), x[0].row.facility_id),
        "kind": lambda x: (_KIND_ORDER.get(x[0].row.kind, 99), x[0].row.facility_id),
        "status": lambda x: (_STATUS_ORDER[x[0].status.value], x[0].row.facility_id),
        "missing": lambda x: (bin(x[0].missing).count("1"), x[0].row.facility_id),
        "municipality": lambda x: (x[0].row.code5, x[0].row.facility_id),
        "distance": lambda x: (x[1] if x[1] is not None else 0.0, x[0].row.facility_id),
    }
    wanted.sort(key=keys.get(query.sort, keys["id"]), reverse=query.desc)  # type: ignore[arg-type]
    page = paginate(wanted, query.page, query.per_page)
    items = [
        {
            **dicts[st.facility_id],
            "code5": st.row.code5,
            "proposals": dict(proposals.get(st.facility_id, {})),
            "distance_km": None if km is None else round(km, 1),
        }
        for st, km in page.items
    ]
    return Page(items, page.total, page.page, page.per_page)


# --- institutions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstitutionQuery:
    """What a coordinator asks the institution list."""

    q: str = ""
    municipality: str = ""
    kind: str = ""
    offers: str = ""  # a capability code the institution must offer
    capacity: str = ""  # "left" (remaining > 0 or undeclared), "full" (0), "undeclared"
    requests: str = ""  # a proposal status it has requests in, or "none"
    near: str = ""
    km: float = 10.0
    sort: str = "id"
    desc: bool = False
    page: int = 1
    per_page: int = PER_PAGE[0]


INSTITUTION_SORTS = ("id", "name", "remaining", "requests", "municipality", "distance")


def browse_institutions(
    institutions: Sequence[dict[str, object]],
    proposals: Mapping[str, Mapping[str, int]],
    query: InstitutionQuery,
) -> Page[dict[str, object]]:
    """The institutions (``institution_dict`` items) matching ``query``, sorted, paginated, each
    with its requests (proposal counts by status) and distance."""
    words = normalise(query.q)
    offers = _capability(query.offers)
    municipality = code5_of(query.municipality)
    near = municipality_point(query.near) if query.near else None
    wanted: list[tuple[dict[str, object], float | None, int]] = []
    for d in institutions:
        iid = str(d["institution_id"])
        if words and words not in normalise(f"{iid} {d['name']} {d['address']}"):
            continue
        if municipality and code5_of(d["municipality_code"]) != municipality:
            continue
        if query.kind and d["kind"] != query.kind:
            continue
        if offers and not _capability(str(d["offers"])) & offers == offers:
            continue
        left = d["remaining_capacity"]
        if query.capacity == "left" and left is not None and not int(left):  # type: ignore[call-overload]
            continue
        if query.capacity == "full" and (left is None or int(left)):  # type: ignore[call-overload]
            continue
        if query.capacity == "undeclared" and d["declared_capacity"] is not None:
            continue
        counts = proposals.get(iid, {})
        live = sum(counts.get(s, 0) for s in ACTIVE_STATUSES)
        if query.requests == "none":
            if live:
                continue
        elif query.requests and not counts.get(query.requests):
            continue
        km = _distance(float(d["lat"]), float(d["lon"]), near)  # type: ignore[arg-type]
        if km is not None and km > query.km:
            continue
        wanted.append((d, km, live))
    big = 10**9

    def remaining(x: tuple[dict[str, object], float | None, int]) -> tuple[int, str]:
        left = x[0]["remaining_capacity"]
        return (big if left is None else int(left), str(x[0]["institution_id"]))  # type: ignore[call-overload]

    keys: dict[str, Callable[[tuple[dict[str, object], float | None, int]], object]] = {
        "id": lambda x: str(x[0]["institution_id"]),
        "name": lambda x: (normalise(x[0]["name"]), str(x[0]["institution_id"])),
        "remaining": remaining,
        "requests": lambda x: (x[2], str(x[0]["institution_id"])),
        "municipality": lambda x: (
            code5_of(x[0]["municipality_code"]),
            str(x[0]["institution_id"]),
        ),
        "distance": lambda x: (x[1] if x[1] is not None else 0.0, str(x[0]["institution_id"])),
    }
    wanted.sort(key=keys.get(query.sort, keys["id"]), reverse=query.desc)  # type: ignore[arg-type]
    page = paginate(wanted, query.page, query.per_page)
    items = [
        {
            **d,
            "requests": dict(proposals.get(str(d["institution_id"]), {})),
            "live_requests": live,
            "distance_km": None if km is None else round(km, 1),
        }
        for d, km, live in page.items
    ]
    return Page(items, page.total, page.page, page.per_page)
