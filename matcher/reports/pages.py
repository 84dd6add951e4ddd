"""Printable HTML pages: a request per institution, a notice per facility, the area overview."""

from __future__ import annotations

import base64
from functools import lru_cache
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..model import CAPABILITIES, INSTITUTION_KIND_JA, Facility, Institution, Status
from ..result import REASON_LABELS_JA
from .svgmap import Line, Point, SvgMap
from .tables import (
    ALL_AREA,
    DUTY_JA,
    STATUS_COLORS,
    STATUS_ORDER,
    STATUS_SHORT_JA,
    ReportData,
    capability_marks,
    status_text,
)

INSTITUTION_COLOR = "#1565c0"
STATUS_TABLE_JA = {
    Status.ALL: "①全て",
    Status.PARTIAL: "②一部",
    Status.NONE: "③満たさない",
    Status.NO_PARTNER: "協力医療機関なし",
    Status.UNKNOWN: "④届出なし",
}
ALTERNATIVE_COLOR = "#90a4ae"


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
    return resources.files("matcher.reports").joinpath("templates/report.css").read_text("utf-8")


def _capacity_text(capacity: int | None) -> str:
    return "申告なし(上限なし)" if capacity is None else f"{capacity} 施設"


def _header(data: ReportData) -> dict[str, object]:
    return {
        "area": data.area_name,
        "today": data.today.isoformat(),
        "days_left": data.days_left,
        "road_factor": data.result.params.road_factor,
    }


def institution_context(data: ReportData, inst: Institution) -> dict[str, object]:
    """What the request page of one institution shows."""
    props = data.proposals_of_institution.get(inst.institution_id, [])
    rows, points, lines = [], [], []
    for no, p in enumerate(props, start=1):
        f = data.facility[p.facility_id]
        o = data.outcome[f.facility_id]
        rows.append(
            {
                "no": no,
                "name": f.name,
                "kind": f.info.label_ja,
                "address": f.address,
                "km": p.distance_km,
                "asks": ["○" if p.covers & c else "" for c in CAPABILITIES],
                "unknown": o.unknown,
            }
        )
        points.append(
            Point(f.lat, f.lon, STATUS_COLORS[o.status_before], label=str(no), title=f.name)
        )
        lines.append(Line(inst.lat, inst.lon, f.lat, f.lon, INSTITUTION_COLOR))
    points.append(Point(inst.lat, inst.lon, INSTITUTION_COLOR, "square", title=inst.name, size=5))
    return {
        **_header(data),
        "type": "institution",
        "id": inst.institution_id,
        "name": inst.name,
        "kind": INSTITUTION_KIND_JA[inst.kind],
        "address": inst.address,
        "capacity": _capacity_text(inst.capacity),
        "remaining": data.remaining_capacity(inst),
        "rows": rows,
        "map": SvgMap(250, 190, points, lines).render(),
    }


def facility_context(data: ReportData, f: Facility) -> dict[str, object]:
    """What the notice page of one facility shows."""
    o = data.outcome[f.facility_id]
    points, lines, proposals, alternatives = [], [], [], []
    for p in data.proposals_of_facility.get(f.facility_id, []):
        i = data.institution[p.institution_id]
        proposals.append(
            {
                "name": i.name,
                "kind": INSTITUTION_KIND_JA[i.kind],
                "address": i.address,
                "covers": capability_marks(p.covers),
                "km": p.distance_km,
            }
        )
        points.append(
            Point(i.lat, i.lon, INSTITUTION_COLOR, "square", label="提案", title=i.name, size=5)
        )
        lines.append(Line(f.lat, f.lon, i.lat, i.lon, INSTITUTION_COLOR))
    for a in data.alternatives_of.get(f.facility_id, []):
        i = data.institution[a.institution_id]
        alternatives.append(
            {
                "rank": a.rank,
                "name": i.name,
                "kind": INSTITUTION_KIND_JA[i.kind],
                "covers": capability_marks(a.covers),
                "km": a.distance_km,
                "capacity": "申告なし(上限なし)"
                if a.remaining_capacity is None
                else f"残り {a.remaining_capacity}",
            }
        )
        points.append(
            Point(
                i.lat, i.lon, ALTERNATIVE_COLOR, "square", label=str(a.rank), title=i.name, size=3.5
            )
        )
        lines.append(Line(f.lat, f.lon, i.lat, i.lon, ALTERNATIVE_COLOR, dashed=True))
    nearest = [
        {
            "capability": next(c.label_ja for c in CAPABILITIES if int(c) == n.capability),
            "name": n.institution.name,
            "km": n.distance_km,
        }
        for n in data.isolated.get(f.facility_id, [])
    ]
    points.append(Point(f.lat, f.lon, STATUS_COLORS[o.status_after], title=f.name, size=5))
    max_km = data.result.params.max_km
    return {
        **_header(data),
        "type": "facility",
        "id": f.facility_id,
        "name": f.name,
        "kind": f.info.label_ja,
        "duty": DUTY_JA[f.info.duty],
        "address": f.address,
        "unknown": o.unknown,
        "status_before": status_text(o.status_before),
        "status_before_code": o.status_before.value,
        "status_after": status_text(o.status_after),
        "status_after_code": o.status_after.value,
        "missing_before": capability_marks(o.missing_before) or "なし",
        "proposals": proposals,
        "alternatives": alternatives,
        "nearest": nearest,
        "unmatched": [
            f"{next(c.label_ja for c in CAPABILITIES if int(c) == u.capability)}: "
            f"{REASON_LABELS_JA[u.reason]}"
            for u in data.unmatched_of.get(f.facility_id, [])
        ],
        "max_km": [f"{max_km[c]:g}" for c in CAPABILITIES],
        "map": SvgMap(250, 190, points, lines).render(),
    }


