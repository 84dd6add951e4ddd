"""The status-by-kind chart (before/after) drawn with matplotlib in a Japanese font.

The font is looked up once: known paths of Debian's fonts-noto-cjk and fonts-ipafont, then
fontconfig (``fc-match``), then matplotlib's own font list. Without any Japanese font the chart
falls back to kind codes and ASCII labels, so it never shows tofu boxes.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from ..model import FACILITY_KINDS
from .tables import STATUS_COLORS, STATUS_ORDER, STATUS_SHORT_JA, ReportData

KNOWN_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/System/Library/Fonts/ヒラギノ角ゴシック W3.ttc",
    "C:/Windows/Fonts/meiryo.ttc",
)
_JA_SAMPLE = "介護老人福祉施設①②③"
_STATUS_ASCII = {
    "all": "1 all",
    "partial": "2 partial",
    "none": "3 none",
    "no_partner": "no partner",
    "unknown": "4 unknown",
}


def _covers_japanese(path: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    charmap = font.get_charmap()
    return all(ord(ch) in charmap for ch in _JA_SAMPLE)


def _fc_match() -> str | None:
    exe = shutil.which("fc-match")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "-f", "%{file}", "sans-serif:lang=ja"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


@lru_cache(maxsize=1)
def japanese_font() -> str | None:
    """Path of a font file that has Japanese glyphs (registered with matplotlib), or ``None``."""
    from matplotlib import font_manager

    candidates = [p for p in KNOWN_FONT_FILES if Path(p).is_file()]
    fc = _fc_match()
    if fc:
        candidates.append(fc)
    for path in candidates:
        if _covers_japanese(path):
            font_manager.fontManager.addfont(path)
            return path
    for path in font_manager.findSystemFonts():
        name = Path(path).name.lower()
        if any(
            k in name for k in ("cjk", "ipa", "gothic", "jp", "meiryo", "hiragino")
        ) and _covers_japanese(path):
            font_manager.fontManager.addfont(path)
            return path
    return None


def status_chart_png(data: ReportData, dpi: int = 150) -> bytes:
    """Horizontal stacked bars per facility kind: before and after the proposal, by status."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    font = japanese_font()
    prop = FontProperties(fname=font) if font else None
    kinds = [k for k in FACILITY_KINDS if any(f.kind == k for f in data.instance.facilities)]
    counts = {(k, when, s): 0 for k in kinds for when in ("before", "after") for s in STATUS_ORDER}
    for f in data.instance.facilities:
        o = data.outcome[f.facility_id]
        counts[(f.kind, "before", o.status_before)] += 1
        counts[(f.kind, "after", o.status_after)] += 1

    fig = Figure(figsize=(8, 0.9 + 0.62 * max(len(kinds), 1)), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels, ys = [], []
    y = 0.0
    for k in kinds:
        name = FACILITY_KINDS[k].label_ja if font else k
        for when, tag in (
            ("before", "改定前" if font else "before"),
            ("after", "提案後" if font else "after"),
        ):
            left = 0
            for s in STATUS_ORDER:
                n = counts[(k, when, s)]
                if n:
                    ax.barh(
                        y,
                        n,
                        left=left,
                        color=STATUS_COLORS[s],
                        height=0.8,
                        edgecolor="white",
                        linewidth=0.5,
                    )
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
        "施設種別ごとの状況(改定前と提案後)" if font else "Status by kind (before / after)",
        fontproperties=prop,
        fontsize=11,
    )
    from matplotlib.patches import Patch

    handles = [
        Patch(color=STATUS_COLORS[s], label=STATUS_SHORT_JA[s] if font else _STATUS_ASCII[s.value])
        for s in STATUS_ORDER
    ]
    ax.legend(
        handles=handles,
        prop=FontProperties(fname=font, size=8) if font else {"size": 8},
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12 - 0.3 / max(len(kinds), 1)),
        ncol=5,
        frameon=False,
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
