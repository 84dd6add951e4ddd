"""調整会議資料 per 構想区域 and the 医師会への協力依頼 per 郡市医師会, from an area's picture.

Everything is drawn from one ``gaps.area_view.AreaView`` (``store.area_report``), so the page,
the printed material, the workbook and the letter show the same numbers:

- ``meeting_html``: landscape pages in the overview's style — key figures, the seed table
  (①②③④ per kind) and what is short by duty × requirement, the map, the institutions whose
  role the meeting should discuss with the what-if that backs them, 広域 cases with both sides
  named, institutions able to help (declared vs needed capacity, proposals and answers), and the
  facilities still short; ``write_meeting`` prints it to PDF (``pdf.ChromiumPrinter``);
- ``meeting_tables`` / ``write_meeting_workbook``: the same tables as an Excel workbook set up to
  print (``workbook.write_sheet``, ``print_setup``);
- ``association_letter_html``: the request to a 郡市医師会 (sender block, 文書番号, reply
  deadline and method as the request letters print them, ``sender.Sender``), listing the gaps in
  its area and the member institutions that could help, with a reply form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl import Workbook

from ..gaps.area_view import AreaView, HelpingInstitution
from ..model import CAPABILITIES, INSTITUTION_KIND_JA, format_capabilities_ja
from ..reference import municipalities
from ..vocab import DEADLINE, Capability, Duty, GeocodePrecision, ProposalStatus, Status
from ..wareki import wareki
from .pages import css, environment
from .pdf import ChromiumPrinter, find_chromium, pdf_backend
from .sender import Sender
from .svgmap import Line, Place, Point, SvgMap
from .tables import STATUS_COLORS, rows_of, table_of
from .workbook import print_setup, sheet_title, write_sheet

DISCUSS_COLOR = "#6a1b9a"  # institutions whose role the meeting discusses
CROSS_COLOR = "#1565c0"  # partners of 広域 cases
TOP_INSTITUTIONS = 30  # institutions able to help listed on paper (the workbook has all)
PENDING_JA = ProposalStatus.CONTACTED.label_ja  # what contacted proposals would add
# The columns of the short facilities the printed page leaves out (the workbook has all).
SHORT_UNPRINTED = ("施設ID", "共管")


def _marks(mask: int) -> str:
    """「①③」 for a mask; 「—」 for none."""
    return "".join(c.mark for c in CAPABILITIES if mask & c) or "—"


def _status_ja(code: str) -> str:
    return ProposalStatus(code).label_ja


def _capacity(value: int | None) -> str:
    return "申告なし" if value is None else str(value)


def _title(view: AreaView, what: str) -> str:
    return f"{view.area.name} {what}"


def _proposals_ja(counts: Iterable[tuple[str, int]]) -> str:
    """「提案中 2、打診中 1」: proposals by status."""
    return "、".join(f"{_status_ja(s)} {n}" for s, n in counts)


def _helping_columns(
    capacity: Callable[[int | None], object],
) -> dict[str, Callable[[HelpingInstitution], object]]:
    """The institutions able to help, a declared capacity shown by ``capacity``."""
    return {
        "医療機関ID": lambda h: h.institution_id,
        "名称": lambda h: h.name,
        "種別": lambda h: INSTITUTION_KIND_JA.get(h.kind, h.kind),
        "市区町村": lambda h: h.municipality_name,
        "区域内": lambda h: "○" if h.inside else "",
        "提供できる要件": lambda h: _marks(h.offers),
        "受入枠(申告)": lambda h: capacity(h.declared),
        "使用中": lambda h: h.used,
        "残り": lambda h: capacity(h.remaining),
        "範囲内の不足施設": lambda h: h.needed,
        "提案": lambda h: _proposals_ja(h.proposals),
    }


# --- tables (the workbook; the page reads the same view) -------------------------------------


def meeting_tables(view: AreaView) -> dict[str, pd.DataFrame]:
    """Sheet name → table, Japanese headers, numbers as numbers."""
    a = view.area
    by_duty = view.short_by_duty()
    summary = [
        ("区域", a.name),
        ("区域の種類", a.kind_ja),
        ("区域コード", a.code),
        ("市区町村", "、".join(_names(view))),
        ("作成日", wareki(view.today)),
        ("経過措置の期限", wareki(DEADLINE)),
        ("期限までの日数", view.days_left),
        ("施設", view.n_facilities),
        (f"要件が不足している施設({Duty.MANDATORY.label_ja})", by_duty[Duty.MANDATORY]),
        (f"要件が不足している施設({Duty.EFFORT.label_ja})", by_duty[Duty.EFFORT]),
        ("範囲内に医療機関がある不足施設", view.needed),
        ("範囲内に医療機関がない施設", len({r.facility_id for r in view.uncoverable})),
        ("協力できる医療機関(範囲内)", len(view.institutions)),
        ("うち受入枠の申告なし", view.undeclared),
        ("申告された受入枠の残り(合計)", view.declared_remaining),
        ("広域の事例", len(view.cross)),
        ("うち他の都道府県", len(view.neighbour_prefecture_dependent)),
        *((f"提案: {_status_ja(s)}", n) for s, n in view.proposal_counts),
        ("距離の上限", _ranges_text(view)),
    ]
    status = pd.DataFrame(
        [
            {
                "施設種別": r.kind_ja,
                "区分": r.duty_ja,
                **{s.heading_ja: r.counts[k] for k, s in enumerate(Status)},
                "計": r.total,
            }
            for r in view.status_rows
        ]
    )
    need = view.short_by_requirement()
    requirement = pd.DataFrame(
        [
            {
                "区分": d.label_ja,
                "不足している施設": by_duty[d],
                **{c.label_ja: need[d][c] for c in CAPABILITIES},
            }
            for d in Duty
        ]
    )
    short = table_of(
        view.short,
        {
            "施設ID": lambda f: f.facility_id,
            "施設名": lambda f: f.name,
            "種別": lambda f: f.kind_ja,
            "区分": lambda f: f.duty.label_ja,
            "市区町村": lambda f: f.municipality_name,
            "状況": lambda f: f.status.label_ja,
            "不足している要件": lambda f: f.missing_ja,
            PENDING_JA: lambda f: format_capabilities_ja(f.pending) if f.pending else "",
            "範囲内に医療機関がない要件": lambda f: (
                format_capabilities_ja(f.uncoverable) if f.uncoverable else ""
            ),
            "提案": lambda f: _proposals_ja(f.proposals),
            "共管": lambda f: "、".join(f.shared_with),
        },
    )
    helping = table_of(view.institutions, _helping_columns(lambda v: v))
    discuss = table_of(
        view.discuss,
        {
            "医療機関ID": lambda d: d.institution_id,
            "名称": lambda d: d.name,
            "種別": lambda d: INSTITUTION_KIND_JA.get(d.kind, d.kind),
            "市区町村": lambda d: d.municipality_name,
            "区域内": lambda d: "○" if d.inside else "",
            "最寄りとなる範囲外の施設数": lambda d: len(d.nearest_for),
            "最も遠い施設まで(km)": lambda d: round(d.farthest_km, 1) if d.nearest_for else None,
            "受入枠+1で全要件を満たす施設": lambda d: (
                d.capacity_gain if view.changes is not None else None
            ),
            "施設": lambda d: "、".join(d.nearest_for),
        },
    )
    tables = {
        "概要": pd.DataFrame(summary, columns=["項目", "値"]),
        "状況": status,
        "不足(区分×要件)": requirement,
        "不足している施設": short,
        "医療機関": helping,
        "協議する医療機関": discuss,
    }
    if view.changes is not None:
        tables["何があれば埋まるか"] = table_of(
            enumerate(view.changes, start=1),
            {
                "順位": lambda kc: kc[0],
                "変更": lambda kc: kc[1].label,
                f"全要件を満たす施設の増({Duty.MANDATORY.label_ja})": lambda kc: (
                    kc[1].gain_mandatory
                ),
                f"全要件を満たす施設の増({Duty.EFFORT.label_ja})": lambda kc: kc[1].gain_effort,
            },
        )
    tables["距離の上限を広げると"] = table_of(
        view.ranges,
        {
            "要件": lambda r: Capability(r.capability).label_ja,
            "現在の上限(km)": lambda r: r.range_km,
            "広げた上限(km)": lambda r: r.km,
            "範囲内に入る施設(累計)": lambda r: r.facilities,
        },
    )
    tables["範囲内に医療機関がない"] = table_of(
        view.uncoverable,
        {
            "施設ID": lambda r: r.facility_id,
            "施設名": lambda r: r.name,
            "市区町村": lambda r: r.municipality_name,
            "要件": lambda r: Capability(r.capability).label_ja,
            "上限(km)": lambda r: r.range_km,
            "最寄りの医療機関": lambda r: r.nearest_name,
            "距離(km)": lambda r: round(r.nearest_km, 1),
        },
    )
    tables["広域"] = table_of(
        view.cross,
        {
            "施設ID": lambda c: c.facility_id,
            "施設名": lambda c: c.facility_name,
            "施設の市区町村": lambda c: c.facility_municipality,
            "医療機関ID": lambda c: c.institution_id,
            "医療機関": lambda c: c.institution_name,
            "医療機関の市区町村": lambda c: c.institution_municipality,
            "医療機関の区域・都道府県": lambda c: c.other_side,
            "他の都道府県": lambda c: "○" if c.other_prefecture else "",
            "距離(km)": lambda c: round(c.distance_km, 1),
            "要件": lambda c: _marks(c.covers),
            "根拠": lambda c: _basis_ja(c.basis),
        },
    )
    names = {f.facility_id: f.name for f in view.facilities}
    inames = {i.institution_id: i.name for i in view.reach}
    tables["回答"] = table_of(
        view.answers,
        {
            "提案ID": lambda p: p.id,
            "施設": lambda p: names.get(p.facility_id, p.facility_id),
            "医療機関": lambda p: inames.get(p.institution_id, p.institution_id),
            "要件": lambda p: _marks(p.covers),
            "状態": lambda p: _status_ja(p.status),
        },
    )
    return tables


def _basis_ja(basis: str) -> str:
    if basis == "candidate":
        return "候補(最も多くの要件を満たす最寄り)"
    return f"提案({_status_ja(basis)})"


def _names(view: AreaView) -> list[str]:
    members = view.area.members
    return [m.name for m in municipalities() if members.contains(m.code5)]


def _ranges_text(view: AreaView) -> str:
    return "、".join(f"{c.label_ja} {view.params.max_km[c]:g} km" for c in CAPABILITIES)


def meeting_workbook(view: AreaView) -> Workbook:
    """The workbook of the meeting material (``meeting_tables``), every sheet set up to print."""
    wb = Workbook()
    taken: set[str] = set()
    for k, (name, df) in enumerate(meeting_tables(view).items()):
        ws = wb.active if k == 0 else wb.create_sheet()
        ws.title = sheet_title(name, taken)
        write_sheet(ws, df)
        print_setup(ws, f"{view.area.name} {ws.title}", len(df.columns))
    return wb


def write_meeting_workbook(view: AreaView, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meeting_workbook(view).save(path)
    return path


# --- the printed pages ------------------------------------------------------------------------


def _map(view: AreaView, width: int = 560, height: int = 470) -> tuple[str, list[dict[str, str]]]:
    """The area's facilities by status, the institutions to discuss and the 広域 partners."""
    from ..gaps.shapes import load_outlines

    points, lines = [], []
    statuses = set()
    for f in view.facilities:
        statuses.add(f.status)
        points.append(
            Point(
                f.lat,
                f.lon,
                STATUS_COLORS[f.status],
                title=f"{f.name}({f.status.label_ja})",
                size=2.4,
                hollow=f.geocode is not GeocodePrecision.EXACT,
            )
        )
    legend = [("dot", STATUS_COLORS[s], s.heading_ja) for s in Status if s in statuses]
    insts = {i.institution_id: i for i in view.reach}
    facs = {f.facility_id: f for f in view.facilities}
    for d in view.discuss[:10]:
        i = insts[d.institution_id]
        points.append(Point(i.lat, i.lon, DISCUSS_COLOR, "square", d.name[:12], d.name, 3.0))
    for c in view.cross:
        fac, partner = facs.get(c.facility_id), insts.get(c.institution_id)
        if fac is None or partner is None:
            continue
        points.append(
            Point(partner.lat, partner.lon, CROSS_COLOR, "square", title=partner.name, size=2.6)
        )
        lines.append(Line(fac.lat, fac.lon, partner.lat, partner.lon, CROSS_COLOR, dashed=True))
    if view.discuss:
        legend.append(("square", DISCUSS_COLOR, "役割を協議する医療機関(上位10)"))
    if view.cross:
        legend += [
            ("square", CROSS_COLOR, "区域外の協力先(広域)"),
            ("dashed", CROSS_COLOR, "広域の組合せ"),
        ]
    prefs = {m.prefecture for m in municipalities() if view.area.members.contains(m.code5)}
    try:
        outlines = load_outlines()
    except (FileNotFoundError, ValueError):
        outlines = {}
    rings = [outlines[p] for p in sorted(prefs) if p in outlines]
    places = [
        Place(m.lat, m.lon, m.name) for m in municipalities() if view.area.members.contains(m.code5)
    ]
    svg = SvgMap(width, height, points, lines, True, 0, rings, places).render()
    return svg, [{"shape": s, "color": c, "label": t} for s, c, t in legend]