def render_document(title: str, pages: list[dict[str, object]]) -> str:
    """One HTML document holding the given pages, one printed page each."""
    return environment().get_template("document.html").render(title=title, pages=pages, css=css())


def overview_html(data: ReportData, chart_png: bytes) -> tuple[str, int]:
    """The area overview page and the number of facilities left off its map (remote islands)."""
    status = data.status_table()
    whole = status[status["市区町村"] == ALL_AREA]
    status_rows = [
        {
            "kind": r["施設種別"],
            "total": r["施設数"],
            "before": [r[f"改定前 {STATUS_SHORT_JA[s]}"] for s in STATUS_ORDER],
            "after": [r[f"提案後 {STATUS_SHORT_JA[s]}"] for s in STATUS_ORDER],
        }
        for _, r in whole.iterrows()
    ]
    points, lines = [], []
    for i in data.requested_institutions:
        points.append(Point(i.lat, i.lon, INSTITUTION_COLOR, "square", title=i.name, size=2.5))
    for f in data.instance.facilities:
        o = data.outcome[f.facility_id]
        points.append(
            Point(
                f.lat,
                f.lon,
                STATUS_COLORS[o.status_after],
                title=f"{f.name}({status_text(o.status_after)})",
                size=2.2,
            )
        )
    for p in data.result.proposals:
        f, i = data.facility[p.facility_id], data.institution[p.institution_id]
        lines.append(Line(f.lat, f.lon, i.lat, i.lon, INSTITUTION_COLOR))
    svg_map = SvgMap(700, 820, points, lines, clip_outliers=True)
    rendered = svg_map.render()
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
    html = (
        environment()
        .get_template("overview.html")
        .render(
            css=css(),
            title=f"{data.area_name} 協力医療機関の提案 概要",
            today=data.today.isoformat(),
            mode=data.result.info.mode,
            message=data.result.info.message,
            days_left=data.days_left,
            n_facilities=len(data.instance.facilities),
            n_demand=len(data.demand_facilities),
            n_proposals=o.partnerships,
            n_institutions=len(data.requested_institutions),
            n_isolated=len(data.isolated),
            status_labels=[STATUS_TABLE_JA[s] for s in STATUS_ORDER],
            status_rows=status_rows,
            chart_b64=base64.b64encode(chart_png).decode("ascii"),
            legend_items=[(STATUS_SHORT_JA[s], STATUS_COLORS[s]) for s in STATUS_ORDER]
            + [("依頼先の医療機関", INSTITUTION_COLOR)],
            map=rendered,
            outside=svg_map.outside,
            isolated=isolated,
        )
    )
    return html, svg_map.outside


def index_html(
    data: ReportData,
    institutions: list[dict[str, object]],
    facilities: list[dict[str, object]],
    bundles: list[dict[str, object]],
    overview_pdf: str | None,
    pdf_note: str,
    notes: list[str] | None = None,
) -> str:
    """The table of contents of a report folder; ``notes`` are shown above the contents."""
    return (
        environment()
        .get_template("index.html")
        .render(
            css=css(),
            title=f"{data.area_name} 協力医療機関の提案 報告書一式",
            today=data.today.isoformat(),
            institutions=institutions,
            facilities=facilities,
            bundles=bundles,
            overview_pdf=overview_pdf,
            pdf_note=pdf_note,
            notes=notes or [],
        )
    )
