"""Printable HTML pages: a request per institution, a notice per facility — each followed by its
回答票 (``replyform``'s form with the letter's rows) — and the area overview."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import TypedDict

from markupsafe import Markup

from ..model import CAPABILITIES, FACILITY_KINDS, INSTITUTION_KIND_JA, Duty, Facility, Institution
from ..objective import Objective
from ..reference import municipalities
from ..vocab import (
    BACKUP_LABEL_JA,
    DEADLINE,
    UNNAMED_PARTNERS_JA,
    Capability,
    Level,
    Mode,
    Reason,
    Status,
)
from ..wareki import nendo, wareki
from .replyform import NO_PARTNER_NAMES_JA, form_fields, form_row
from .sender import Recipient, reply_sentence
from .svgmap import Line, Place, Point, SvgMap
from .tables import (
    ALL_AREA,
    INCREMENT_LABELS_JA,
    ROOM_JA,
    STATUS_COLORS,
    STATUS_ORDER,
    STATUS_SHORT_JA,
    ReportData,
    capability_marks,
    status_text,
)

# Re-exported: meeting.py and older callers take the environment and styles from here.
from .templating import css as css
from .templating import css_string as css_string
from .templating import environment as environment

INSTITUTION_COLOR = "#1565c0"
ALTERNATIVE_COLOR = "#90a4ae"
EXISTING_COLOR = "#6a1b9a"
EXISTING_JA = "既存の協力医療機関"  # a proposal to a filed partner (a review, not a new partner)
LETTER_MAP = (250, 190)
# The 介護報酬改定 that asks for 協力医療機関 with ①②③ (令和6年度).
REVISION_YEAR = 2024
# ``SolveInfo.details`` key of a stored run's 条件付き依頼 ([facility id, institution id] pairs,
# ``store.report_input.run_input``): the request letters mark them and say when they apply.
BACKUPS_KEY = "backups"
BACKUP_SENTENCE_JA = (
    f"{BACKUP_LABEL_JA}の施設は、第一候補の医療機関がお引き受けできない場合(不可の回答・取り下げ)に"
    "限りお願いするもので、第一候補がお引き受けいただいた場合は取り下げます。"
)
# The same mark in a facility's notice: the institution is asked only if the first one declines.
FACILITY_BACKUP_JA = (
    f"{BACKUP_LABEL_JA}: 第一候補の医療機関がお引き受けできない場合に限り、"
    "ご協議いただく医療機関です"
)
INSTITUTION_TITLE = "協力医療機関となっていただくことについて(依頼)"
FACILITY_TITLE = "協力医療機関の候補について(お知らせ)"
# 時下 opening of a prefecture's 依頼文 (no 拝啓/敬具 pair: 記 … 以上 carries the requests).
OPENING_JA = (
    "時下ますますご清栄のこととお喜び申し上げます。"
    "日頃から{home}の高齢者保健福祉行政の推進に格別のご理解とご協力を賜り、厚くお礼申し上げます。"
)


def home_ja(area: str) -> str:
    """How a letter calls the sending prefecture: 本県, 本都, 本道 or 本府 (本県 when unknown)."""
    base = area.removesuffix("ほか")
    return f"本{base[-1]}" if base[-1:] in ("都", "道", "府", "県") else "本県"


def _cap_label(bit: int) -> str:
    return Capability(bit).label_ja


def _km_text(km: float, approximate: bool) -> str:
    """``1.4 km``; ``約 1.4 km※`` when a point is approximate; never a bare ``0.0 km``."""
    if approximate:
        return "同じ市区町村(距離不明)※" if km < 0.05 else f"約 {km:.1f} km※"
    return f"{km:.1f} km"


def _date_ja(d: dt.date) -> str:
    """Every date a page prints: 令和 (``matcher.wareki``)."""
    return wareki(d)


# How a letter says what each duty asks of its kinds (the kinds and requirements come from the
# vocabulary).
_DUTY_ASKS_JA = {Duty.MANDATORY: "が必要", Duty.EFFORT: "が望ましい"}


def duty_note() -> str:
    """「義務 = 介護老人福祉施設・…(①②③ が必要)、努力義務 = …(①② が望ましい)」 from the
    vocabulary's kinds, their duty and what it requires."""
    parts = []
    for duty in Duty:
        kinds = [k for k in FACILITY_KINDS.values() if k.duty is duty]
        names = "・".join(k.label_ja for k in kinds)
        marks = capability_marks(kinds[0].required)
        parts.append(f"{duty.label_ja} = {names}({marks} {_DUTY_ASKS_JA[duty]})")
    return "、".join(parts)