def _figures(view: AreaView) -> dict[str, object]:
    """What the meeting pages and the 郡市医師会 letter both print: the area's municipalities,
    the deadline, the ranges and what is short by duty × requirement."""
    by_duty = view.short_by_duty()
    need = view.short_by_requirement()
    return {
        "css": css(),
        "deadline": wareki(DEADLINE),
        "municipalities": "、".join(_names(view)),
        "by_duty": [(d.label_ja, by_duty[d], [need[d][c] for c in CAPABILITIES]) for d in Duty],
        "capabilities": [c.label_ja for c in CAPABILITIES],
        "ranges_text": _ranges_text(view),
        "n_uncoverable": len({r.facility_id for r in view.uncoverable}),
    }


def _context(view: AreaView) -> dict[str, object]:
    tables = meeting_tables(view)
    short = tables["不足している施設"]
    svg, legend = _map(view)
    return {
        **_figures(view),
        "view": view,
        "title": _title(view, "調整会議資料 協力医療機関の確保状況"),
        "today": wareki(view.today),
        "statuses": [(s.short_ja, s.heading_ja) for s in Status],
        "proposals": [(_status_ja(s), n) for s, n in view.proposal_counts],
        "map_svg": svg,
        "map_legend": legend,
        "discuss": [
            {
                "name": d.name,
                "kind": INSTITUTION_KIND_JA.get(d.kind, d.kind),
                "municipality": d.municipality_name,
                "inside": "○" if d.inside else "",
                "nearest": len(d.nearest_for),
                "far": f"{d.farthest_km:.1f}" if d.nearest_for else "",
                "gain": "—" if view.changes is None else d.capacity_gain,
                "facilities": "、".join(d.nearest_for),
            }
            for d in view.discuss[:15]
        ],
        "changes": (
            None
            if view.changes is None
            else tables["何があれば埋まるか"].head(15).to_dict("records")
        ),
        "ranges": tables["距離の上限を広げると"].to_dict("records"),
        "cross": tables["広域"].to_dict("records"),
        "helping": _helping_rows(view),
        "n_helping": len(view.institutions),
        "short": short.to_dict("records"),
        "short_columns": tuple(c for c in short.columns if c not in SHORT_UNPRINTED),
        "marks": _marks,
    }


