"""National maps: one choropleth per table column, the table's defects drawn, not hidden."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matcher.gaps import national
from matcher.gaps.shapes import build_outlines, load_outlines
from matcher.reference import prefectures
from matcher.sources.textfile import read_table

pytest.importorskip("matplotlib")
STATUS = Path(__file__).resolve().parents[2] / "data" / "reference" / "status_r7.csv"


@pytest.fixture(scope="module")
def flagged() -> pd.DataFrame:
    return national.flag_defects(read_table(STATUS))


@pytest.fixture(autouse=True)
def _agg(monkeypatch: pytest.MonkeyPatch):
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    yield
    plt.close("all")


def _maps(fig) -> list:
    return [ax for ax in fig.axes if (ax.get_gid() or "").startswith("map:")]


def _patches(ax) -> dict[str, object]:
    return {p.get_gid()[5:]: p for p in ax.patches if (p.get_gid() or "").startswith("pref:")}


def test_bundled_outlines_cover_every_prefecture() -> None:
    outlines = load_outlines()
    assert list(outlines) == list(prefectures())
    for name, ring in outlines.items():
        assert ring.ndim == 2 and ring.shape[1] == 2 and len(ring) >= 4, name
        assert 122 < ring[:, 0].min() and ring[:, 0].max() < 149, name
        assert 24 < ring[:, 1].min() and ring[:, 1].max() < 46, name


def test_build_outlines_keeps_shared_borders_identical() -> None:
    # Two squares sharing the border 1–2 (an arc with a wiggle the tolerance removes).
    points = [
        [[0, 0], 1],
        [[1, 0], 2],
        [[1.001, 0.5], 2],
        [[1, 1], 2],
        [[0, 1], 1],
        [[2, 0], 1],
        [[2, 1], 1],
    ]
    arcs = [[[2, [1, 2, 3]], [0, [3, 4, 0, 1]]], [[1, [3, 2, 1]], [0, [1, 5, 6, 3]]]]
    rings = build_outlines(points, arcs, ("west", "east"), tolerance=0.01)["prefectures"]
    assert [1.001, 0.5] not in rings["west"] and [1.001, 0.5] not in rings["east"]
    assert rings["west"] == [[1, 0], [1, 1], [0, 1], [0, 0]]
    assert rings["east"] == [[1, 1], [1, 0], [2, 0], [2, 1]]
    with pytest.raises(ValueError, match="2 prefectures in the outline data, 1 names"):
        build_outlines(points, arcs, ("west",))


def test_map_cells_reuse_the_table_flags(flagged: pd.DataFrame) -> None:
    cells = national.map_cells(flagged, "share_all")
    assert len(cells) == 47 * flagged["column"].nunique()
    assert set(cells.loc[cells["missing"], "prefecture"]) == {"岡山県"}
    over = cells[cells["cell_over_100"]]
    assert set(zip(over["prefecture"], over["column"].str[0], strict=True)) == {
        ("埼玉県", "A"),
        ("埼玉県", "C"),
    }
    merged = cells[~cells["missing"]].merge(
        flagged, on=["prefecture", "column"], suffixes=("", "_table")
    )
    assert (merged["sum_off"] == merged["sum_off_table"]).all()
    assert set(cells.loc[cells["ambiguous_label"], "column"].str[0]) == {"D", "E"}
    with pytest.raises(ValueError, match="不明な区分"):
        national.map_cells(flagged, "share_everything")


def test_national_maps_one_axes_per_column_and_okayama_missing(flagged: pd.DataFrame) -> None:
    from matcher.gaps.plot import MISSING_HATCH, national_maps

    fig = national_maps(flagged, "share_all")
    maps = _maps(fig)
    columns = sorted(flagged["column"].unique())
    assert [ax.get_gid()[4:] for ax in maps] == columns
    for ax in maps:
        patches = _patches(ax)
        assert list(patches) == list(prefectures())
        okayama = patches["岡山県"]
        assert okayama.get_label() == "missing" and okayama.get_hatch() == MISSING_HATCH
        assert [t.get_gid() for t in ax.texts if (t.get_gid() or "").startswith("missing:")] == [
            "missing:岡山県"
        ]
        assert not any(p.get_hatch() for name, p in patches.items() if name != "岡山県")
    a = maps[columns.index(next(c for c in columns if c.startswith("A.")))]
    assert "over_100" in _patches(a)["埼玉県"].get_label().split(",")
    assert any(line.get_gid() == "over_100:埼玉県" for line in a.lines)
    n_sum_off = int(flagged[flagged["column"].str.startswith("A.")]["sum_off"].sum())
    assert sum((line.get_gid() or "").startswith("sum_off:") for line in a.lines) == n_sum_off


def test_national_maps_falls_back_to_bars_without_outlines(flagged: pd.DataFrame) -> None:
    from matcher.gaps.plot import national_maps

    fig = national_maps(flagged, "share_not_tabulated", outlines={})
    maps = _maps(fig)
    assert len(maps) == flagged["column"].nunique()
    patches = _patches(maps[0])
    assert patches["岡山県"].get_label() == "missing"
    assert any(t.get_gid() == "missing:岡山県" for t in maps[0].texts)
    heights = np.array([p.get_width() for p in patches.values()])
    assert heights[list(patches).index("岡山県")] == 0


def test_national_maps_without_a_japanese_font_write_no_japanese(
    flagged: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matcher.gaps import plot

    monkeypatch.setattr(plot, "japanese_font", lambda: None)
    fig = plot.national_maps(flagged, "share_all")
    texts = [t.get_text() for ax in fig.axes for t in (*ax.texts, ax.title)]
    texts += [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    texts.append(fig.get_suptitle())
    assert "pref. 33: no row" in texts
    assert not [t for t in texts if any(ord(ch) > 0x2FFF for ch in t)]
    fig.canvas.draw()  # no missing-glyph warning (filterwarnings = error)


def _inside(fig, artist) -> bool:
    box, ext = fig.bbox, artist.get_window_extent()
    return box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1


def test_region_map_in_japanese_with_outline_names_and_legend_inside(_agg) -> None:
    from matcher import fonts
    from matcher.gaps.plot import region_map
    from matcher.gaps.region import Region
    from matcher.generate import generate

    if fonts.japanese_font() is None:
        pytest.skip("日本語フォントがありません")
    region = Region.of(generate("高知県", n_facilities=60, n_institutions=30, seed=2))
    fig = region_map(region, title="テスト地図")
    fig.canvas.draw()  # a glyph missing from the font would warn: warnings are errors here
    ax = fig.axes[0]
    assert ax.get_xlabel() == "経度" and ax.get_title() == "テスト地図"
    assert any(p.get_facecolor()[:3] != (1, 1, 1) for p in ax.patches)  # the prefecture outline
    assert any(t.get_text() == "高知市" for t in ax.texts)  # municipality names
    assert fig.legends and all(_inside(fig, lg) for lg in fig.legends)
    texts = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert any(t.startswith("施設: ") for t in texts) and any("病院" in t for t in texts)
    assert {t.get_fontname() for lg in fig.legends for t in lg.get_texts()} == {
        fonts.japanese_font().family
    }


def _whatif_table(rows: list[tuple]) -> pd.DataFrame:
    columns = ["rank", "institution_id", "name", "gain_mandatory_full", "gain_effort_full"]
    columns += ["gain_pairs_covered", "change_partnerships", "change_distance_km"]
    return pd.DataFrame(rows, columns=columns)


def _bars(ax) -> list[float]:
    return [round(p.get_width(), 6) for p in ax.patches]


def test_whatif_chart_draws_mandatory_and_effort_apart_and_never_a_zero_candidate(_agg) -> None:
    from matcher import fonts
    from matcher.gaps.plot import whatif_chart

    if fonts.japanese_font() is None:
        pytest.skip("日本語フォントがありません")
    # Regression (notebook 03): ranks 9–15 added 4 義務 facilities each and were drawn as bars of
    # 0 — the chart drew the net 義務 + 努力義務. "Z" changes nothing and is never drawn.
    table = _whatif_table(
        [
            (1, "a", "A病院", 4, 1, 10, 4, -66.1),
            (2, "b", "B病院", 4, -4, 0, 4, -117.2),
            (3, "c", "Cクリニック", 0, 0, 0, -1, 8.7),
            (4, "z", "Z病院", 0, 0, 0, 0, 0.0),
        ]
    )
    fig = whatif_chart(table, title="テスト")
    assert fig is not None
    fig.canvas.draw()  # a missing glyph would warn: warnings are errors here
    panels = {ax.get_gid(): ax for ax in fig.axes}
    assert list(panels) == [
        "whatif:gain_mandatory_full",
        "whatif:gain_pairs_covered",
        "whatif:change_partnerships",
        "whatif:change_distance_km",
    ]
    first = panels["whatif:gain_mandatory_full"]
    assert [t.get_text() for t in first.get_yticklabels()] == [
        "1. A病院",
        "2. B病院",
        "3. Cクリニック",
    ]
    assert _bars(first) == [4, 4, 0, 1, -4, 0]  # 義務 bars, then 努力義務 bars
    assert _bars(panels["whatif:change_distance_km"]) == [-66.1, -117.2, 8.7]
    assert fig.legends and all(_inside(fig, lg) for lg in fig.legends)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["義務施設", "努力義務施設"]


def test_whatif_chart_leaves_out_levels_that_do_not_change_and_says_none(_agg) -> None:
    from matcher.gaps.plot import whatif_chart

    km_only = _whatif_table([(1, "a", "A", 0, 0, 0, 0, -3.9), (2, "b", "B", 0, 0, 0, 0, 0.0)])
    fig = whatif_chart(km_only)
    assert fig is not None
    assert [ax.get_gid() for ax in fig.axes] == ["whatif:change_distance_km"]
    assert len(fig.axes[0].get_yticklabels()) == 1
    assert not fig.legends  # nothing to tell apart
    nothing = _whatif_table([(1, "a", "A", 0, 0, 0, 0, 0.0)])
    assert whatif_chart(nothing) is None
    assert whatif_chart(nothing.drop(columns=["change_distance_km"])) is None
