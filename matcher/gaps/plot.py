"""Maps and charts of the gap analysis (matplotlib, imported only when a figure is drawn).

Japanese labels need a Japanese font (Debian ``fonts-noto-cjk``, IPAex …); without one the
figures fall back to codes and English labels rather than drawing empty boxes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .region import Region

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

JAPANESE_FONTS = ("Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAGothic", "IPAPGothic",
                  "TakaoGothic", "VL Gothic", "Noto Serif CJK JP", "Hiragino Sans", "Yu Gothic",
                  "Meiryo", "MS Gothic")


def japanese_font() -> str | None:
    """Use the first installed Japanese font for every later figure; its name, or ``None``."""
    import matplotlib
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in JAPANESE_FONTS:
        if name in installed:
            matplotlib.rcParams["font.family"] = [name, "sans-serif"]
            return name
    return None


def _label(ja: str, en: str, font: str | None) -> str:
    return ja if font else en


def region_map(region: Region, full: np.ndarray | None = None, uncoverable_ids: set[str] = frozenset(),
               ax: "Axes | None" = None, title: str | None = None) -> "Figure":
    """Facilities (by outcome) and institutions (by kind, sized by capacity) on lon/lat axes.

    ``full``: bool per facility, fully covered after a proposal; ``uncoverable_ids``: facilities
    with some capability no institution offers in range.
    """
    import matplotlib.pyplot as plt

    font = japanese_font()
    p = region.problem
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 7))
    demand = p.missing > 0
    ok = ~demand
    done = demand & (full if full is not None else np.zeros(p.n_fac, bool))
    lost = np.array([fid in uncoverable_ids for fid in region.facility_ids], bool) & demand
    still = demand & ~done & ~lost
    aspect = 1 / np.cos(np.radians(np.nanmean(p.fac_lat) if p.n_fac else 35.0))
    ax.set_aspect(aspect)
    for mask, color, marker, ja, en in (
        (ok, "#bbbbbb", "o", "要件充足済み", "already compliant"),
        (done, "#2c7fb8", "o", "提案で充足", "covered by proposal"),
        (still, "#fdae61", "o", "未充足(受入枠)", "open (capacity)"),
        (lost, "#d7191c", "X", "範囲内に候補なし", "no candidate in range"),
    ):
        if mask.any():
            ax.scatter(p.fac_lon[mask], p.fac_lat[mask], s=14, c=color, marker=marker,
                       label=f"{_label(ja, en, font)} ({int(mask.sum())})", zorder=3)
    cap = np.where(p.capacity < 0, 8, p.capacity).astype(float)
    hosp = np.array([i.kind == "hospital" for i in region.instance.institutions], bool)
    for mask, color, ja, en in ((hosp, "#1a9641", "病院", "hospital"),
                                (~hosp & (p.offers > 0), "#a6d96a", "診療所", "clinic")):
        if mask.any():
            ax.scatter(p.inst_lon[mask], p.inst_lat[mask], s=10 + 6 * cap[mask], c="none",
                       edgecolors=color, marker="s", linewidths=0.8,
                       label=f"{_label(ja, en, font)} ({int(mask.sum())})", zorder=2)
    ax.set_xlabel(_label("経度", "longitude", font))
    ax.set_ylabel(_label("緯度", "latitude", font))
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    if title:
        ax.set_title(title if font else "")
    return ax.figure


def prefecture_choropleth(values: pd.Series, ax: "Axes | None" = None, title: str = "",
                          flagged: pd.Series | None = None, vmax: float = 100.0) -> "Figure":
    """A choropleth of Japan by prefecture (``japanmap``), or a bar chart if it is not installed.

    ``values`` is indexed by prefecture name; NaN (no data) is drawn grey; ``flagged`` (bool by
    prefecture) marks values taken from a defective cell — hatched in the bar chart, outlined in
    the map's legend list.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    font = japanese_font()
    cmap = colormaps["viridis"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    flagged = flagged if flagged is not None else pd.Series(False, index=values.index)
    try:
        import japanmap
    except ImportError:
        japanmap = None
    if japanmap is not None:
        colors = {}
        for pref in japanmap.pref_names[1:]:
            v = values.get(pref, np.nan)
            rgb = (0.85, 0.85, 0.85) if pd.isna(v) else cmap(min(float(v), vmax) / vmax)[:3]
            colors[pref] = tuple(int(255 * c) for c in rgb)
        ax.imshow(japanmap.picture(colors))
        ax.set_axis_off()
        bad = [p for p in values.index if bool(flagged.get(p, False))]
        if bad:
            shown = "、".join(bad[:5]) + (f" ほか{len(bad) - 5}" if len(bad) > 5 else "")
            ax.text(0.0, -0.02, f"データ不備 {len(bad)}: {shown}" if font else f"defective: {len(bad)}",
                    transform=ax.transAxes, fontsize=7, va="top")
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, vmax))
        ax.figure.colorbar(sm, ax=ax, shrink=0.6, label="%")
    else:
        names = list(values.index)
        v = values.to_numpy(float)
        bars = ax.barh(np.arange(len(v)), np.nan_to_num(np.minimum(v, vmax * 1.6)),
                       color=[cmap(min(x, vmax) / vmax) if not np.isnan(x) else "#dddddd" for x in v])
        for bar, name in zip(bars, names):
            if bool(flagged.get(name, False)):
                bar.set_hatch("///")
                bar.set_edgecolor("red")
        ax.set_yticks(np.arange(len(v)), names if font else [str(k + 1) for k in range(len(v))],
                      fontsize=6)
        ax.invert_yaxis()
        ax.axvline(100, color="grey", lw=0.5)
        ax.set_xlabel("%")
    if title:
        ax.set_title(title if font else "")
    return ax.figure