def _helping_rows(view: AreaView) -> list[dict[str, object]]:
    columns = _helping_columns(_capacity)
    del columns["医療機関ID"]  # the page names them
    return rows_of(view.institutions[:TOP_INSTITUTIONS], columns)


def meeting_html(view: AreaView) -> str:
    """The 調整会議資料 as one HTML document (A4 landscape pages)."""
    return environment().get_template("meeting.html").render(**_context(view))


# --- the letter to a 郡市医師会 -----------------------------------------------------------------


def association_letter_html(
    view: AreaView, sender: Sender, letter_date: dt.date | None = None, seq: int = 0
) -> str:
    """The request to the 郡市医師会 of ``view``'s area: its gaps, the member institutions that
    could help, the reply deadline and a reply form (fields not set print as placeholders)."""
    letter_date = letter_date or view.today
    members = [h for h in view.institutions if h.inside]
    shared = sorted(
        {(f.municipality_name, "、".join(f.shared_with)) for f in view.short if f.shared_with}
    )
    return (
        environment()
        .get_template("association_letter.html")
        .render(
            **_figures(view),
            **{
                "title": "高齢者施設等の協力医療機関の確保に関するご協力のお願い",
                "to": view.area.name,
                "today": wareki(letter_date),
                "number": sender.number_of(seq),
                "sender": sender.context(),
                "days_left": view.days_left,
                "members": [
                    {
                        "name": h.name,
                        "kind": INSTITUTION_KIND_JA.get(h.kind, h.kind),
                        "municipality": h.municipality_name,
                        "offers": _marks(h.offers),
                        "declared": _capacity(h.declared),
                        "remaining": _capacity(h.remaining),
                        "needed": h.needed,
                    }
                    for h in members
                ],
                "short": [
                    {
                        "name": f.name,
                        "kind": f.kind_ja,
                        "duty": f.duty.label_ja,
                        "municipality": f.municipality_name,
                        "missing": _marks(f.missing),
                        "pending": _marks(f.pending) if f.pending else "",
                    }
                    for f in view.short
                ],
                "shared": shared,
                "pending_ja": PENDING_JA,
                "reply_rows": max(5, min(len(members), 12)),
            },
        )
    )