def _header(data: ReportData) -> dict[str, object]:
    home = home_ja(data.area_name)
    return {
        "area": data.area_name,
        "home": home,
        "opening": OPENING_JA.format(home=home),
        "revision": nendo(REVISION_YEAR),
        "today": _date_ja(data.today),
        "days_left": data.days_left,
        "deadline": _date_ja(DEADLINE),
        "road_factor": data.result.params.road_factor,
        "sender": data.sender.context(),
        "max_km": [f"{c.mark}{data.result.params.max_km[c]:g}km" for c in CAPABILITIES],
        "marks": [c.mark for c in CAPABILITIES],
        "capabilities": [c.label_ja for c in CAPABILITIES],
        "mandatory_ja": Duty.MANDATORY.label_ja,
        "duty_note": duty_note(),
        # The online reply block (link, QR code) of a stored letter in its reply section
        # (``reply_block`` in pages.html): a batch letter has no link. Its 回答票 is ``form``.
        "reply_form": None,
    }


def _letter_head(
    data: ReportData, name: str, who: Recipient, title: str, anchor: str, seq: int
) -> dict[str, object]:
    """The 文書番号 (``seq``-th letter of the run), 宛名, title and the running head of every
    printed page of a letter."""
    to_title, honorific = data.sender.recipient(name, who)
    to = " ".join(x for x in (name, to_title, honorific) if x)
    page_name = f"letter-{anchor or 'x'}"
    return {
        "anchor": anchor,
        "number": data.sender.number_of(seq),
        "title": title,
        "to_title": to_title,
        "to_honorific": honorific,
        "page_name": page_name,
        "running_title": css_string(title),
        "running_to": css_string(to),
    }


def _reply_form(
    data: ReportData,
    seq: int,
    name: str,
    page_name: object,
    kind: Recipient,
    rows: list[dict[str, object]],
    capacity: int | None = None,
    offers: int = 0,
    partners: Sequence[str] = (),
    partners_none: str = NO_PARTNER_NAMES_JA,
) -> dict[str, object]:
    """The 回答票 printed after the ``seq``-th batch letter (``replyform.form_fields``): the
    letter's rows, its 文書番号 and deadline, on the letter's pages; without a stored letter
    there is no number, key or link, so it asks for this paper back by the sender's method."""
    sender = data.sender.context()
    deadline, number = sender["reply_by"], data.sender.number_of(seq)
    return form_fields(
        kind,
        rows,
        recipient=name,
        area=data.area_name,
        today=_date_ja(data.today),
        deadline=deadline["value"] if deadline["set"] else "",
        reference=number["value"] if number["set"] else "",
        how=reply_sentence(sender, "this"),
        page_name=str(page_name),
        capacity=capacity,
        offers=offers,
        partners=list(partners),
        partners_none=partners_none,
    )


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


def backup_pairs(data: ReportData) -> set[tuple[str, str]]:
    """The run's 条件付き依頼 as (facility id, institution id) (``BACKUPS_KEY``; none for a run
    from files)."""
    return {
        (str(f), str(i))
        for f, i in data.result.info.details.get(BACKUPS_KEY, ())  # type: ignore[attr-defined]
    }


def institution_context(
    data: ReportData, inst: Institution, anchor: str = "", seq: int = 0
) -> dict[str, object]:
    """What the request letter to one institution shows (``seq``: its place in the run's
    文書番号 sequence)."""
    props = data.proposals_of_institution.get(inst.institution_id, [])
    rows: list[dict[str, object]] = []
    existing: list[dict[str, object]] = []
    points: list[Point] = []
    lines: list[Line] = []
    any_approx = data.approximate(inst)
    statuses: set[Status] = set()
    new = [p for p in props if not data.is_existing(p)]
    backups = backup_pairs(data)
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
            "contact": data.contact(f),
            "km": _km_text(p.distance_km, approx),
            "asks": ["○" if p.covers & c else "" for c in CAPABILITIES],
            "ask_marks": capability_marks(p.covers),
            "backup": (p.facility_id, inst.institution_id) in backups,
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
    head = _letter_head(data, inst.name, "institution", INSTITUTION_TITLE, anchor, seq)
    form_rows = [
        form_row(
            int(str(r["no"])),
            str(r["name"]),
            str(r["kind"]),
            p.covers,
            p.distance_km,
            duty=str(r["duty"]),
            address=data.facility[p.facility_id].address,
            km_text=str(r["km"]),
            note=f"【{BACKUP_LABEL_JA}】" if r["backup"] else "",
        )
        for r, p in zip(rows, new, strict=True)
    ]
    return {
        **_header(data),
        **head,
        "form": _reply_form(
            data,
            seq,
            inst.name,
            head["page_name"],
            "institution",
            form_rows,
            capacity=data.declared_capacity(inst),
            offers=inst.offers,
        ),
        "type": "institution",
        "id": inst.institution_id,
        "name": inst.name,
        "kind": INSTITUTION_KIND_JA[inst.kind],
        "contact": data.contact(inst),
        "capacity": data.declared_capacity(inst),
        "room": data.room(inst) if data.room_differs(inst) else None,
        "room_label": ROOM_JA,
        "remaining": data.remaining_capacity(inst),
        "n_new": len(new),
        "n_mandatory": sum(bool(r["mandatory"]) for r in rows),
        "n_backup": sum(bool(r["backup"]) for r in rows),
        "backup_label": BACKUP_LABEL_JA,
        "backup_sentence": BACKUP_SENTENCE_JA,
        "far_km": f"{far:.1f}",
        "rows": rows,
        "existing": existing,
        "approximate": any_approx,
        "map": SvgMap(*LETTER_MAP, points, lines).render(),
        "legend": _legend(legend),
    }


