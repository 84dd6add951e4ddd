"""Printable HTML pages: a request per institution, a notice per facility, the area overview."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import TypedDict

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .. import fonts
from ..model import CAPABILITIES, INSTITUTION_KIND_JA, Duty, Facility, Institution
from ..objective import Objective
from ..reference import municipalities
from ..vocab import Capability, Level, Mode, Reason, Status
from .svgmap import Line, Place, Point, SvgMap
from .tables import (
    ALL_AREA,
    DEADLINE,
    STATUS_COLORS,
    STATUS_MARK,
    STATUS_ORDER,
    STATUS_SHORT_JA,
    ReportData,
    capability_marks,
    status_text,
)

INSTITUTION_COLOR = "#1565c0"
ALTERNATIVE_COLOR = "#90a4ae"
EXISTING_COLOR = "#6a1b9a"
LETTER_MAP = (250, 190)


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("matcher.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def css() -> str:
    text = resources.files("matcher.reports").joinpath("templates/report.css").read_text("utf-8")
    return text.replace("/*FONT*/", fonts.css_font_family())


def _cap_label(bit: int) -> str:
    return Capability(bit).label_ja


def _km_text(km: float, approximate: bool) -> str:
    """``1.4 km``; ``約 1.4 km※`` when a point is approximate; never a bare ``0.0 km``."""
    if approximate:
        return "同じ市区町村(距離不明)※" if km < 0.05 else f"約 {km:.1f} km※"
    return f"{km:.1f} km"


def _date_ja(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _header(data: ReportData) -> dict[str, object]:
    return {
        "area": data.area_name,
        "today": _date_ja(data.today),
        "days_left": data.days_left,
        "deadline": _date_ja(DEADLINE),
        "road_factor": data.result.params.road_factor,
        "sender": data.sender.context(),
        "max_km": [f"{data.result.params.max_km[c]:g}" for c in CAPABILITIES],
    }


def _facility_cells(f: Facility) -> dict[str, object]:
    """A facility's name and its kind and duty as a letter shows them."""
    return {
        "name": f.name,
        "kind": f.info.label_ja,
        "duty": f.info.duty.label_ja,
        "mandatory": f.info.duty is Duty.MANDATORY,
    }


