"""The ``kyoryoku`` command line: Japanese messages, exit code 2 on bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ._errors import InputError, MatcherError
from .model import Instance

app = typer.Typer(
    help="協力医療機関マッチング (kyoryoku-match)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)
out = Console()


def fail_input(exc: InputError) -> None:
    """Print every row-level problem and exit with code 2."""
    err.print(f"[bold red]入力データに問題があります ({len(exc.issues)} 件)[/]")
    for issue in exc.issues[:200]:
        err.print(f"  {issue}", markup=False, highlight=False)
    if len(exc.issues) > 200:
        err.print(f"  … ほか {len(exc.issues) - 200} 件")
    raise typer.Exit(2)


def run_guarded(fn, *args, **kwargs):
    """Call ``fn`` turning user-data errors into messages and exit code 2 (never a traceback)."""
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        fail_input(exc)
    except (ValueError, MatcherError) as exc:
        err.print(f"[bold red]エラー:[/] {exc}", highlight=False)
        raise typer.Exit(2)


def _load_instance(facilities: Path, institutions: Path) -> Instance:
    from .sources.simple_csv import load_facilities, load_institutions

    issues = []
    facs = insts = None
    for loader, path in ((load_facilities, facilities), (load_institutions, institutions)):
        try:
            loaded = loader(path)
        except InputError as exc:
            issues.extend(exc.issues)
            continue
        for w in loaded.warnings:
            err.print(f"  {w}", markup=False, highlight=False)
        if loader is load_facilities:
            facs = loaded.items
        else:
            insts = loaded.items
    if issues:
        raise InputError(issues)
    return Instance.of(facs or [], insts or [])


@app.command("match")
def match_cmd(
    facilities: Path = typer.Argument(..., help="施設一覧 CSV (facilities.csv)"),
    institutions: Path = typer.Argument(..., help="医療機関一覧 CSV (institutions.csv)"),
    out_dir: Path = typer.Option(Path("out"), "--out", help="出力フォルダ"),
    mode: str = typer.Option("optimal", "--mode", help="optimal | greedy | stable"),
    max_km: str = typer.Option(
        "consult=30,care=16,admit=30", "--max-km", help="要件ごとの最大距離 (km)"
    ),
    max_new_partners: int = typer.Option(
        2, "--max-new-partners", help="1施設あたりの新たな協力医療機関の上限"
    ),
    road_factor: float = typer.Option(1.0, "--road-factor", help="直線距離に掛ける道路係数"),
    travel_matrix: Path | None = typer.Option(
        None, "--travel-matrix", help="移動距離表 CSV (facility_id, institution_id, km)"
    ),
    time_limit: float | None = typer.Option(None, "--time-limit", help="最適化の制限時間 (秒)"),
    skip_unknown: bool = typer.Option(False, "--skip-unknown", help="届出のない施設を対象外にする"),
) -> None:
    """施設と医療機関の CSV から協力医療機関の組み合わせを提案します。"""
    from .match import match
    from .match import travel_matrix as to_matrix
    from .params import MatchParams, parse_max_km
    from .sources.result_files import write_result
    from .sources.travel import load_travel_rows

    params = run_guarded(
        lambda: MatchParams(
            max_km=parse_max_km(max_km),
            max_new_partners=max_new_partners,
            road_factor=road_factor,
            time_limit=time_limit,
            include_unknown=not skip_unknown,
        )
    )
    instance = run_guarded(_load_instance, facilities, institutions)
    travel = None
    if travel_matrix is not None:
        travel = run_guarded(
            lambda: to_matrix(instance, load_travel_rows(travel_matrix), travel_matrix.name)
        )
    err.print(
        f"読み込み: 施設 {len(instance.facilities)} 件、医療機関 {len(instance.institutions)} 件"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("最適化中(施設)", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run_guarded(match, instance, params, mode, travel, progress)
    paths = write_result(instance, result, out_dir)
    print_summary(result)
    out.print(f"結果を書き出しました: {out_dir.resolve()}")
    for name, path in paths.items():
        out.print(f"  {path.name}")


def print_summary(result) -> None:
    """A short Japanese summary of a run for the terminal."""
    o, c = result.objective, result.counts
    out.print(f"[bold]方式:[/] {result.info.mode}  ({result.info.message})")
    out.print(
        f"  対象施設(要件不足) {c['demand_facilities']} 件 / 候補ペア {c['candidate_pairs']} 件"
    )
    out.print(
        f"  全要件を満たすようになる施設: 義務 {o.mandatory_full} 件、努力義務 {o.effort_full} 件"
    )
    out.print(
        f"  充足される(施設, 要件)の組: {o.pairs_covered}  新たな協力関係: {o.partnerships} 件  "
        f"総距離: {o.distance_km:.1f} km"
    )
    out.print(f"  未充足の要件: {len(result.unmatched)} 件 (unmatched.csv に理由)")
    out.print(f"  計算時間: {result.info.seconds.get('total', 0):.2f} 秒")


@app.command("generate")
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
    from .generate import generate
    from .sources.simple_csv import write_facilities, write_institutions

    pref = None if prefecture in ("全国", "japan", "all") else prefecture
    instance = run_guarded(
        generate, pref, scale, seed, n_facilities, n_institutions, capacity_factor
    )
    write_facilities(instance.facilities, out_dir / "facilities.csv")
    write_institutions(instance.institutions, out_dir / "institutions.csv")
    out.print(
        f"生成しました: 施設 {len(instance.facilities)} 件、医療機関 {len(instance.institutions)} 件 → {out_dir.resolve()}"
    )


from .cli_store import register_store_commands

register_store_commands(app)  # noqa: E402,E702  db/run/proposals/export
from .cli_reports import register_report_commands

register_report_commands(app)  # noqa: E402,E702  report
from .cli_web import register_web_commands

register_web_commands(app)  # noqa: E402,E702  web
from .cli_sample import register_sample_commands

register_sample_commands(app)  # noqa: E402,E702  sample


@app.command("import")
def import_cmd(
    source: str = typer.Argument(..., help="kaigo | navii | kouseikyoku | filings | declarations"),
    files: list[Path] = typer.Argument(..., help="取り込むファイル (CSV / Excel / ZIP)"),
    out_file: Path = typer.Option(..., "--out", help="書き出す施設/医療機関 CSV (簡易形式)"),
    facilities: Path | None = typer.Option(
        None, "--facilities", help="既存の施設 CSV (filings で必要)"
    ),
    institutions: Path | None = typer.Option(None, "--institutions", help="既存の医療機関 CSV"),
) -> None:
    """公開データ・届出・申告を読み込み、簡易形式の CSV にします (除外行は .rejects.csv に理由付き)。"""
    from .sources.importing import import_files

    if source not in ("kaigo", "navii", "kouseikyoku", "filings", "declarations"):
        err.print(
            f"[bold red]エラー:[/] 不明な取り込み元「{source}」(kaigo, navii, kouseikyoku, filings, declarations)"
        )
        raise typer.Exit(2)
    outcome = run_guarded(
        import_files, source, files, out_file, facilities=facilities, institutions=institutions
    )
    for line in outcome.lines_ja():
        out.print(line, markup=False, highlight=False)


template_app = typer.Typer(help="記入用テンプレートの作成", no_args_is_help=True)
app.add_typer(template_app, name="template")


@template_app.command("filings")
def template_filings_cmd(
    out_file: Path = typer.Option(Path("filings.xlsx"), "--out", help="出力する Excel"),
) -> None:
    """施設に配布する協力医療機関の届出テンプレート (Excel, 入力規則付き) を作ります。"""
    from .sources.filings import write_filing_template

    path = run_guarded(write_filing_template, out_file)
    out.print(f"テンプレートを書き出しました: {Path(path).resolve()}")


from . import cli_gaps  # noqa: E402,F401  (registers the gaps command)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
