"""The gap tables in Japanese: headings, labels of codes, and the sentences that read them.

The analysis modules return tables with code columns (``gain_mandatory_full``, ``consult``,
``component_full``); whatever a person reads — the CSV files of ``kyoryoku gaps``, the tables
and the text of the notebooks — goes through here, so a heading or a reading is worded once.
``in_japanese`` refuses a column it has no heading for, so a new column cannot slip out in
English; the sentences (``access_reading``, ``whatif_lines``) are computed from the numbers
they describe, never written beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from ..objective import Objective
from ..vocab import (
    CAPABILITIES,
    LEVEL_LABELS_JA,
    SEED_CATEGORIES,
    FacilityKind,
    InstitutionKind,
    Level,
    Mode,
    Status,
)
from .whatif import WhatIfStats, changed

# One heading per column code of every table in ``matcher.gaps`` (and of the tables the
# notebooks show beside them: ``matcher.progress``, the bundled reference CSVs).
HEADINGS: dict[str, str] = {
    # ids, places, kinds
    "rank": "順位",
    "facility_id": "施設ID",
    "institution_id": "医療機関ID",
    "nearest_institution_id": "最寄りの医療機関ID",
    "name": "名称",
    "kind": "種別",
    "kind_ja": "施設種別",
    "kind_label": "表の見出し",
    "area_code": "地域コード",
    "area_name": "地域",
    "municipality_code": "市区町村コード",
    "municipality_name": "市区町村",
    "facility_municipality": "施設の市区町村コード",
    "institution_municipality": "医療機関の市区町村コード",
    "prefecture": "都道府県",
    "lat": "緯度",
    "lon": "経度",
    "capability": "要件",
    # balance
    "demand": "要件が不足している施設",
    "demand_mandatory": "うち義務施設",
    "coverable": "範囲内に候補のある施設",
    "share_coverable": "候補のある割合",
    "supply_local": "地域内の医療機関",
    "capacity_local": "地域内の申告受入枠",
    "unlimited_local": "地域内の受入枠申告なし",
    "supply_in_range": "範囲内の医療機関",
    "capacity_in_range": "範囲内の申告受入枠",
    "unlimited_in_range": "範囲内の受入枠申告なし",
    "covered_by_proposal": "提案で満たされる施設",
    # access (2SFCA)
    "access": "2SFCA(周辺の受入枠/施設)",
    "institutions_in_range": "範囲内の医療機関",
    "access_mean": "2SFCA 平均",
    "access_min": "2SFCA 最小",
    "zero_access": "2SFCA が 0 の施設",
    # uncoverable, coverable share by range
    "range_km": "距離の上限(km)",
    "nearest_km": "最寄りまで(km)",
    "coverable_at_km": "候補ができる距離(km)",
    # crossings, scopes
    "distance_km": "距離(km)",
    "cross_municipality": "市区町村をまたぐ",
    "cross_prefecture": "都道府県をまたぐ",
    "scope": "マッチングの範囲",
    "candidate_pairs": "候補ペア数",
    "mandatory_full": LEVEL_LABELS_JA[Level.MANDATORY_FULL],
    "effort_full": LEVEL_LABELS_JA[Level.EFFORT_FULL],
    "pairs_covered": LEVEL_LABELS_JA[Level.PAIRS_COVERED],
    "partnerships": LEVEL_LABELS_JA[Level.PARTNERSHIPS],
    "demand_facilities": "要件が不足している施設",
    "proven_optimal": "最適性を証明",
    "full_none": "全要件を満たす施設(範囲の制限なし)",
    "full_prefecture": "全要件を満たす施設(都道府県内のみ)",
    "full_municipality": "全要件を満たす施設(市区町村内のみ)",
    # what-if
    "capacity": "受入枠(申告)",
    "facilities_in_range": "範囲内の施設",
    "used": "提案で使う受入枠",
    "demand_in_range": "範囲内の不足のある施設",
    "gain_mandatory_full": "全要件を満たす義務施設の増減",
    "gain_effort_full": "全要件を満たす努力義務施設の増減",
    "gain_pairs_covered": "満たされる要件の増減",
    "change_partnerships": "新たな連携の増減",
    "change_distance_km": "総距離の増減(km)",
    "reason": "計算",
    # compare (notebook 04)
    "capacity_factor": "受入枠の倍率",
    "mode": "方式",
    "unmatched": "満たせない(施設, 要件)",
    "seconds": "計算時間(秒)",
    "full": "全要件を満たす施設",
    # national (notebook 01)
    "group": "列",
    "column": "表の列",
    **{c.share: f"{c.status.mark}(%)" for c in SEED_CATEGORIES},
    "share_no_partner": f"{Status.NO_PARTNER.label_ja}(%)",
    "share_unknown": f"{Status.UNKNOWN.mark}(%)",
    "sum": "①〜④の合計(%)",
    "sum_off": "合計が100%でない",
    "over_100": "100%を超える値",
    "ambiguous_label": "見出しが他の列と同じ",
    "defect": "不備あり",
    "rows": "行数",
    "median_sum": "①〜④の合計の中央値(%)",
    "survey": "調査",
    "fiscal_year": "年度",
    "share_all_percent": "①の割合(%)",
    "source": "出典",
    # progress (notebook 05)
    "year": "年度",
}
# Where one table means something else by a column than the others do.
TABLE_HEADINGS: dict[str, dict[str, str]] = {
    "scope_summary": {"distance_km": LEVEL_LABELS_JA[Level.DISTANCE]},
    "tightness": {"distance_km": LEVEL_LABELS_JA[Level.DISTANCE]},
    "uncoverable": {"name": "施設名", "kind": "施設種別"},
    "whatif_capacity": {"name": "医療機関名", "kind": "医療機関の種別"},
    "whatif_sites": {"name": "新設する場所(市区町村役場)"},
    "survey_rates": {"kind_label": "資料の施設種別"},
}
# ``gain_full`` (義務 + 努力義務) is never shown: a change that covers 4 more 義務 facilities and
# 4 fewer 努力義務 ones nets 0 although it is the better proposal (notebook 03 once charted it).
OMIT = ("gain_full",)

REASONS_JA: dict[str, str] = {
    "resolved": "再計算",
    "witness": "証明(努力義務施設 1 件を充足)",
    "unlimited": "受入枠の申告なし(上限なし): 効果なし",
    "no_candidates": "範囲内に不足のある施設なし",
    "not_binding": "受入枠が範囲内の施設数以上: 効果なし",
    "component_full": "周辺の施設はすでに全要件を満たす",
    "lp_bound": "LP の上界で効果なしを証明",
    "no_demand_in_range": "範囲内に不足のある施設なし",
}
SCOPES_JA = {"none": "制限なし", "prefecture": "都道府県内のみ", "municipality": "市区町村内のみ"}
DEFECTS_JA = {
    "missing_prefecture": "県の行がない",
    "duplicate_prefecture": "県の行が重複",
    "unknown_prefecture": "不明な県名",
    "duplicate_group_label": "列の見出しが重複",
    "missing_kind": "施設種別の列がない",
    "cell_over_100": "100%を超える値",
    "group_sum": "①〜④の合計が100%でない",
    "row_length": "行のセル数が違う",
}
KINDS_JA = {k.value: k.label_ja for k in (*FacilityKind, *InstitutionKind)}
VALUES_JA: dict[str, Mapping[str, str]] = {
    "capability": {c.code: c.label_ja for c in CAPABILITIES},
    "kind": KINDS_JA,
    "reason": REASONS_JA,
    "scope": SCOPES_JA,
    "mode": {m.value: m.label_ja for m in Mode},
    "種類": DEFECTS_JA,  # the defect list of ``seed_table`` (Japanese headings, code values)
    "列": KINDS_JA,  # …whose 列 names a facility kind where a kind's column is missing
}
TRUE_JA = "○"  # a flag that holds; one that does not is left blank


def heading(column: object, table: str | None = None) -> object:
    """The Japanese heading of a column code (non-ASCII and non-text labels are kept)."""
    if not isinstance(column, str) or not column.isascii():
        return column
    own = TABLE_HEADINGS.get(table or "", {})
    if column in own:
        return own[column]
    if column not in HEADINGS:
        raise ValueError(f"列「{column}」の日本語の見出しがありません (matcher.gaps.ja.HEADINGS)")
    return HEADINGS[column]


def in_japanese(df: pd.DataFrame, table: str | None = None) -> pd.DataFrame:
    """``df`` for people: Japanese headings (``HEADINGS``, ``TABLE_HEADINGS[table]``), codes
    shown as their labels (requirements, kinds, reasons, scopes, modes), flags as ○ or blank;
    ids and municipality codes stay as they are (they join with the registries)."""
    out = df.drop(columns=[c for c in OMIT if c in df.columns])
    out = out.assign(
        **{
            str(c): _values(out[c], str(c))
            for c in out.columns
            if isinstance(c, str) and (c in VALUES_JA or pd.api.types.is_bool_dtype(out[c]))
        }
    )
    out.columns = _index(out.columns, table)
    out.index = _index(out.index, table, values=False)
    return out


def series_in_japanese(s: pd.Series, table: str | None = None) -> pd.Series:
    """A series for people: its name and its index's name in Japanese (as ``in_japanese``)."""
    return s.rename(heading(s.name, table)).rename_axis(_index(s.index, table, values=False).names)


