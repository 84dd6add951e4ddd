"""The report tables of a run (status by kind × municipality, facilities, institutions, gaps).

Every format (Excel, CSV, HTML, PDF) is drawn from the same ``ReportData``, so the numbers a
meeting sees on paper are the numbers in the coordinator's workbook. Headers are Japanese;
numbers stay numbers (``None`` where there is nothing, never an empty string).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import TypeVar

import numpy as np
import pandas as pd

from ..capacity import declared_capacity, partnerships_used
from ..geo import haversine_km
from ..infection import LABEL_JA as INFECTION_JA
from ..infection import has_infection_partner, infection_ids
from ..model import (
    CAPABILITIES,
    FACILITY_KINDS,
    INSTITUTION_KIND_JA,
    Capability,
    Facility,
    Instance,
    Institution,
    Status,
    filed_partner_pairs,
    format_capabilities_ja,
)
from ..objective import Objective
from ..progress import Progress
from ..reference import municipalities
from ..result import (
    Alternative,
    FacilityOutcome,
    MatchResult,
    Proposal,
    Unmatched,
)
from ..vocab import DEADLINE, NO_FILING_JA, Duty, GeocodePrecision, Level, Mode, Reason, days_left
from ..wareki import nendo, wareki
from .sender import Sender

T = TypeVar("T")
NEAREST = 3  # nearest institutions listed for a facility nobody can cover in range

# The seed table's columns, in its order (the vocabulary's); no_partner is shown apart from ③.
STATUS_ORDER: tuple[Status, ...] = tuple(Status)
# Every status table's heading of a status: the vocabulary's ``Status.heading_ja``.
STATUS_SHORT_JA = {s: s.heading_ja for s in Status}
STATUS_COLORS = {
    Status.ALL: "#2e7d32",
    Status.PARTIAL: "#f9a825",
    Status.NONE: "#ef6c00",
    Status.NO_PARTNER: "#c62828",
    Status.UNKNOWN: "#757575",
}
NO_MUNICIPALITY = "(市区町村不明)"
# The objective's levels as the reports count them: what the proposal adds, said as such
# (「新たに」), one term for the new partnerships everywhere (overview, comparison, workbook).
INCREMENT_LABELS_JA: dict[Level, str] = {
    Level.MANDATORY_FULL: f"新たに全要件を満たす{Duty.MANDATORY.label_ja}施設",
    Level.EFFORT_FULL: f"新たに全要件を満たす{Duty.EFFORT.label_ja}施設",
    Level.PAIRS_COVERED: "新たに満たす(施設, 要件)の組",
    Level.PARTNERSHIPS: "提案する新たな協力関係",
    Level.DISTANCE: "新たな協力関係の総距離(km)",
}
ALL_AREA = "(全体)"
# The room a run had at an institution, beside its declared 受入枠 (``ReportData.room``).
ROOM_JA = "今回お願いできる枠(他の依頼で使用中の分を除く)"


def rows_of(
    items: Iterable[T], columns: Mapping[str, Callable[[T], object]]
) -> list[dict[str, object]]:
    """A row per item: heading → the item's value."""
    return [{h: value(x) for h, value in columns.items()} for x in items]


def table_of(items: Iterable[T], columns: Mapping[str, Callable[[T], object]]) -> pd.DataFrame:
    """``rows_of`` as a table, its headings kept when there are no items."""
    return pd.DataFrame(rows_of(items, columns), columns=list(columns))


def status_text(status: Status) -> str:
    """A status as tables and letters show it: its number and label (``Status.heading_ja``)."""
    return status.heading_ja


def capability_marks(mask: int) -> str:
    """``①②③``-style marks of a mask (empty string for none)."""
    return "".join(c.mark for c in CAPABILITIES if mask & c)


def no_filing_text(outcome: FacilityOutcome) -> str:
    """「届出なし」 for a facility without a filing, "" for every other one (a facility that
    filed 「協力医療機関なし」 did file)."""
    return NO_FILING_JA if outcome.unknown else ""


@dataclass(frozen=True)
class Nearest:
    """An institution that offers a capability a facility lacks, however far it is."""

    institution: Institution
    capability: int
    distance_km: float