def facility_context(
    data: ReportData, f: Facility, anchor: str = "", seq: int = 0
) -> dict[str, object]:
    """What the notice to one facility shows (``seq``: its place in the run's 文書番号
    sequence)."""
    o = data.outcome[f.facility_id]
    points, lines, proposals, alternatives, partners = [], [], [], [], []
    any_approx = data.approximate(f)
    for iid in data.existing_partners(f.facility_id):
        i = data.institution.get(iid)
        partners.append(
            {"name": i.name if i else iid, "kind": INSTITUTION_KIND_JA[i.kind] if i else ""}
        )
    has_existing_proposal = False
    form_rows: list[dict[str, object]] = []
    backups = backup_pairs(data)
    for p in data.proposals_of_facility.get(f.facility_id, []):
        i = data.institution[p.institution_id]
        approx = data.pair_approximate(f.facility_id, i.institution_id)
        any_approx |= approx
        existing = data.is_existing(p)
        has_existing_proposal |= existing
        km = _km_text(p.distance_km, approx)
        proposals.append(
            {
                "name": i.name,
                "kind": INSTITUTION_KIND_JA[i.kind],
                "contact": data.contact(i),
                "covers": capability_marks(p.covers),
                "km": km,
                "existing": existing,
                "infection": i.institution_id in data.infection_ids,
                "backup": (f.facility_id, i.institution_id) in backups,
            }
        )
        # the form's row: the same institution, marked when it is already a partner
        kind = INSTITUTION_KIND_JA[i.kind] + (f" {EXISTING_JA}" if existing else "")
        note = f"【{BACKUP_LABEL_JA}】" if proposals[-1]["backup"] else ""
        form_rows.append(
            form_row(
                len(form_rows) + 1, i.name, kind, p.covers, p.distance_km, km_text=km, note=note
            )
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
    head = _letter_head(data, f.name, "facility", FACILITY_TITLE, anchor, seq)
    return {
        **_header(data),
        **head,
        "form": _reply_form(
            data,
            seq,
            f.name,
            head["page_name"],
            "facility",
            form_rows,
            partners=[str(r["name"]) for r in partners],
            partners_none=UNNAMED_PARTNERS_JA[o.status_before],
        ),
        "type": "facility",
        "id": f.facility_id,
        **_facility_cells(f),
        "required": capability_marks(f.info.required),
        "contact": data.contact(f),
        # A facility without a filing (its status says so) is planned as one without a partner.
        "status_note": f"{Status.NO_PARTNER.label_ja}として扱っています" if o.unknown else "",
        "infection_now": data.infection_now(f.facility_id),
        "infection_after": data.infection_after(f.facility_id),
        "partners": partners,
        # When the filing names no partner: 「届出なし」 only without a filing (MODEL.md status).
        "partners_unnamed": UNNAMED_PARTNERS_JA[o.status_before],
        "status_before": status_text(o.status_before),
        "status_before_code": o.status_before.value,
        "status_after": status_text(o.status_after),
        "status_after_code": o.status_after.value,
        "missing_before": capability_marks(o.missing_before) or "なし",
        "proposals": proposals,
        "backup_note": FACILITY_BACKUP_JA,
        "new_proposals": [r for r in proposals if not r["existing"]],
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


def page_rule(page: dict[str, object]) -> str:
    """The ``@page`` rule of one letter's pages: its running head and page numbers."""
    macros = environment().get_template("pages.html").module
    return str(macros.page_rule(page))  # type: ignore[attr-defined]


def wrap_letters(title: str, sections: Sequence[str], rules: Sequence[str] = ()) -> str:
    """One HTML document of already rendered letters, each starting on a new page; ``rules``
    are the letters' ``page_rule`` (without them the pages carry no running head)."""
    return (
        environment()
        .get_template("document.html")
        .render(
            title=title,
            body=Markup("\n".join(sections)),
            css=css(),
            rules=Markup("\n".join(rules)),
        )
    )


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
                "label": INCREMENT_LABELS_JA[level],
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
        partnerships_label=INCREMENT_LABELS_JA[Level.PARTNERSHIPS],
        n_institutions=len(data.requested_institutions),
        n_unlimited=unlimited,
        n_isolated=len(data.isolated),
        deadline=_date_ja(DEADLINE),
        status_codes=[s.value for s in STATUS_ORDER],
        status_labels=[STATUS_SHORT_JA[s] for s in STATUS_ORDER],
        status_marks=[s.short_ja for s in STATUS_ORDER],
        status_legend=[(s.short_ja, s.label_ja) for s in STATUS_ORDER],
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
        mandatory_ja=Duty.MANDATORY.label_ja,
        overview_pdf=overview_pdf,
        notes=notes or [],
        unset=unset or [],
    )
