"""The status-by-kind chart (before/after) drawn with matplotlib in the Japanese font.

The font comes from :mod:`matcher.fonts` (registered by file). Without any Japanese font the
chart falls back to kind codes and ASCII labels, so it never shows tofu boxes. The legend is a
figure legend below the axes, inside the figure (``constrained`` layout makes room for it).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from .. import fonts
from ..model import FACILITY_KINDS
from .tables import STATUS_COLORS, STATUS_ORDER, STATUS_SHORT_JA, ReportData

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_STATUS_ASCII = {
    "all": "1 all",
    "partial": "2 partial",
    "none": "3 none",
    "no_partner": "no partner",
    "unknown": "4 unknown",
}


def japanese_font() -> str | None:
    """Path of the registered Japanese font file, or ``None`` (see :mod:`matcher.fonts`)."""
    font = fonts.japanese_font()
    return font.path if font else None


def status_figure(data: ReportData) -> Figure:
    """Horizontal stacked bars per facility kind: before and after the proposal, by status."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import Patch

    font = japanese_font()
    prop = FontProperties(fname=font) if font else FontProperties()
    kinds = [k for k in FACILITY_KINDS if any(f.kind == k for f in data.instance.facilities)]
    counts = {(k, when, s): 0 for k in kinds for when in ("before", "after") for s in STATUS_ORDER}
    for f in data.instance.facilities:
        o = data.outcome[f.facility_id]
        counts[(f.kind, "before", o.status_before)] += 1
        counts[(f.kind, "after", o.status_after)] += 1

    fig = Figure(figsize=(8, 1.5 + 0.62 * max(len(kinds), 1)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels, ys = [], []
    y = 0.0
    for k in kinds:
        name = FACILITY_KINDS[k].label_ja if font else k
        for when, tag in (
            ("before", "現在" if font else "now"),
            ("after", "提案後" if font else "after"),
        ):
            left = 0
            for s in STATUS_ORDER:
                n = counts[(k, when, s)]
                if n:
                    ax.barh(y, n, left=left, color=STATUS_COLORS[s], height=0.8, ec="white", lw=0.5)
                left += n
            labels.append(f"{name} {tag}")
            ys.append(y)
            y += 1
        y += 0.5
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontproperties=prop, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("施設数" if font else "facilities", fontproperties=prop)
    ax.set_title(
        "施設種別ごとの状況(現在と提案後)" if font else "Status by kind (now / after)",
        fontproperties=FontProperties(fname=font, size=11) if font else None,
    )
    handles = [
        Patch(color=STATUS_COLORS[s], label=STATUS_SHORT_JA[s] if font else _STATUS_ASCII[s.value])
        for s in STATUS_ORDER
    ]
    fig.legend(
        handles=handles,
        prop=FontProperties(fname=font, size=7.5) if font else {"size": 7.5},
        loc="outside lower center",
        ncols=3,
        frameon=False,
    )
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def status_chart_png(data: ReportData, dpi: int = 150) -> bytes:
    """The chart of :func:`status_figure` as PNG bytes."""
    buf = io.BytesIO()
    status_figure(data).savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
