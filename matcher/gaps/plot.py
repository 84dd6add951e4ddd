"""Maps and charts of the gap analysis (matplotlib, imported only when a figure is drawn).

Japanese labels need a Japanese font, found and registered by file in :mod:`matcher.fonts`
(the same one the reports and notebooks use); without one the figures fall back to codes and
English labels rather than drawing empty boxes. The maps draw the prefecture outlines bundled
in :mod:`matcher.gaps.shapes` (no network).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..vocab import InstitutionKind
from .region import Region

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap, Normalize
    from matplotlib.figure import Figure


def japanese_font() -> str | None:
    """Make the Japanese font (registered by file, :mod:`matcher.fonts`) matplotlib's default
    family; its family name, or ``None`` when no Japanese font is installed."""
    from .. import fonts

    font = fonts.use_japanese_font()
    return font.family if font else None


def _label(ja: str, en: str, font: str | None) -> str:
    return ja if font else en


def region_map(
    region: Region,
    full: np.ndarray | None = None,
    uncoverable_ids: set[str] | frozenset[str] = frozenset(),
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Facilities (by outcome) and institutions (by kind, sized by capacity) over the bundled
    prefecture outline, with the municipality names at their offices; the legend sits below
    the map, inside the figure.

    ``full``: bool per facility, fully covered after a proposal; ``uncoverable_ids``: facilities
    with some capability no institution offers in range.
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from matplotlib.patches import Polygon

    from ..reference import municipalities
    from .shapes import load_outlines

    font = japanese_font()
    p = region.problem
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 7.5), layout="constrained")
    demand = p.missing > 0
    ok = ~demand
    done = demand & (full if full is not None else np.zeros(p.n_fac, bool))
    lost = np.array([fid in uncoverable_ids for fid in region.facility_ids], bool) & demand
    still = demand & ~done & ~lost
    lat0 = float(np.nanmean(p.fac_lat)) if p.n_fac else 35.0
    ax.set_aspect(1 / np.cos(np.radians(lat0)))
    codes = set(region.fac_municipality) | set(region.inst_municipality)
    munis = [m for m in municipalities() if m.code5 in codes]
    try:
        outlines = load_outlines()
    except (FileNotFoundError, ValueError):
        outlines = {}
    for pref in sorted({m.prefecture for m in munis}):
        if pref in outlines:
            ax.add_patch(
                Polygon(outlines[pref], closed=True, fc="#f7f7f7", ec="#888888", lw=0.6, zorder=0)
            )
    for mask, color, marker, ja, en in (
        (ok, "#bbbbbb", "o", "要件を満たしている", "already compliant"),
        (done, "#2c7fb8", "o", "提案で全要件を満たす", "covered by proposal"),
        (still, "#fdae61", "o", "提案後も不足(受入枠など)", "open (capacity)"),
        (lost, "#d7191c", "X", "範囲内に候補なし", "no candidate in range"),
    ):
        if mask.any():
            ax.scatter(
                p.fac_lon[mask],
                p.fac_lat[mask],
                s=14,
                c=color,
                marker=marker,
                label=f"{_label('施設: ' + ja, en, font)} ({int(mask.sum())})",
                zorder=3,
            )
    # Undeclared capacity is unlimited (matcher.gaps.access); drawn at the largest size.
    cap = np.where(p.capacity < 0, 8, np.minimum(p.capacity, 8)).astype(float)
    hosp = np.array(
        [i.kind == InstitutionKind.HOSPITAL for i in region.instance.institutions], bool
    )
    for mask, color, kind in (
        (hosp, "#1a9641", InstitutionKind.HOSPITAL),
        (~hosp & (p.offers > 0), "#a6d96a", InstitutionKind.CLINIC),
    ):
        ja, en = kind.label_ja, kind.value
        if mask.any():
            ax.scatter(
                p.inst_lon[mask],
                p.inst_lat[mask],
                s=10 + 6 * cap[mask],
                c="none",
                edgecolors=color,
                marker="s",
                linewidths=0.8,
                label=f"{_label(ja + '(大きさ = 受入枠)', en, font)} ({int(mask.sum())})",
                zorder=2,
            )
    if font:
        for m in munis:
            ax.annotate(m.name, (m.lon, m.lat), fontsize=6, color="#444444", ha="center", zorder=4)
    ax.set_xlim(np.nanmin(p.fac_lon) - 0.05, np.nanmax(p.fac_lon) + 0.05)
    ax.set_ylim(np.nanmin(p.fac_lat) - 0.05, np.nanmax(p.fac_lat) + 0.05)
    ax.set_xlabel(_label("経度", "longitude", font))
    ax.set_ylabel(_label("緯度", "latitude", font))
    ax.figure.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    if title:
        ax.set_title(title if font else "")
    fig = ax.figure
    assert isinstance(fig, Figure)  # the axes of a whole figure (ours or the caller's)
    return fig


# The panels of a what-if chart, in ranking order: (columns, heading, English heading, colours).
# Bars are the changes themselves; a panel is drawn only when some charted candidate changes it.
WHATIF_PANELS: tuple[tuple[tuple[str, ...], str, str, tuple[str, ...]], ...] = (
    (
        ("gain_mandatory_full", "gain_effort_full"),
        "全要件を満たす施設の増減",
        "fully covered facilities",
        ("#d7191c", "#fdae61"),
    ),
    (("gain_pairs_covered",), "満たされる要件の増減", "pairs covered", ("#2c7fb8",)),
    (
        ("change_partnerships",),
        "新たな連携の増減(少ないほど良い)",
        "new partnerships (fewer is better)",
        ("#7b3294",),
    ),
    (
        ("change_distance_km",),
        "総距離の増減 km(短いほど良い)",
        "total km (less is better)",
        ("#1a9641",),
    ),
)
_WHATIF_SERIES = {
    "gain_mandatory_full": ("義務施設", "mandatory"),
    "gain_effort_full": ("努力義務施設", "effort"),
}


def whatif_chart(table: pd.DataFrame, top: int = 15, title: str | None = None) -> Figure | None:
    """The best ``top`` candidates of a what-if table (``capacity_whatif`` / ``site_whatif``)
    that change the optimal proposal, one row each in rank order, with a panel per level that
    changes (fully covered 義務 and 努力義務 side by side, then pairs, partnerships, km).

    Candidates that change nothing are never drawn; ``None`` when no candidate changes anything
    (say so instead of drawing an empty chart). Each panel axes has gid ``whatif:<column>``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from .whatif import changed

    font = japanese_font()
    shown = table[changed(table)].head(top)
    if shown.empty:
        return None
    panels = [
        panel
        for panel in WHATIF_PANELS
        if all(c in shown.columns for c in panel[0]) and (shown[list(panel[0])] != 0).any().any()
    ]
    key = "institution_id" if "institution_id" in shown.columns else "municipality_code"
    names = shown["name"] if font else shown[key]
    labels = [f"{r}. {n}" for r, n in zip(shown["rank"], names, strict=True)]
    y = np.arange(len(shown))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(2.2 + 3.0 * len(panels), 1.4 + 0.32 * len(shown)),
        sharey=True,
        layout="constrained",
        squeeze=False,
    )
    for ax, (columns, ja, en, colors) in zip(axes[0], panels, strict=True):
        ax.set_gid(f"whatif:{columns[0]}")
        width = 0.8 / len(columns)
        for k, (column, color) in enumerate(zip(columns, colors, strict=True)):
            values = shown[column].to_numpy(float)
            offset = (k - (len(columns) - 1) / 2) * width
            series = _WHATIF_SERIES.get(column)
            bars = ax.barh(
                y + offset,
                values,
                height=width,
                color=color,
                label=_label(*series, font) if series else None,
            )
            ax.bar_label(
                bars,
                labels=[_signed(v, column) if v else "" for v in values],
                padding=2,
                fontsize=7,
            )
        ax.axvline(0, color="#555555", lw=0.6)
        ax.margins(x=0.25)
        if columns[0] != "change_distance_km":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(_label(ja, en, font), fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    axes[0, 0].set_yticks(y, labels, fontsize=8)
    axes[0, 0].invert_yaxis()
    if title:
        fig.suptitle(title if font else "what-if", fontsize=10)
    note = _label(
        "順位: 全要件を満たす義務施設 → 努力義務施設 → 満たされる要件の多い順、"
        "同じなら新たな連携 → 総距離の少ない順",
        "rank: mandatory, effort, pairs (more first), then partnerships, km (fewer first)",
        font,
    )
    if any(len(p[0]) > 1 for p in panels):  # the note goes with the legend, under the panels
        fig.legend(
            *axes[0, 0].get_legend_handles_labels(),
            loc="outside lower center",
            ncols=2,
            fontsize=8,
            frameon=False,
            title=note,
            title_fontsize=7,
        )
    else:
        fig.supxlabel(note, fontsize=7)
    return fig


def _signed(value: float, column: str) -> str:
    return f"{value:+.1f}" if column == "change_distance_km" else f"{int(value):+d}"


# Okinawa's main island is drawn moved into the Sea of Japan, framed, as maps of Japan do.
OKINAWA_SHIFT = (5.5, 12.5)
MISSING_HATCH = "////"
# The markers of a group whose ①–④ do not add up to 100 % and of a cell above 100 %, on the
# maps and in their legend.
_SUM_OFF_MARK: dict[str, Any] = {"marker": "o", "mfc": "white", "mec": "black"}
_OVER_100_MARK: dict[str, Any] = {"marker": "^", "ms": 7, "mfc": "#d7191c", "mec": "white"}


def _centroid(ring: np.ndarray) -> tuple[float, float]:
    x, y = ring[:, 0], ring[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    if abs(area) < 1e-12:
        return float(x.mean()), float(y.mean())
    return (
        float(((x + np.roll(x, -1)) * cross).sum() / (6 * area)),
        float(((y + np.roll(y, -1)) * cross).sum() / (6 * area)),
    )


def _status(cell: pd.Series) -> str:
    """What is wrong with one drawn cell, comma-separated (``ok`` if nothing)."""
    if cell["missing"]:
        return "missing"
    found = [flag for flag in ("over_100", "sum_off") if cell[flag]]
    if pd.isna(cell["value"]):
        found.insert(0, "no_value")
    return ",".join(found) or "ok"


def national_maps(
    flagged: pd.DataFrame,
    share: str = "share_all",
    ncols: int = 3,
    vmax: float = 100.0,
    outlines: dict[str, np.ndarray] | None = None,
) -> Figure:
    """Small multiples: a choropleth of Japan by prefecture for each column of the status table.

    ``flagged`` is :func:`matcher.gaps.national.flag_defects`' table; the cells drawn and their
    defects are :func:`matcher.gaps.national.map_cells`. Prefectures with no row in the table
    (岡山県) are hatched and named; a group whose ①–④ are not 100 % gets a dot, one with a cell
    above 100 % a red triangle (and the value when it is the drawn cell); a column whose heading
    repeats another's says so in its title. Colours are clipped at ``vmax``.

    Each map axes has gid ``map:<column>``; each prefecture patch gid ``pref:<name>`` and as
    label its status (``ok``, ``missing``, ``no_value``, ``over_100``, ``sum_off``, joined by
    commas); each missing prefecture's label gid ``missing:<name>``. ``outlines`` defaults to
    the bundled ones (:func:`matcher.gaps.shapes.load_outlines`); without them the same grid
    is drawn as bar charts.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from . import national
    from .shapes import load_outlines

    cells = national.map_cells(flagged, share)
    font = japanese_font()
    if outlines is None:
        try:
            outlines = load_outlines()
        except (FileNotFoundError, ModuleNotFoundError):
            outlines = {}
    columns = list(dict.fromkeys(cells["column"]))
    nrows = max(1, -(-len(columns) // ncols))
    cmap, norm = colormaps["viridis"], Normalize(0, vmax)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5.4 * ncols, 5.6 * nrows), layout="constrained", squeeze=False
    )
    codes = {name: k + 1 for k, name in enumerate(dict.fromkeys(cells["prefecture"]))}
    for ax, column in zip(axes.flat, columns, strict=False):
        ax.set_gid(f"map:{column}")
        part = cells[cells["column"] == column].reset_index(drop=True)
        if outlines:
            _draw_map(ax, part, outlines, cmap, norm, vmax, font, codes)
        else:
            _draw_bars(ax, part, cmap, norm, vmax, font, codes)
        group, kind = column.split(".", 1)[0], part["kind"].iloc[0]
        title = column if font else f"{group} ({kind})"
        if part["ambiguous_label"].any():
            title += " ※見出しが他の列と同じ" if font else " * heading repeats another column's"
        ax.set_title(title, fontsize=10)
        present = part[~part["missing"]]
        note = (
            f"①〜④≠100%: {int(present['sum_off'].sum())}/{len(present)}  "
            f"100%超: {int(present['over_100'].sum())}"
            if font
            else f"sum != 100%: {int(present['sum_off'].sum())}/{len(present)}  "
            f"> 100%: {int(present['over_100'].sum())}"
        )
        ax.text(0.0, 0.0, note, transform=ax.transAxes, fontsize=7, va="bottom")
    for ax in axes.flat[len(columns) :]:
        ax.set_axis_off()
    label = national.SHARE_LABELS_JA[share] if font else share
    fig.suptitle(f"{label} (%)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
    fig.colorbar(sm, ax=axes, shrink=0.4, label="%", extend="max")
    handles = [
        Patch(
            facecolor="white",
            edgecolor="#666666",
            hatch=MISSING_HATCH,
            label="表に行がない" if font else "no row in the table",
        ),
        Patch(facecolor="#dddddd", edgecolor="#666666", label="値なし" if font else "no value"),
        Line2D(
            [],
            [],
            ls="",
            **_SUM_OFF_MARK,
            ms=4,
            label="①〜④の合計が100%でない" if font else "shares do not add up to 100%",
        ),
        Line2D(
            [],
            [],
            ls="",
            **_OVER_100_MARK,
            label="100%を超える値がある" if font else "a share above 100%",
        ),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    return fig


def _draw_map(
    ax: Axes,
    part: pd.DataFrame,
    outlines: dict[str, np.ndarray],
    cmap: Colormap,
    norm: Normalize,
    vmax: float,
    font: str | None,
    codes: dict[str, int],
) -> None:
    """One column's choropleth on ``ax``; see :func:`national_maps` for what is marked."""
    from matplotlib.patches import Polygon, Rectangle

    shift = np.array(OKINAWA_SHIFT)
    missing_at = 0
    for cell in part.to_dict("records"):
        pref = cell["prefecture"]
        ring = outlines.get(pref)
        if ring is None:
            continue
        if pref == "沖縄県":
            ring = ring + shift
            lo, hi = ring.min(axis=0) - 0.25, ring.max(axis=0) + 0.25
            ax.add_patch(Rectangle(lo, *(hi - lo), fill=False, ec="#999999", lw=0.5))
        status = _status(pd.Series(cell))
        if cell["missing"]:
            face, hatch = "white", MISSING_HATCH
        elif pd.isna(cell["value"]):
            face, hatch = "#dddddd", None
        else:
            face, hatch = cmap(norm(min(cell["value"], vmax))), None
        patch = Polygon(
            ring,
            closed=True,
            facecolor=face,
            edgecolor="#555555",
            lw=0.3,
            hatch=hatch,
            gid=f"pref:{pref}",
            label=status,
        )
        ax.add_patch(patch)
        x, y = _centroid(ring)
        if cell["missing"]:
            ax.annotate(
                f"{pref}: 表に行なし" if font else f"pref. {codes[pref]}: no row",
                xy=(x, y),
                xytext=(0.98, 0.10 + 0.07 * missing_at),
                textcoords="axes fraction",
                ha="right",
                fontsize=8,
                color="#b2182b",
                arrowprops={"arrowstyle": "-", "color": "#b2182b", "lw": 0.6},
                gid=f"missing:{pref}",
            )
            missing_at += 1
        if cell["sum_off"]:
            ax.plot(x, y, ls="", **_SUM_OFF_MARK, ms=3.2, mew=0.6, gid=f"sum_off:{pref}")
        if cell["over_100"]:
            ax.plot(x, y, ls="", **_OVER_100_MARK, mew=0.5, gid=f"over_100:{pref}")
            if cell["cell_over_100"]:
                ax.annotate(
                    f"{cell['value']:g}%",
                    xy=(x, y),
                    xytext=(6, 4),
                    textcoords="offset points",
                    fontsize=7,
                    color="#d7191c",
                )
    every = np.vstack(
        [outlines[p] + (shift if p == "沖縄県" else 0) for p in part["prefecture"] if p in outlines]
    )
    (x0, y0), (x1, y1) = every.min(axis=0), every.max(axis=0)
    ax.set_xlim(x0 - 0.3, x1 + 0.3)
    ax.set_ylim(y0 - 0.8, y1 + 0.3)
    ax.set_aspect(1 / np.cos(np.radians((y0 + y1) / 2)))
    ax.set_axis_off()


def _draw_bars(
    ax: Axes,
    part: pd.DataFrame,
    cmap: Colormap,
    norm: Normalize,
    vmax: float,
    font: str | None,
    codes: dict[str, int],
) -> None:
    """The map's fallback: one bar per prefecture, defects hatched/labelled the same way."""
    v = part["value"].to_numpy(float)
    bars = ax.barh(
        np.arange(len(v)),
        np.nan_to_num(np.minimum(v, vmax * 1.6)),
        color=[cmap(norm(min(x, vmax))) if not np.isnan(x) else "#dddddd" for x in v],
    )
    for k, (bar, cell) in enumerate(zip(bars, part.to_dict("records"), strict=True)):
        bar.set_gid(f"pref:{cell['prefecture']}")
        bar.set_label(_status(pd.Series(cell)))
        if cell["missing"]:
            ax.text(
                1,
                k,
                "表に行なし" if font else "no row",
                va="center",
                fontsize=6,
                color="#b2182b",
                gid=f"missing:{cell['prefecture']}",
            )
        elif cell["sum_off"] or cell["over_100"]:
            bar.set_hatch("///")
            bar.set_edgecolor("#d7191c" if cell["over_100"] else "black")
    names = list(part["prefecture"]) if font else [str(codes[p]) for p in part["prefecture"]]
    ax.set_yticks(np.arange(len(v)), names, fontsize=5)
    ax.invert_yaxis()
    ax.axvline(100, color="grey", lw=0.5)
    ax.set_xlabel("%")