# --- files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingFiles:
    """What ``write_meeting`` wrote; ``note`` says how PDFs were (or were not) made."""

    html: Path
    xlsx: Path
    pdf: Path | None
    letter_html: Path | None
    letter_pdf: Path | None
    note: str


def write_meeting(
    view: AreaView,
    out: str | Path,
    pdf: bool = True,
    sender: Sender | None = None,
    letter: bool | None = None,
    letter_date: dt.date | None = None,
) -> MeetingFiles:
    """Write ``meeting.html``, ``meeting.xlsx`` and (with Chromium) ``meeting.pdf`` into
    ``out``; for a 郡市医師会 (or ``letter=True``) also ``request.html``/``request.pdf``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    html = out / "meeting.html"
    html.write_text(meeting_html(view), encoding="utf-8")
    xlsx = write_meeting_workbook(view, out / "meeting.xlsx")
    want_letter = view.area.kind == "ishikai" if letter is None else letter
    letter_html = None
    if want_letter:
        letter_html = out / "request.html"
        letter_html.write_text(
            association_letter_html(view, sender or Sender(addressee="onchu"), letter_date),
            encoding="utf-8",
        )
    exe, note = pdf_backend()
    pdf_path = letter_pdf = None
    if pdf and exe:
        with ChromiumPrinter(find_chromium()) as printer:
            pdf_path = printer.print_pdf(html, out / "meeting.pdf")
            if letter_html is not None:
                letter_pdf = printer.print_pdf(letter_html, out / "request.pdf")
    elif not pdf:
        note = "PDF は作成していません (指定により HTML と Excel のみ)"
    return MeetingFiles(html, xlsx, pdf_path, letter_html, letter_pdf, note)