def _legend(items: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    """Legend entries ``(shape, colour, label)``; shapes: dot, square, hollow, line, dashed."""
    return [{"shape": s, "color": c, "label": t} for s, c, t in items]


def _status_legend(statuses: Collection[Status]) -> list[tuple[str, str, str]]:
    return [("dot", STATUS_COLORS[s], STATUS_SHORT_JA[s]) for s in STATUS_ORDER if s in statuses]


def institution_context(data: ReportData, inst: Institution, anchor: str = "") -> dict[str, object]:
    """What the request letter to one institution shows."""
    props = data.proposals_of_institution.get(inst.institution_id, [])
    rows: list[dict[str, object]] = []
    existing: list[dict[str, object]] = []
    points: list[Point] = []
    lines: list[Line] = []
    any_approx = data.approximate(inst)
    statuses: set[Status] = set()
    new = [p for p in props if not data.is_existing(p)]
    for p in props:
        f = data.facility[p.facility_id]
        o = data.outcome[f.facility_id]
        approx = data.pair_approximate(f.facility_id, inst.institution_id)
        any_approx |= approx
        row = {
            "no": len(rows) + 1,
            **_facility_cells(f),
            "status": status_text(o.status_before),
            "status_code": o.status_before.value,
            "unknown": o.unknown,
            "contact": data.contact(f),
            "km": _km_text(p.distance_km, approx),
            "asks": ["○" if p.covers & c else "" for c in CAPABILITIES],
        }
        if data.is_existing(p):
            existing.append(row)
            continue
        rows.append(row)
        statuses.add(o.status_before)
        points.append(
            Point(
                f.lat,
                f.lon,
                STATUS_COLORS[o.status_before],
                label=str(row["no"]),
                title=f.name,
                hollow=data.approximate(f),
            )
        )
        lines.append(Line(inst.lat, inst.lon, f.lat, f.lon, INSTITUTION_COLOR))
    points.append(
        Point(
            inst.lat,
            inst.lon,
            INSTITUTION_COLOR,
            "square",
            title=inst.name,
            size=5,
            hollow=data.approximate(inst),
        )
    )
    legend = [("square", INSTITUTION_COLOR, "貴院")]
    legend += _status_legend(statuses)
    legend += [("line", INSTITUTION_COLOR, "お願いする協力関係(番号は表の番号)")]
    if any_approx:
        legend.append(("hollow", "#546e7a", "概略位置(市区町村の代表点)"))
    far = max((p.distance_km for p in new), default=0.0)
    return {
        **_header(data),
        "type": "institution",
        "anchor": anchor,
        "id": inst.institution_id,
        "name": inst.name,
        "kind": INSTITUTION_KIND_JA[inst.kind],
        "contact": data.contact(inst),
        "capacity": inst.capacity,
        "remaining": data.remaining_capacity(inst),
        "n_new": len(new),
        "n_mandatory": sum(bool(r["mandatory"]) for r in rows),
        "far_km": f"{far:.1f}",
        "rows": rows,
        "existing": existing,
        "approximate": any_approx,
        "map": SvgMap(*LETTER_MAP, points, lines).render(),
        "legend": _legend(legend),
    }


def facility_context(data: ReportData, f: Facility, anchor: str = "") -> dict[str, object]:
    """What the notice to one facility shows."""
    o = data.outcome[f.facility_id]
    points, lines, proposals, alternatives, partners = [], [], [], [], []
    any_approx = data.approximate(f)
    for iid in data.existing_partners(f.facility_id):
        i = data.institution.get(iid)
        partners.append(
            {"name": i.name if i else iid, "kind": INSTITUTION_KIND_JA[i.kind] if i else ""}
        )
    has_existing_proposal = False
    for p in data.proposals_of_facility.get(f.facility_id, []):
        i = data.institution[p.institution_id]
        approx = data.pair_approximate(f.facility_id, i.institution_id)
        any_approx |= approx
        existing = data.is_existing(p)
        has_existing_proposal |= existing
        proposals.append(
            {
                "name": i.name,
                "kind": INSTITUTION_KIND_JA[i.kind],
                "contact": data.contact(i),
                "covers": capability_marks(p.covers),
                "km": _km_text(p.distance_km, approx),
                "existing": existing,
                "infection": i.institution_id in data.infection_ids,
            }
        )
        points.append(
            Point(
                i.lat,
                i.lon,
                EXISTING_COLOR if existing else INSTITUTION_COLOR,
                "square",
                label="既存" if existing else "提案",
                title=i.name,
                size=5,
                hollow=data.approximate(i),
            )
        )
        lines.append(Line(f.lat, f.lon, i.lat, i.lon, INSTITUTION_COLOR))
    for a in data.alternatives_of.get(f.facility_id, []):
        i = data.institution[a.institution_id]
        approx = data.pair_approximate(f.facility_id, i.institution_id)
        any_approx |= approx
        alternatives.append(
            {
                "rank": a.rank,
                "name": i.name,
                "kind": INSTITUTION_KIND_JA[i.kind],
                "covers": capability_marks(a.covers),
                "km": _km_text(a.distance_km, approx),
                "capacity": "申告なし(上限を設けず計算)"
                if a.remaining_capacity is None
                else f"残り {a.remaining_capacity}",
            }
        )
        points.append(
            Point(
                i.lat,
                i.lon,
                ALTERNATIVE_COLOR,
                "square",
                label=str(a.rank),
                title=i.name,
                size=3.5,
                hollow=data.approximate(i),
            )
        )
        lines.append(Line(f.lat, f.lon, i.lat, i.lon, ALTERNATIVE_COLOR, dashed=True))
    nearest = [
        {"capability": _cap_label(n.capability), "name": n.institution.name, "km": n.distance_km}
        for n in data.isolated.get(f.facility_id, [])
    ]
    points.append(
        Point(f.lat, f.lon, STATUS_COLORS[o.status_before], title=f.name, size=5, hollow=any_approx)
    )
    legend = [
        ("dot", STATUS_COLORS[o.status_before], f"貴施設(現在: {status_text(o.status_before)})")
    ]
    if proposals:
        legend.append(("square", INSTITUTION_COLOR, "提案する医療機関"))
    if has_existing_proposal:
        legend.append(("square", EXISTING_COLOR, "既存の協力医療機関"))
    if alternatives:
        legend.append(("dashed", ALTERNATIVE_COLOR, "代替候補(番号は順位)"))
    if any_approx:
        legend.append(("hollow", "#546e7a", "概略位置(市区町村の代表点)"))
    return {
        **_header(data),
        "type": "facility",
        "anchor": anchor,
        "id": f.facility_id,
        **_facility_cells(f),
        "contact": data.contact(f),
        "unknown": o.unknown,
        "infection_now": data.infection_now(f.facility_id),
        "infection_after": data.infection_after(f.facility_id),
        "partners": partners,
        "status_before": status_text(o.status_before),
        "status_before_code": o.status_before.value,
        "status_after": status_text(o.status_after),
        "status_after_code": o.status_after.value,
        "missing_before": capability_marks(o.missing_before) or "なし",
        "proposals": proposals,
        "alternatives": alternatives,
        "nearest": nearest,
        "unmatched": [
            f"{_cap_label(u.capability)}: {Reason(u.reason).label_ja}"
            for u in data.unmatched_of.get(f.facility_id, [])
        ],
        "approximate": any_approx,
        "map": SvgMap(*LETTER_MAP, points, lines).render(),
        "legend": _legend(legend),
    }


def render_letter(page: dict[str, object]) -> str:
    """One letter's ``<section>`` (rendered once, then placed in every document that holds it)."""
    macros = environment().get_template("pages.html").module
    macro = macros.institution_page if page["type"] == "institution" else macros.facility_page  # type: ignore[attr-defined]
    return str(macro(page))


def wrap_letters(title: str, sections: list[str]) -> str:
    """One HTML document of already rendered letters, each starting on a new page."""
    return (
        environment()
        .get_template("document.html")
        .render(title=title, body=Markup("\n".join(sections)), css=css())
    )


def render_document(title: str, pages: list[dict[str, object]]) -> str:
    """One HTML document holding the given letters, each starting on a new page."""
    return wrap_letters(title, [render_letter(p) for p in pages])


def _area_map(
    data: ReportData, after: bool, width: int, height: int
) -> tuple[SvgMap, list[tuple[str, str, str]]]:
    """The area map coloured by the status now (``after=False``) or after the proposal."""
    from ..gaps.shapes import load_outlines

    points, lines = [], []
    statuses = set()
    for f in data.instance.facilities:
        o = data.outcome[f.facility_id]
        s = o.status_after if after else o.status_before
        statuses.add(s)
        points.append(
            Point(f.lat, f.lon, STATUS_COLORS[s], title=f"{f.name}({status_text(s)})", size=2.2)
        )
    legend = _status_legend(statuses)
    if after:
        for i in data.requested_institutions:
            points.append(Point(i.lat, i.lon, INSTITUTION_COLOR, "square", title=i.name, size=2.3))
        for p in data.result.proposals:
            f, i = data.facility[p.facility_id], data.institution[p.institution_id]
            lines.append(Line(f.lat, f.lon, i.lat, i.lon, INSTITUTION_COLOR))
        legend += [
            ("square", INSTITUTION_COLOR, "依頼先の医療機関"),
            ("line", INSTITUTION_COLOR, "提案する協力関係"),
        ]
    prefs = {data.prefecture_name(f.municipality_code) for f in data.instance.facilities}
    try:
        outlines = load_outlines()
    except (FileNotFoundError, ValueError):
        outlines = {}
    rings = [outlines[p] for p in sorted(prefs) if p in outlines]
    codes = {f.municipality_code[:5] for f in data.instance.facilities}
    places = [Place(m.lat, m.lon, m.name) for m in municipalities() if m.code5 in codes]
    return SvgMap(width, height, points, lines, True, 0, rings, places), legend


def comparison_rows(data: ReportData) -> list[dict[str, object]]:
    """この提案 vs 近い順に依頼した場合: the objective's levels for the run and the baseline."""
    if data.baseline_objective is None:
        return []
    return compare_objectives(data.result.objective, data.baseline_objective)


def compare_objectives(o: Objective, g: Objective) -> list[dict[str, object]]:
    """Rows of この提案 (``o``) vs 近い順に依頼した場合 (``g``): 義務/努力義務 fully covered,
    partnerships and km, with the difference and whether it is better (the web shows them too)."""
    rows = []
    for level, better in (
        (Level.MANDATORY_FULL, "more"),
        (Level.EFFORT_FULL, "more"),
        (Level.PARTNERSHIPS, "less"),
        (Level.DISTANCE, "less"),
    ):
        a, b = getattr(o, level.key), getattr(g, level.key)
        diff = a - b
        fmt = "{:,.1f}" if level is Level.DISTANCE else "{:,}"
        good = (diff > 0) if better == "more" else (diff < 0)
        rows.append(
            {
                "label": level.label_ja,
                "ours": fmt.format(a),
                "greedy": fmt.format(b),
                "diff": ("+" if diff > 0 else "") + fmt.format(diff) if diff else "±0",
                "good": good,
                "bad": bool(diff) and not good,
            }
        )
    return rows


def overview_html(data: ReportData, chart_png: bytes) -> tuple[str, int]:
    """The area overview and the number of facilities left off its maps (remote islands)."""
    status = data.status_table()
    whole = status[status["市区町村"] == ALL_AREA]
    status_rows = [
        {
            "kind": r["施設種別"],
            "duty": r["義務区分"],
            "total": r["施設数"],
            "before": [r[f"現在 {STATUS_SHORT_JA[s]}"] for s in STATUS_ORDER],
            "after": [r[f"提案後 {STATUS_SHORT_JA[s]}"] for s in STATUS_ORDER],
        }
        for _, r in whole.iterrows()
    ]
    before_map, before_legend = _area_map(data, False, 500, 480)
    after_map, after_legend = _area_map(data, True, 500, 480)
    maps = [
        {"title": "現在", "svg": before_map.render(), "legend": _legend(before_legend)},
        {"title": "提案後", "svg": after_map.render(), "legend": _legend(after_legend)},
    ]
    isolated = []
    max_km = data.result.params.max_km
    for fid, nearest in data.isolated.items():
        f = data.facility[fid]
        for cap in CAPABILITIES:
            near = [n for n in nearest if n.capability == int(cap)]
            if not near:
                if any(
                    u.capability == int(cap) and u.reason == "no_candidate"
                    for u in data.unmatched_of[fid]
                ):
                    near_text = "提供できる医療機関がありません"
                else:
                    continue
            else:
                near_text = "、".join(f"{n.institution.name} {n.distance_km:.1f} km" for n in near)
            isolated.append(
                {
                    "name": f.name,
                    "kind": f.info.label_ja,
                    "municipality": data.municipality_name(f.municipality_code),
                    "capability": f"{cap.label_ja}({max_km[cap]:g} km)",
                    "nearest": near_text,
                }
            )
    o = data.result.objective
    unlimited = sum(i.capacity is None for i in data.requested_institutions)
    html = _area_page(
        "overview.html",
        data,
        "概要",
        mode=data.result.info.mode,
        mode_ja=Mode(data.result.info.mode).label_ja,
        message=data.result.info.message,
        days_left=data.days_left,
        n_facilities=len(data.instance.facilities),
        n_demand=len(data.demand_facilities),
        n_proposals=o.partnerships,
        n_institutions=len(data.requested_institutions),
        n_unlimited=unlimited,
        n_isolated=len(data.isolated),
        status_labels=[STATUS_SHORT_JA[s] for s in STATUS_ORDER],
        status_marks=[STATUS_MARK[s] or "なし" for s in STATUS_ORDER],
        status_legend=[(STATUS_MARK[s] or "なし", s.label_ja) for s in STATUS_ORDER],
        status_rows=status_rows,
        comparison=comparison_rows(data),
        chart_b64=base64.b64encode(chart_png).decode("ascii"),
        maps=maps,
        outside=after_map.outside,
        isolated=isolated,
        infection=data.infection_rows(),
        filing_years=data.filing_years if data.has_filing_years else None,
    )
    return html, after_map.outside


def _area_page(template: str, data: ReportData, what: str, **context: object) -> str:
    """An area's page: ``template`` with the styles, the title (area name, then ``what``), the
    date and the run's warnings."""
    return (
        environment()
        .get_template(template)
        .render(
            css=css(),
            title=f"{data.area_name} 協力医療機関の提案 {what}",
            today=_date_ja(data.today),
            **context,
            warnings=data.result.warnings_ja,
        )
    )


class IndexGroup(TypedDict):
    """One municipality of the index: its letters to institutions and facilities."""

    name: str
    institutions: list[dict[str, object]]
    facilities: list[dict[str, object]]
    mandatory: int


def index_html(
    data: ReportData,
    groups: Sequence[IndexGroup],
    bundles: Sequence[Mapping[str, object]],
    overview_pdf: str | None,
    notes: list[str] | None = None,
    unset: list[str] | None = None,
) -> str:
    """The table of contents: bundles, then letters grouped by municipality with counts."""
    return _area_page(
        "index.html",
        data,
        "帳票一式",
        groups=groups,
        n_institutions=sum(len(g["institutions"]) for g in groups),
        n_facilities=sum(len(g["facilities"]) for g in groups),
        bundles=bundles,
        overview_pdf=overview_pdf,
        notes=notes or [],
        unset=unset or [],
    )
