"""The ``kyoryoku gaps`` command: capacity-gap tables (CSV, Japanese headings), a map and the
what-if charts (PNG) for an area."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .common import (
    MAX_KM_DEFAULT,
    MaxKmOption,
    MaxNewPartnersOption,
    RoadFactorOption,
    err,
    load_instance,
    match_params,
    out,
    run_guarded,
)

if TYPE_CHECKING:
    import pandas as pd

    from ..gaps.region import Region
    from ..result import MatchResult


def gaps_cmd(
    ctx: typer.Context,
    facilities: Path = typer.Argument(..., help="施設一覧 CSV (facilities.csv)"),
    institutions: Path = typer.Argument(..., help="医療機関一覧 CSV (institutions.csv)"),
    out_dir: Path = typer.Option(Path("out/gaps"), "--out", help="出力フォルダ"),
    area: str = typer.Option(
        "", "--area", help="市区町村コードの先頭 (例: 39 = 高知県, 39201 = 高知市)"
    ),
    max_km: MaxKmOption = MAX_KM_DEFAULT,
    max_new_partners: MaxNewPartnersOption = 2,
    road_factor: RoadFactorOption = 1.0,
    decay: str = typer.Option(
        "gaussian", "--decay", help="2SFCA の距離減衰: step | linear | gaussian"
    ),
    whatif: bool = typer.Option(True, "--whatif/--no-whatif", help="受入枠・新設の効果を計算する"),
    whatif_measure: str = typer.Option(
        "objective",
        "--whatif-measure",
        help="what-if で比べるもの: objective (全要件を満たす施設の数、同数なら満たされる要件・"
        "新たな連携の数・総距離で順位付け) | coverage (全要件を満たす施設の数だけ。速い)",
    ),
    site_capacity: int | None = typer.Option(
        5, "--site-capacity", help="新設医療機関の受入枠 (what-if)"
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="what-if の再計算を並列に行うこの計算機のプロセス数 (--dask とは同時に指定できません)",
    ),
    dask: str | None = typer.Option(
        None,
        "--dask",
        metavar="ADDRESS|local",
        help="what-if の再計算を Dask クラスターで行う: スケジューラーのアドレス "
        "(例: tcp://10.0.0.5:8786) か local (この計算機に LocalCluster を起動)。"
        "追加パッケージ kyoryoku-match\\[distributed] が必要 (--workers とは同時に指定できません)",
    ),
) -> None:
    """地域の受入枠の不足・空白地域・広域連携の必要性を分析し、表 (CSV) と地図 (PNG) を書き出します
    。"""
    from ..gaps import ja
    from ..gaps.access import DECAYS
    from ..gaps.region import Region, restrict_area
    from ..gaps.tables import gap_tables
    from ..gaps.whatif import MEASURES, WhatIfStats
    from ..match import match
    from ..parallel import Sequential, open_executor
    from ..sources.textfile import write_csv

    if decay not in DECAYS:
        err.print(f"[bold red]エラー:[/] 不明な距離減衰「{decay}」(使えるのは {', '.join(DECAYS)})")
        raise typer.Exit(2)
    if whatif_measure not in MEASURES:
        err.print(
            f"[bold red]エラー:[/] 不明な what-if の尺度「{whatif_measure}」"
            f"(使えるのは {', '.join(MEASURES)})"
        )
        raise typer.Exit(2)
    params = match_params(max_km, max_new_partners, road_factor)
    # Opened first: a missing Dask or an unreachable scheduler stops the run before the solve.
    executor = run_guarded(open_executor, workers, dask) if whatif else Sequential()
    ctx.call_on_close(executor.close)
    instance = run_guarded(load_instance, facilities, institutions)
    if area:
        instance = restrict_area(instance, area)
        if not instance.facilities:
            err.print(f"[bold red]エラー:[/] 市区町村コードが「{area}」で始まる施設がありません")
            raise typer.Exit(2)
    err.print(
        f"分析対象: 施設 {len(instance.facilities)} 件、医療機関 {len(instance.institutions)} 件"
    )
    result = run_guarded(match, instance, params, "optimal")
    region = Region.of(instance, params)
    stats = WhatIfStats()
    tables = run_guarded(
        gap_tables,
        region,
        result,
        decay,
        whatif,
        site_capacity,
        stats,
        executor=executor,
        measure=whatif_measure,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        write_csv(ja.in_japanese(df, name), out_dir / f"{name}.csv")
    map_path = _write_map(region, result, tables["uncoverable"], out_dir / "map.png")
    charts = _write_whatif_charts(tables, out_dir, site_capacity) if whatif else []
    o = result.objective
    out.print(
        f"全要件を満たすようになる施設: 義務 {o.mandatory_full} 件、努力義務 {o.effort_full} 件 "
        f"(要件不足 {result.counts['demand_facilities']} 件)"
    )
    out.print(f"範囲内に候補のない (施設, 要件): {len(tables['uncoverable'])} 件")
    if whatif:
        out.print(ja.stats_line(stats), highlight=False)
        short = result.counts["demand_facilities"] - o.mandatory_full - o.effort_full
        for name, kind in ja.WHATIF_TABLES.items():
            for line in ja.whatif_lines(tables[name], kind, open_after=short):
                out.print(line, highlight=False, markup=False, soft_wrap=True)
    out.print(f"結果を書き出しました: {out_dir.resolve()}")
    for name in tables:
        out.print(f"  {name}.csv")
    for path in [map_path, *charts]:
        if path is not None:
            out.print(f"  {path.name}")


def _write_map(
    region: Region, result: MatchResult, uncoverable: pd.DataFrame, path: Path
) -> Path | None:
    """The region map as PNG; skipped with a message when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        err.print("matplotlib がないため地図は書き出しません")
        return None
    import numpy as np

    from ..gaps.plot import region_map

    after = {o.facility_id: o.missing_after == 0 for o in result.outcomes}
    full = np.array([after.get(fid, False) for fid in region.facility_ids], bool)
    fig = region_map(
        region, full, set(uncoverable["facility_id"]), title="協力医療機関の空白と受入枠"
    )
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _write_whatif_charts(
    tables: dict[str, pd.DataFrame], out_dir: Path, site_capacity: int | None
) -> list[Path]:
    """A chart per what-if with a candidate that changes the proposal (none otherwise: the
    summary says so); skipped when matplotlib is not installed (the map said so already)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from ..gaps.plot import whatif_chart

    limit = "受入枠の上限なし" if site_capacity is None else f"受入枠 {site_capacity}"
    titles = {
        "whatif_capacity": "受入枠を 1 増やしたときの提案の変化(上位15医療機関)",
        "whatif_sites": f"①②③の医療機関({limit})を市区町村役場の位置に新設したときの提案の変化",
    }
    written = []
    for name, title in titles.items():
        fig = whatif_chart(tables[name], title=title)
        if fig is None:
            continue
        fig.savefig(out_dir / f"{name}.png", dpi=120)
        plt.close(fig)
        written.append(out_dir / f"{name}.png")
    return written


def register(app: typer.Typer) -> None:
    """Add ``gaps``."""
    app.command("gaps")(gaps_cmd)
