"""The national picture: the notices' per-prefecture status table (別紙1) and its defects.

Works on the tidy table ``data/reference/status_r7.csv`` (columns ``prefecture, group,
kind_label, kind, share_all, share_partial, share_none, share_not_tabulated``; percentages)
and its defect list, as written by ``matcher.sources.seed_table``. Nothing here repairs the
table: defects are carried along as flags so that charts can show them.
"""

from __future__ import annotations

import pandas as pd

from ..reference import prefectures
from ..vocab import SEED_CATEGORIES

# The table's four categories (columns ①–④) and their labels: the vocabulary's.
SHARES = tuple(c.share for c in SEED_CATEGORIES)
SHARE_LABELS_JA = {c.share: c.label_ja for c in SEED_CATEGORIES}


def column_key(row: pd.Series) -> str:
    """A column of the table as printed: group letter and label (``D.軽費老人ホーム``)."""
    return f"{row['group']}.{row['kind_label']}"


def flag_defects(shares: pd.DataFrame, tolerance: float = 1.0) -> pd.DataFrame:
    """The table with flags per row: ``sum`` of ①–④, ``sum_off`` (beyond ``tolerance`` points of
    100), ``over_100`` (a cell above 100 %), ``ambiguous_label`` (the group label repeats another
    group's, so the column's kind is uncertain), ``defect`` (any of them)."""
    df = shares.copy()
    for col in SHARES:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["column"] = df.apply(column_key, axis=1)
    df["sum"] = df[list(SHARES)].sum(axis=1, min_count=1)
    df["sum_off"] = (df["sum"] - 100).abs() > tolerance
    df["over_100"] = (df[list(SHARES)] > 100).any(axis=1)
    labels = df.drop_duplicates("group").groupby("kind_label")["group"].nunique()
    df["ambiguous_label"] = df["kind_label"].map(labels).fillna(1) > 1
    df["defect"] = df["sum_off"] | df["over_100"] | df["ambiguous_label"]
    return df


def missing_prefectures(shares: pd.DataFrame) -> list[str]:
    """Prefectures of Japan that have no row in the table."""
    have = set(shares["prefecture"])
    return [p for p in prefectures() if p not in have]


def defect_summary(flagged: pd.DataFrame) -> pd.DataFrame:
    """Per table column: prefectures with a defect of each type, out of the rows present."""
    g = flagged.groupby("column", sort=True)
    return pd.DataFrame(
        {
            "rows": g.size(),
            "sum_off": g["sum_off"].sum(),
            "over_100": g["over_100"].sum(),
            "ambiguous_label": g["ambiguous_label"].max(),
            "median_sum": g["sum"].median(),
        }
    ).reset_index()


def national_share(
    flagged: pd.DataFrame, share: str = "share_all", clean_only: bool = True
) -> pd.Series:
    """Unweighted mean over prefectures per column (the table has no facility counts), over the
    rows without a defect when ``clean_only``."""
    df = flagged[~flagged["defect"]] if clean_only else flagged
    return df.groupby("column")[share].mean()


def map_cells(flagged: pd.DataFrame, share: str = "share_all") -> pd.DataFrame:
    """What a map of one share draws: one row per table column × prefecture (all 47, code order).

    Columns: ``column``, ``prefecture``, ``kind``, ``value`` (the share, NaN without a value),
    ``missing`` (the prefecture has no row in the table at all), ``cell_over_100`` (this cell
    is above 100 %) and, from :func:`flag_defects`, ``sum``, ``sum_off``, ``over_100`` and
    ``ambiguous_label`` (False where there is no row).
    """
    if share not in SHARES:
        raise ValueError(f"不明な区分「{share}」(使えるのは {', '.join(SHARES)})")
    flags = ["sum_off", "over_100", "ambiguous_label"]
    # A repeated prefecture is a defect of its own (seed_table); draw its first row.
    first = flagged.groupby(["column", "prefecture"], sort=False)[
        [share, "kind", "sum", *flags]
    ].first()
    grid = pd.MultiIndex.from_product(
        [sorted(flagged["column"].unique()), prefectures()], names=["column", "prefecture"]
    )
    out = first.reindex(grid).rename(columns={share: "value"}).reset_index()
    out["kind"] = out.groupby("column")["kind"].transform("first")
    out["ambiguous_label"] = out.groupby("column")["ambiguous_label"].transform("max")
    for flag in ("sum_off", "over_100"):
        out[flag] = out[flag].astype("boolean").fillna(False).astype(bool)
    out["ambiguous_label"] = out["ambiguous_label"].astype("boolean").fillna(False).astype(bool)
    out["missing"] = out["prefecture"].isin(missing_prefectures(flagged))
    out["cell_over_100"] = out["value"].gt(100)
    return out[
        [
            "column",
            "prefecture",
            "kind",
            "value",
            "missing",
            "cell_over_100",
            "sum",
            "sum_off",
            "over_100",
            "ambiguous_label",
        ]
    ]