def _values(col: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(col):
        return col.map(lambda v: TRUE_JA if v else "")
    labels = VALUES_JA[name]
    return col.map(lambda v: labels.get(v, v) if isinstance(v, str) else v)


def _index(index: pd.Index, table: str | None, values: bool = True) -> pd.Index:
    """The index with Japanese names and, for a columns index (``values``), headings."""
    if isinstance(index, pd.MultiIndex):
        if values:
            index = index.set_levels([[heading(v, table) for v in lv] for lv in index.levels])
        return index.set_names([heading(n, table) for n in index.names])
    names = heading(index.name, table)
    if values:
        return pd.Index([heading(v, table) for v in index], name=names)
    return index.rename(names)


def objective_series(objective: Objective) -> pd.Series:
    """The five objective values of a proposal, one row each under its Japanese name."""
    values = {level.label_ja: getattr(objective, level.key) for level in Level}
    values[Level.DISTANCE.label_ja] = round(objective.distance_km, 1)
    return pd.Series(values, name="値", dtype=object).rename_axis("目的(優先順)")


# --- sentences ---------------------------------------------------------------------------------


def access_reading(access: pd.DataFrame) -> str:
    """What the 2SFCA values of ``access`` (``matcher.gaps.access.accessibility``) say, per
    requirement: their range and median, how many facilities fall below 1 — and one reading
    chosen by the median (below 1 short, about 1 balanced, above it a multiple of demand)."""
    if access.empty:
        return "2SFCA: 要件が不足している施設がありません。"
    lines = []
    for cap in CAPABILITIES:
        a = access.loc[access["capability"] == cap.code, "access"].to_numpy(float)
        if not len(a):
            continue
        med, low = float(np.median(a)), int((a < 1).sum())
        if med < 0.8:
            reading = "多くの施設で周辺の受入枠が需要に足りません"
        elif med <= 1.25:
            reading = "周辺の受入枠と需要がほぼ釣り合っています"
        else:
            reading = f"周辺の受入枠は中央値で需要の約 {med:.0f} 倍あります"
        lines.append(
            f"{cap.label_ja}: {a.min():.1f}〜{a.max():.1f}(中央値 {med:.1f}、{len(a)}施設)。"
            f"1 未満は{low}施設。{reading}。"
        )
    return "\n".join(lines)


WhatIfKind = Literal["capacity", "sites"]
WHATIF_TABLES: dict[str, WhatIfKind] = {"whatif_capacity": "capacity", "whatif_sites": "sites"}
_LEVEL_TEXT = (
    ("gain_mandatory_full", "義務施設", "施設"),
    ("gain_effort_full", "努力義務施設", "施設"),
    ("gain_pairs_covered", "要件", "件"),
    ("change_partnerships", "新たな連携", "件"),
    ("change_distance_km", "総距離", "km"),
)


def change_text(row: Mapping[str, object]) -> str:
    """One what-if row's changes in words (the levels that change, in ranking order)."""
    parts = []
    for column, what, unit in _LEVEL_TEXT:
        value = row.get(column)
        if not isinstance(value, (int, float, np.integer, np.floating)) or not value:
            continue  # not computed (NaN is truthy but fails the next test) or no change
        if np.isnan(value):
            continue
        number = f"{float(value):+.1f}" if unit == "km" else f"{int(value):+d}"
        parts.append(f"{what} {number}{unit}")
    return "、".join(parts) or "変化なし"


def whatif_lines(
    table: pd.DataFrame,
    kind: WhatIfKind,
    top: int = 5,
    open_after: int | None = None,
    extra: int = 1,
) -> list[str]:
    """The what-if in a few lines: how many candidates change the optimal proposal, the best
    ``top`` with what they change — or, when none does, that nothing changes. ``open_after``
    (facilities the optimal proposal leaves short) explains a what-if without coverage gains;
    ``extra``: the units of capacity added (``capacity_whatif``)."""
    what = f"受入枠を {extra} 増やす医療機関" if kind == "capacity" else "新設の場所"
    gain = changed(table)
    covers = (table[["gain_mandatory_full", "gain_effort_full"]] != 0).any(axis=1)
    objective = "change_distance_km" in table.columns
    better = "提案が良くなる" if objective else "全要件を満たす施設が増減する"
    lines = [f"{what}: {len(table)} 件のうち、{better}のは {int(gain.sum())} 件"]
    why = ""
    if open_after == 0:
        why = "(要件が不足している施設は、いまの提案ですべて全要件を満たします)"
    elif open_after:
        why = f"(提案後も全要件を満たさない {open_after} 施設は、どの候補でも満たされません)"
    if not gain.any():
        if objective:
            lines.append(
                f"  どの候補も提案を変えません: 全要件を満たす施設の数も、連携の数も総距離も"
                f"変わりません{why}。"
            )
        else:
            lines.append(
                f"  どの候補でも全要件を満たす施設の数は変わりません{why}。"
                "連携の数と総距離は比べていません。"
            )
        return lines
    if not covers.any():
        lines.append(
            f"  全要件を満たす施設が増える候補はありません{why}。"
            "順位は、満たされる要件の多さ、新たな連携の少なさ、総距離の短さの順です。"
        )
    for row in table[gain].head(top).to_dict("records"):
        lines.append(f"  {row['rank']}. {row['name']}: {change_text(row)}")
    return lines


def stats_line(stats: WhatIfStats) -> str:
    """How much work the what-if took, in one line."""
    return (
        f"what-if: {stats.candidates} 件を評価 (再計算 {stats.resolved}、証明 {stats.witnessed}、"
        f"省略 {sum(stats.skipped.values())}) {stats.seconds:.1f} 秒"
    )
