"""``kyoryoku match`` and ``kyoryoku generate``: matching CSV files, synthetic instances."""

from __future__ import annotations

from pathlib import Path

import typer

from ..vocab import Mode
from .common import (
    MAX_KM_DEFAULT,
    CountSitesOption,
    MaxKmOption,
    MaxNewPartnersOption,
    PreferCorporationOption,
    PreferInfectionOption,
    RoadFactorOption,
    SkipUnknownOption,
    TimeLimitOption,
    err,
    load_instance,
    match_params,
    out,
    print_summary,
    progress_bar,
    run_guarded,
)


def match_cmd(
    facilities: Path = typer.Argument(..., help="施設一覧 CSV (facilities.csv)"),
    institutions: Path = typer.Argument(..., help="医療機関一覧 CSV (institutions.csv)"),
    out_dir: Path = typer.Option(Path("out"), "--out", help="出力フォルダ"),
    mode: Mode = typer.Option(Mode.OPTIMAL, "--mode", help="最適化 (optimal) または比較用の方式"),
    max_km: MaxKmOption = MAX_KM_DEFAULT,
    max_new_partners: MaxNewPartnersOption = 2,
    road_factor: RoadFactorOption = 1.0,
    travel_matrix: Path | None = typer.Option(
        None, "--travel-matrix", help="移動距離表 CSV (facility_id, institution_id, km)"
    ),
    time_limit: TimeLimitOption = None,
    skip_unknown: SkipUnknownOption = False,
    prefer_infection: PreferInfectionOption = 0.0,
    count_sites: CountSitesOption = False,
    prefer_corporation: PreferCorporationOption = False,
) -> None:
    """施設と医療機関の CSV から協力医療機関の組み合わせを提案します。"""
    from ..match import match
    from ..match import travel_matrix as to_matrix
    from ..sources.result_files import write_result
    from ..sources.travel import load_travel_rows

    params = match_params(
        max_km,
        max_new_partners,
        road_factor,
        time_limit,
        skip_unknown,
        prefer_infection,
        count_sites,
        prefer_corporation,
    )
    instance = run_guarded(load_instance, facilities, institutions)
    travel = None
    if travel_matrix is not None:
        travel = run_guarded(
            lambda: to_matrix(instance, load_travel_rows(travel_matrix), travel_matrix.name)
        )
    err.print(
        f"読み込み: 施設 {len(instance.facilities)} 件、医療機関 {len(instance.institutions)} 件"
    )
    with progress_bar() as bar:
        task = bar.add_task("最適化中(施設)", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run_guarded(match, instance, params, mode, travel, progress)
    paths = run_guarded(write_result, instance, result, out_dir)
    print_summary(result)
    out.print(f"結果を書き出しました: {out_dir.resolve()}")
    for path in paths.values():
        out.print(f"  {path.name}")


def generate_cmd(
    prefecture: str = typer.Option("高知県", "--prefecture", help="都道府県名 (「全国」で全国)"),
    scale: float = typer.Option(1.0, "--scale", help="規模の倍率"),
    seed: int = typer.Option(1, "--seed", help="乱数シード"),
    out_dir: Path = typer.Option(Path("data/generated"), "--out", help="出力フォルダ"),
    n_facilities: int | None = typer.Option(None, "--facilities", help="施設数を直接指定"),
    n_institutions: int | None = typer.Option(None, "--institutions", help="医療機関数を直接指定"),
    capacity_factor: float = typer.Option(
        1.0, "--capacity-factor", help="受入枠の倍率 (1未満で逼迫)"
    ),
) -> None:
    """実在の市区町村の位置を使った合成データ (施設・医療機関 CSV) を作ります。"""
    from ..generate import generate
    from ..sources.simple_csv import write_facilities, write_institutions

    pref = None if prefecture in ("全国", "japan", "all") else prefecture
    instance = run_guarded(
        generate, pref, scale, seed, n_facilities, n_institutions, capacity_factor
    )
    write_facilities(instance.facilities, out_dir / "facilities.csv")
    write_institutions(instance.institutions, out_dir / "institutions.csv")
    out.print(
        f"生成しました: 施設 {len(instance.facilities)} 件、医療機関 {len(instance.institutions)} "
        f"件 → {out_dir.resolve()}"
    )


def register(app: typer.Typer) -> None:
    """Add ``match`` and ``generate``."""
    app.command("match")(match_cmd)
    app.command("generate")(generate_cmd)