@dataclass
class ReportData:
    """A run's instance and result indexed by id, plus the derived report tables."""

    instance: Instance
    result: MatchResult
    today: date = field(default_factory=date.today)
    sender: Sender = field(default_factory=Sender)
    baseline: MatchResult | None = None  # the greedy baseline on the same input
    filing_years: Progress | None = None  # the store's progress over 年度 (``matcher.progress``)

    def __post_init__(self) -> None:
        self.facility = {f.facility_id: f for f in self.instance.facilities}
        self.institution = {i.institution_id: i for i in self.instance.institutions}
        self.outcome: dict[str, FacilityOutcome] = {o.facility_id: o for o in self.result.outcomes}
        self.proposals_of_facility: dict[str, list[Proposal]] = defaultdict(list)
        self.proposals_of_institution: dict[str, list[Proposal]] = defaultdict(list)
        for p in self.result.proposals:
            self.proposals_of_facility[p.facility_id].append(p)
            self.proposals_of_institution[p.institution_id].append(p)
        self.alternatives_of: dict[str, list[Alternative]] = defaultdict(list)
        for a in self.result.alternatives:
            self.alternatives_of[a.facility_id].append(a)
        self.unmatched_of: dict[str, list[Unmatched]] = defaultdict(list)
        for u in self.result.unmatched:
            self.unmatched_of[u.facility_id].append(u)
        self._muni = {m.code5: m for m in municipalities()}

    @property
    def baseline_objective(self) -> Objective | None:
        """The greedy baseline's objective: the given baseline's, else the one ``match``
        computed with the run (``MatchResult.baseline``)."""
        return self.baseline.objective if self.baseline is not None else self.result.baseline

    # -- 第二種協定指定医療機関 (``matcher.infection``) -------------------------------------------
    @cached_property
    def infection_ids(self) -> frozenset[str]:
        """Institutions that are 第二種協定指定医療機関."""
        return infection_ids(self.instance.institutions)

    def infection_now(self, facility_id: str) -> bool:
        """Whether a filed or agreed partner of the facility is one."""
        return has_infection_partner(self.facility[facility_id], self.infection_ids)

    def infection_after(self, facility_id: str) -> bool:
        """``infection_now`` or a proposed partner is one."""
        return self.infection_now(facility_id) or any(
            p.institution_id in self.infection_ids
            for p in self.proposals_of_facility.get(facility_id, [])
        )

    def infection_rows(self) -> list[tuple[str, object]]:
        """The overview's (項目, 値) rows about 第二種協定指定医療機関."""
        ids = [f.facility_id for f in self.instance.facilities]
        rows: list[tuple[str, object]] = [
            (f"{INFECTION_JA}(新興感染症)の数", len(self.infection_ids)),
            (f"現在 {INFECTION_JA}を協力医療機関に含む施設", sum(map(self.infection_now, ids))),
            (f"提案後 {INFECTION_JA}を協力医療機関に含む施設", sum(map(self.infection_after, ids))),
            (
                f"うち{INFECTION_JA}への提案",
                sum(p.institution_id in self.infection_ids for p in self.result.proposals),
            ),
        ]
        d = self.result.params.prefer_infection_agreement
        rows.append(
            (
                f"{INFECTION_JA}の優先",
                f"あり(距離を {round(100 * d)}% 割り引いて比較)" if d else "なし",
            )
        )
        return rows

    # -- progress over filing years ---------------------------------------------------------
    @property
    def has_filing_years(self) -> bool:
        """Whether the store gave at least two filing years (the progress section is shown)."""
        return self.filing_years is not None and self.filing_years.has_years

    def progress_table(self) -> pd.DataFrame:
        """年度別推移: ①②③④ counts and shares per municipality × kind × 年度."""
        return self.filing_years.frame_ja() if self.filing_years is not None else pd.DataFrame()

    def good_practice_table(self) -> pd.DataFrame:
        """好事例の候補: the municipalities whose ① share rose most (``matcher.progress``)."""
        if not self.has_filing_years:
            return pd.DataFrame()
        assert self.filing_years is not None
        first, last = self.filing_years.years[0], self.filing_years.years[-1]
        g = self.filing_years.good_practices(top=10)
        return pd.DataFrame(
            {
                "市区町村": g["municipality_name"],
                "施設数": g["total"],
                f"{nendo(first)} ①(%)": g["share_all_from"],
                f"{nendo(last)} ①(%)": g["share_all_to"],
                "増加(ポイント)": g["delta_all"],
                "新たに①になった施設": g["gained_all"],
                "市区町村コード": g["municipality_code"],
            }
        )

    # -- lookups ---------------------------------------------------------------------------
    def existing_partners(self, facility_id: str) -> tuple[str, ...]:
        """Registry ids of the facility's filed partners (``Facility.partner_ids``)."""
        f = self.facility.get(facility_id)
        return f.partner_ids if f else ()

    def is_existing(self, p: Proposal) -> bool:
        """Whether a proposed pair is already a filed partnership (never a new one)."""
        return p.institution_id in self.existing_partners(p.facility_id)

    @staticmethod
    def approximate(item: Facility | Institution) -> bool:
        """Whether the point is the municipality's representative point, not the address."""
        return item.geocode == GeocodePrecision.MUNICIPALITY

    def pair_approximate(self, facility_id: str, institution_id: str) -> bool:
        return self.approximate(self.facility[facility_id]) or self.approximate(
            self.institution[institution_id]
        )

    def contact(self, item: Facility | Institution) -> str:
        """Address and phone as printed on a letter (phone only when the registry has one)."""
        phone = item.extra.get("phone", "")
        return "".join([item.address or "(住所未登録)", f" 電話 {phone}" if phone else ""])

    def municipality_name(self, code: str) -> str:
        m = self._muni.get(code[:5]) if code else None
        return m.name if m else (code or NO_MUNICIPALITY)

    def prefecture_name(self, code: str) -> str:
        m = self._muni.get(code[:5]) if code else None
        return m.prefecture if m else ""

    @cached_property
    def area_name(self) -> str:
        """The prefecture most facilities lie in (``高知県ほか`` when the run spans several)."""
        prefs = Counter(self.prefecture_name(f.municipality_code) for f in self.instance.facilities)
        prefs.pop("", None)
        if not prefs:
            return "対象地域"
        top = prefs.most_common(1)[0][0]
        return top if len(prefs) == 1 else f"{top}ほか"

    @property
    def days_left(self) -> int:
        return days_left(self.today)

    @cached_property
    def municipality_codes(self) -> list[str]:
        """Municipality codes of the facilities, in code order (blank last)."""
        codes = {f.municipality_code for f in self.instance.facilities}
        return sorted(codes, key=lambda c: (c == "", c))

    def facilities_in(self, code: str) -> list[Facility]:
        return [f for f in self.instance.facilities if f.municipality_code == code]

    @cached_property
    def demand_facilities(self) -> list[Facility]:
        """Facilities that lacked something before the proposal (they get a notice)."""
        return [f for f in self.instance.facilities if self.outcome[f.facility_id].missing_before]

    @cached_property
    def requested_institutions(self) -> list[Institution]:
        """Institutions with at least one proposed partnership (they get a request)."""
        return [
            i
            for i in self.instance.institutions
            if self.proposals_of_institution.get(i.institution_id)
        ]

    @cached_property
    def max_partners_shown(self) -> int:
        return max([len(v) for v in self.proposals_of_facility.values()] + [1])

    # -- capacity (``matcher.capacity``) -------------------------------------------------------
    @cached_property
    def _capacity_used(self) -> dict[str, int]:
        """What the run's proposals use of each institution's capacity, a site once, as the
        planner counts it (``capacity.partnerships_used``)."""
        return partnerships_used(
            self.instance,
            ((p.facility_id, p.institution_id) for p in self.result.proposals),
            self.result.params.count_site_registrations,
        )

    def used_capacity(self, inst: Institution) -> int:
        """Places the run's proposals take at ``inst`` (the registrations of a site: one)."""
        return self._capacity_used.get(inst.institution_id, 0)

    @staticmethod
    def declared_capacity(inst: Institution) -> int | None:
        """The institution's declared capacity (``None``: not declared), what a letter's
        「申告いただいた受入枠」 says, even when the run had less room (a stored run after
        another area's: ``capacity.declared_capacity``)."""
        return declared_capacity(inst)

    @staticmethod
    def room(inst: Institution) -> int | None:
        """The places the run could give (``Institution.capacity``: the declaration, less what
        other runs' live and agreed partnerships use for a stored run)."""
        return inst.capacity

    def room_differs(self, inst: Institution) -> bool:
        """Whether the run had less (or, overbooked, other) room than the declaration: the
        letters then print the room as its own figure."""
        return self.room(inst) != self.declared_capacity(inst)

    def remaining_capacity(self, inst: Institution) -> int | None:
        """Places left after the run's proposals (``None``: not declared): the room less what
        they use, a site once — the alternatives' 残り of the same run and, for a stored run,
        the facility page's 残り."""
        if inst.capacity is None:
            return None
        return inst.capacity - self.used_capacity(inst)

    # -- isolated facilities ----------------------------------------------------------------
    @cached_property
    def isolated(self) -> dict[str, list[Nearest]]:
        """Facilities with a capability no institution offers within range, and their nearest
        institutions offering it (straight-line km × the run's road factor)."""
        lacking: dict[str, int] = defaultdict(int)
        for u in self.result.unmatched:
            if u.reason == "no_candidate":
                lacking[u.facility_id] |= u.capability
        insts = self.instance.institutions
        lat = np.array([i.lat for i in insts], float)
        lon = np.array([i.lon for i in insts], float)
        offers = np.array([i.offers for i in insts], np.int64)
        out: dict[str, list[Nearest]] = {}
        for fid in sorted(lacking):
            f = self.facility[fid]
            km = haversine_km(f.lat, f.lon, lat, lon) * self.result.params.road_factor
            rows = []
            for cap in CAPABILITIES:
                if not lacking[fid] & cap:
                    continue
                idx = np.flatnonzero(offers & int(cap))
                for k in idx[np.lexsort((idx, km[idx]))][:NEAREST]:
                    rows.append(Nearest(insts[k], int(cap), float(km[k])))
            out[fid] = rows
        return out

    # -- tables -----------------------------------------------------------------------------
    def status_table(self) -> pd.DataFrame:
        """Before/after counts in the seed table's ①②③④ form, by municipality × kind.

        The first rows are the whole area (``(全体)``), then one block per municipality.
        """
        groups: dict[tuple[str, str], list[FacilityOutcome]] = defaultdict(list)
        for f in self.instance.facilities:
            o = self.outcome[f.facility_id]
            groups[(ALL_AREA, f.kind)].append(o)
            groups[(ALL_AREA, "")].append(o)
            groups[(f.municipality_code, f.kind)].append(o)
        rows = []
        for code in [ALL_AREA, *self.municipality_codes]:
            for kind in [*FACILITY_KINDS, ""]:
                outs = groups.get((code, kind))
                if not outs or (kind == "" and code != ALL_AREA):
                    continue
                row: dict[str, object] = {
                    "市区町村コード": "" if code == ALL_AREA else code,
                    "市区町村": code if code == ALL_AREA else self.municipality_name(code),
                    "施設種別": FACILITY_KINDS[kind].label_ja if kind else "計",
                    "義務区分": FACILITY_KINDS[kind].duty.label_ja if kind else "",
                    "施設数": len(outs),
                }
                for when, attr in (("現在", "status_before"), ("提案後", "status_after")):
                    counts = Counter(getattr(o, attr) for o in outs)
                    for s in STATUS_ORDER:
                        row[f"{when} {STATUS_SHORT_JA[s]}"] = counts.get(s, 0)
                for when, attr in (("現在", "status_before"), ("提案後", "status_after")):
                    row[f"{when} ①の割合"] = sum(
                        getattr(o, attr) is Status.ALL for o in outs
                    ) / len(outs)
                row["現在 第二種協定あり"] = sum(self.infection_now(o.facility_id) for o in outs)
                row["提案後 第二種協定あり"] = sum(
                    self.infection_after(o.facility_id) for o in outs
                )
                rows.append(row)
        return pd.DataFrame(rows, columns=self._status_columns())

    @staticmethod
    def _status_columns() -> list[str]:
        # The municipality by name first; its code (for lookups) last.
        cols = ["市区町村", "施設種別", "義務区分", "施設数"]
        for when in ("現在", "提案後"):
            cols += [f"{when} {STATUS_SHORT_JA[s]}" for s in STATUS_ORDER]
        return cols + [
            "現在 ①の割合",
            "提案後 ①の割合",
            "現在 第二種協定あり",
            "提案後 第二種協定あり",
            "市区町村コード",
        ]

    def facility_table(self, code: str | None = None) -> pd.DataFrame:
        """One row per facility (of a municipality, or all): now, proposal, after, alternatives."""
        facs = self.instance.facilities if code is None else self.facilities_in(code)
        n = self.max_partners_shown
        cols = [
            "施設ID",
            "施設名",
            "施設種別",
            "義務区分",
            "市区町村",
            "住所",
            NO_FILING_JA,
            "現在の状況",
            "不足していた要件",
        ]
        for k in range(1, n + 1):
            cols += [
                f"提案{k} 医療機関ID",
                f"提案{k} 医療機関名",
                f"提案{k} 対応する要件",
                f"提案{k} 距離(km)",
            ]
        cols += ["提案後の状況", "未充足の要件", "未充足の理由", "範囲内の候補数", "代替候補"]
        rows = []
        for f in facs:
            o = self.outcome[f.facility_id]
            row: dict[str, object] = {
                "施設ID": f.facility_id,
                "施設名": f.name,
                "施設種別": f.info.label_ja,
                "義務区分": f.info.duty.label_ja,
                "市区町村": self.municipality_name(f.municipality_code),
                "住所": f.address,
                NO_FILING_JA: no_filing_text(o),
                "現在の状況": status_text(o.status_before),
                "不足していた要件": capability_marks(o.missing_before),
            }
            props = self.proposals_of_facility.get(f.facility_id, [])
            for k in range(1, n + 1):
                p = props[k - 1] if k <= len(props) else None
                row[f"提案{k} 医療機関ID"] = p.institution_id if p else ""
                row[f"提案{k} 医療機関名"] = self.institution[p.institution_id].name if p else ""
                row[f"提案{k} 対応する要件"] = capability_marks(p.covers) if p else ""
                row[f"提案{k} 距離(km)"] = round(p.distance_km, 1) if p else None
            row["提案後の状況"] = status_text(o.status_after)
            row["未充足の要件"] = capability_marks(o.missing_after)
            row["未充足の理由"] = "、".join(
                f"{capability_marks(u.capability)}{Reason(u.reason).label_ja}"
                for u in self.unmatched_of.get(f.facility_id, [])
            )
            row["範囲内の候補数"] = o.candidates
            row["代替候補"] = " / ".join(
                f"{self.institution[a.institution_id].name}"
                f"({a.distance_km:.1f}km {capability_marks(a.covers)})"
                for a in self.alternatives_of.get(f.facility_id, [])
            )
            rows.append(row)
        return pd.DataFrame(rows, columns=cols)

    def institution_table(self) -> pd.DataFrame:
        """One row per institution with proposals: what is asked of it and the capacity left."""

        def asked(i: Institution) -> list[Proposal]:
            return self.proposals_of_institution[i.institution_id]

        def asked_for(c: Capability) -> Callable[[Institution], object]:
            return lambda i: sum(bool(p.covers & c) for p in asked(i))

        return table_of(
            self.requested_institutions,
            {
                "医療機関ID": lambda i: i.institution_id,
                "医療機関名": lambda i: i.name,
                "種別": lambda i: INSTITUTION_KIND_JA[i.kind],
                "市区町村": lambda i: self.municipality_name(i.municipality_code),
                "住所": lambda i: i.address,
                "提供できる要件": lambda i: capability_marks(i.offers),
                "受入枠": self.declared_capacity,
                "受入枠の申告": lambda i: (
                    "申告あり" if i.capacity is not None else "申告なし(上限なし)"
                ),
                ROOM_JA: self.room,
                "依頼する施設数": lambda i: len(asked(i)),
                **{f"うち{c.label_ja}": asked_for(c) for c in CAPABILITIES},
                "残り枠": self.remaining_capacity,
                "最遠距離(km)": lambda i: round(max(p.distance_km for p in asked(i)), 1),
                "依頼する施設": lambda i: "、".join(
                    self.facility[p.facility_id].name for p in asked(i)
                ),
            },
        )

    def proposal_table(self) -> pd.DataFrame:
        """One row per proposed partnership, with names (the workbook's 提案一覧)."""
        fac, inst = self.facility, self.institution
        return table_of(
            self.result.proposals,
            {
                "施設ID": lambda p: p.facility_id,
                "施設名": lambda p: fac[p.facility_id].name,
                "市区町村": lambda p: self.municipality_name(fac[p.facility_id].municipality_code),
                "医療機関ID": lambda p: p.institution_id,
                "医療機関名": lambda p: inst[p.institution_id].name,
                "種別": lambda p: INSTITUTION_KIND_JA[inst[p.institution_id].kind],
                "対応する要件": lambda p: capability_marks(p.covers),
                "距離(km)": lambda p: round(p.distance_km, 1),
                "既存の協力医療機関": lambda p: "○" if self.is_existing(p) else "",
            },
        )

    def alternatives_table(self) -> pd.DataFrame:
        """One row per alternative of a facility (代替候補, in rank order): the institutions to
        ask when the proposed one declines, by name (their ids are in ``alternatives.csv``)."""
        fac, inst = self.facility, self.institution
        return table_of(
            [
                a
                for f in self.demand_facilities
                for a in self.alternatives_of.get(f.facility_id, [])
            ],
            {
                "施設ID": lambda a: a.facility_id,
                "施設名": lambda a: fac[a.facility_id].name,
                "市区町村": lambda a: self.municipality_name(fac[a.facility_id].municipality_code),
                "順位": lambda a: a.rank,
                "医療機関名": lambda a: inst[a.institution_id].name,
                "種別": lambda a: INSTITUTION_KIND_JA[inst[a.institution_id].kind],
                "対応できる要件": lambda a: capability_marks(a.covers),
                "距離(km)": lambda a: round(a.distance_km, 1),
                "残り枠": lambda a: a.remaining_capacity,
            },
        )

    def uncovered_table(self) -> pd.DataFrame:
        """One row per (facility, capability) still missing after the proposal, with the reason."""
        fac, outcome = self.facility, self.outcome
        return table_of(
            self.result.unmatched,
            {
                "施設ID": lambda u: u.facility_id,
                "施設名": lambda u: fac[u.facility_id].name,
                "施設種別": lambda u: fac[u.facility_id].info.label_ja,
                "義務区分": lambda u: fac[u.facility_id].info.duty.label_ja,
                "市区町村": lambda u: self.municipality_name(fac[u.facility_id].municipality_code),
                "要件": lambda u: format_capabilities_ja(u.capability),
                "理由": lambda u: Reason(u.reason).label_ja,
                "理由コード": lambda u: u.reason,
                "範囲内の候補数": lambda u: outcome[u.facility_id].candidates,
                NO_FILING_JA: lambda u: no_filing_text(outcome[u.facility_id]),
            },
        )

    def reason_table(self) -> pd.DataFrame:
        """Counts of capabilities still missing, by reason × capability."""
        counts = Counter((u.reason, u.capability) for u in self.result.unmatched)
        facs: dict[str, set[str]] = defaultdict(set)
        for u in self.result.unmatched:
            facs[u.reason].add(u.facility_id)
        rows = []
        for reason in Reason:
            row: dict[str, object] = {"理由": reason.label_ja, "施設数": len(facs.get(reason, ()))}
            for c in CAPABILITIES:
                row[c.label_ja] = counts.get((reason, int(c)), 0)
            rows.append(row)
        return pd.DataFrame(rows, columns=["理由", "施設数", *[c.label_ja for c in CAPABILITIES]])

    def isolated_table(self) -> pd.DataFrame:
        """Facilities no institution can cover within range, with their nearest institutions."""
        rows = []
        max_km = self.result.params.max_km
        for fid, nearest in self.isolated.items():
            f = self.facility[fid]
            rank: Counter[int] = Counter()
            for n in nearest:
                rank[n.capability] += 1
                cap = next(c for c in CAPABILITIES if int(c) == n.capability)
                rows.append(
                    {
                        "施設ID": fid,
                        "施設名": f.name,
                        "施設種別": f.info.label_ja,
                        "市区町村": self.municipality_name(f.municipality_code),
                        "要件": cap.label_ja,
                        "範囲(km)": max_km[cap],
                        "順位": rank[n.capability],
                        "最寄り医療機関ID": n.institution.institution_id,
                        "最寄り医療機関名": n.institution.name,
                        "距離(km)": round(n.distance_km, 1),
                    }
                )
        return pd.DataFrame(
            rows,
            columns=[
                "施設ID",
                "施設名",
                "施設種別",
                "市区町村",
                "要件",
                "範囲(km)",
                "順位",
                "最寄り医療機関ID",
                "最寄り医療機関名",
                "距離(km)",
            ],
        )

    def comparison_table(self) -> pd.DataFrame:
        """この提案 vs 近い順に依頼した場合 (the greedy baseline): the objective's five levels."""
        rows = []
        if self.baseline_objective is not None:
            ours, greedy = self.result.objective, self.baseline_objective
            for level in Level:
                a, b = getattr(ours, level.key), getattr(greedy, level.key)
                if level is Level.DISTANCE:
                    a, b = round(a, 1), round(b, 1)
                rows.append((INCREMENT_LABELS_JA[level], a, b, round(a - b, 1)))
        return pd.DataFrame(rows, columns=["項目", "この提案", "近い順に依頼した場合", "差"])

    def overview_table(self) -> pd.DataFrame:
        """Key figures of the run as (項目, 値) rows."""
        o, c = self.result.objective, self.result.counts
        rows: list[tuple[str, object]] = [("警告", w) for w in self.result.warnings_ja]
        rows += [
            ("対象地域", self.area_name),
            ("作成日", wareki(self.today, western=True)),
            (f"経過措置の期限({wareki(DEADLINE)})までの日数", self.days_left),
            ("方式", f"{Mode(self.result.info.mode).label_ja}({self.result.info.message})"),
            ("施設数", len(self.instance.facilities)),
            ("医療機関数", len(self.instance.institutions)),
            ("要件が不足している施設数", len(self.demand_facilities)),
            (
                f"うち{NO_FILING_JA}",
                sum(self.outcome[f.facility_id].unknown for f in self.demand_facilities),
            ),
            (INCREMENT_LABELS_JA[Level.PARTNERSHIPS], o.partnerships),
            ("依頼先の医療機関数", len(self.requested_institutions)),
            (INCREMENT_LABELS_JA[Level.MANDATORY_FULL], o.mandatory_full),
            (INCREMENT_LABELS_JA[Level.EFFORT_FULL], o.effort_full),
            (INCREMENT_LABELS_JA[Level.PAIRS_COVERED], o.pairs_covered),
            (INCREMENT_LABELS_JA[Level.DISTANCE], round(o.distance_km, 1)),
            ("未充足の(施設, 要件)", len(self.result.unmatched)),
            ("範囲内に医療機関がない施設", len(self.isolated)),
        ]
        for s in STATUS_ORDER:
            rows.append((f"現在 {STATUS_SHORT_JA[s]}", c.get(f"before_{s.value}", 0)))
        for s in STATUS_ORDER:
            rows.append((f"提案後 {STATUS_SHORT_JA[s]}", c.get(f"after_{s.value}", 0)))
        rows += self.infection_rows()
        if self.has_filing_years:
            assert self.filing_years is not None
            ys = self.filing_years.years
            rows.append(
                ("届出の年度", f"{nendo(ys[0], western=True)}〜{nendo(ys[-1], western=True)}")
            )
            for _, r in self.filing_years.by_kind().query("kind == 'total'").iterrows():
                rows.append((f"{nendo(int(r['year']))} ①の割合(%)", r["share_all"]))
        return pd.DataFrame(rows, columns=["項目", "値"])


def existing_partner_pairs(instance: Instance) -> frozenset[tuple[str, str]]:
    """(facility_id, institution_id) of every filed partnership (``model.filed_partner_pairs``,
    which ``match`` already leaves out)."""
    return filed_partner_pairs(instance.facilities)
