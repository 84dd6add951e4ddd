"""``kyoryoku sample``: the bundled sample region written in the registries' own formats."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import out, run_guarded


def sample_cmd(
    out_dir: Path = typer.Option(Path("data/sample/registry"), "--out", help="出力フォルダ"),
    prefecture: str = typer.Option("高知県", "--prefecture", help="都道府県名"),
    seed: int = typer.Option(1, "--seed", help="乱数シード (data/sample と同じ 1)"),
    scale: float = typer.Option(1.0, "--scale", help="規模の倍率"),
    build: Path | None = typer.Option(
        None,
        "--build",
        help="書き出した後、取り込み (kaigo → navii → "
        "kouseikyoku → declarations → filings) の結果をこのフォルダに作る",
    ),
) -> None:
    """合成した地域を、公開データ・名簿・届出・申出の実際の形式 (CSV/Excel) で書き出します。"""
    from ..generate import generate
    from ..sources.sample_region import run_importers, write_sample_region

    instance = run_guarded(generate, prefecture, scale, seed)
    files = run_guarded(write_sample_region, instance, out_dir)
    out.print(
        f"書き出しました: 施設 {len(instance.facilities)} 件、医療機関 {len(instance.institutions)}"
        " 件 "
        f"→ {out_dir.resolve()} ({len(files.all())} ファイル)"
    )
    if build is not None:
        for outcome in run_guarded(run_importers, out_dir, build):
            for line in outcome.lines_ja():
                out.print(line, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``sample`` to the main ``kyoryoku`` app."""
    app.command("sample")(sample_cmd)
