"""Progress over filing years (年度), computed from each facility's status as filed in each year:
per municipality and kind, how the seed table's ①②③④ shares moved, and the municipalities that
improved most — the 好事例 candidates for 横展開 the 令和7年5月28日 notice asks prefectures to
spread.

Rules (the store reads the filed statuses with ``store.state.filed_statuses``):

- a facility's category in 年度 Y is what its filing of Y says (its coverage and partners as
  filed; proposals are not filings and do not count); no filing of Y → ④ (``Status.UNKNOWN``);
- the denominator of every year is the facilities of the municipality and kind known now (the
  registry has no opening dates), so a share moves only because filings moved;
- shares are percentages of that denominator, rounded to 0.1; the columns are the dashboard's:
  every ``Status`` in its order, headed by ``Status.heading_ja``;
- improvement of a municipality = ① share (all kinds together) in the last year minus the first
  year, in percentage points; ties by more facilities newly ①, then by code. Only municipalities
  that improved are candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from .model import FACILITY_KINDS
from .reference import municipalities
from .vocab import Status

KEYS = tuple(s.value for s in Status)  # the status columns, in the vocabulary's order
TOTAL = "total"


def municipality_names() -> dict[str, str]:
    """5-digit municipality code → 市区町村名 (offline reference table); the one lookup every
    view uses."""
    return {m.code5: m.name for m in municipalities()}


@dataclass(frozen=True)
class Progress:
    """Counts and shares per (municipality, kind, 年度); ``kind == "total"`` rows sum the kinds."""

    years: tuple[int, ...]
    table: pd.DataFrame

    @property
    def has_years(self) -> bool:
        """Whether there is anything to compare (at least two filing years)."""
        return len(self.years) >= 2

    def changes(self) -> pd.DataFrame:
        """Per (municipality, kind): each share in the first and last year and the change (pt)."""
        cols = ["municipality_code", "municipality_name", "kind", "kind_ja", "total"]
        if not self.has_years:
            return pd.DataFrame(columns=cols)
        first, last = self.years[0], self.years[-1]
        a = self.table[self.table["year"] == first].set_index(["municipality_code", "kind"])
        b = self.table[self.table["year"] == last].set_index(["municipality_code", "kind"])
        out = b[["municipality_name", "kind_ja", "total"]].copy()
        for key in KEYS:
            out[f"share_{key}_{first}"] = a[f"share_{key}"]
            out[f"share_{key}_{last}"] = b[f"share_{key}"]
            out[f"delta_{key}"] = (b[f"share_{key}"] - a[f"share_{key}"]).round(1)
        out["gained_all"] = b[Status.ALL.value] - a[Status.ALL.value]
        return out.reset_index()

    def good_practices(self, top: int = 5) -> pd.DataFrame:
        """Municipalities whose ① share (all kinds) rose most, first to last year (module rule)."""
        ch = self.changes()
        cols = [
            "municipality_code",
            "municipality_name",
            "total",
            "share_all_from",
            "share_all_to",
            "delta_all",
            "gained_all",
        ]
        if ch.empty:
            return pd.DataFrame(columns=cols)
        first, last = self.years[0], self.years[-1]
        t = ch[(ch["kind"] == TOTAL) & (ch["delta_all"] > 0)].rename(
            columns={f"share_all_{first}": "share_all_from", f"share_all_{last}": "share_all_to"}
        )
        t = t.sort_values(
            ["delta_all", "gained_all", "municipality_code"], ascending=[False, False, True]
        )
        return t[cols].head(top).reset_index(drop=True)

    def by_kind(self) -> pd.DataFrame:
        """The whole scope per (kind, 年度): counts and shares (the dashboard's small table)."""
        cols = ["kind", "kind_ja", "year", "total", *KEYS]
        if self.table.empty:
            return pd.DataFrame(columns=[*cols, *(f"share_{k}" for k in KEYS)])
        t = self.table.groupby(["kind", "year"], sort=False)[["total", *KEYS]].sum().reset_index()
        order = {k: n for n, k in enumerate([*FACILITY_KINDS, TOTAL])}
        t = t.sort_values(["kind", "year"], key=lambda c: c.map(order) if c.name == "kind" else c)
        t.insert(1, "kind_ja", t["kind"].map(_kind_ja))
        return _with_shares(t.reset_index(drop=True))

    def frame_ja(self) -> pd.DataFrame:
        """The table with Japanese headers (the report's sheet)."""
        labels = {s.value: s.heading_ja for s in Status}
        t = self.table
        out = pd.DataFrame(
            {
                "市区町村コード": t["municipality_code"],
                "市区町村": t["municipality_name"],
                "施設種別": t["kind_ja"],
                "年度": t["year"],
                "施設数": t["total"],
            }
        )
        for key in KEYS:
            out[labels[key]] = t[key]
        for key in KEYS:
            out[f"{labels[key]}(%)"] = t[f"share_{key}"]
        return out


def _kind_ja(kind: str) -> str:
    return "計" if kind == TOTAL else FACILITY_KINDS[kind].label_ja


def _with_shares(t: pd.DataFrame) -> pd.DataFrame:
    for key in KEYS:
        share = (100 * t[key] / t["total"].where(t["total"] > 0)).fillna(0.0)
        t[f"share_{key}"] = share.round(1)
    return t


def progress_of(
    facilities: Sequence[tuple[str, str, str]],
    statuses: Mapping[str, Mapping[int, Status]],
    years: Sequence[int] | None = None,
) -> Progress:
    """The progress table of (facility id, municipality code, kind) triples and their filed
    statuses by year (``store.state.filed_statuses``); ``years`` default to every filed year."""
    ys = tuple(
        sorted(set(years) if years is not None else {y for s in statuses.values() for y in s})
    )
    names = municipality_names()
    counts: dict[tuple[str, str, int], dict[str, int]] = {}
    for fid, code, kind in facilities:
        code5 = code[:5]
        filed = statuses.get(fid, {})
        for year in ys:
            status = filed.get(year, Status.UNKNOWN).value
            for k in (kind, TOTAL):
                c = counts.setdefault((code5, k, year), dict.fromkeys(KEYS, 0))
                c[status] += 1
    rows = [
        {
            "municipality_code": code5,
            "municipality_name": names.get(code5, ""),
            "kind": kind,
            "kind_ja": _kind_ja(kind),
            "year": year,
            "total": sum(c.values()),
            **c,
        }
        for (code5, kind, year), c in counts.items()
    ]
    order = {k: n for n, k in enumerate([*FACILITY_KINDS, TOTAL])}
    rows.sort(key=lambda r: (r["municipality_code"], order[r["kind"]], r["year"]))  # type: ignore[index]
    cols = ["municipality_code", "municipality_name", "kind", "kind_ja", "year", "total", *KEYS]
    return Progress(ys, _with_shares(pd.DataFrame(rows, columns=cols)))
