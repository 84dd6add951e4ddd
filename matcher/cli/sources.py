"""``kyoryoku import`` and ``kyoryoku template``: registry files in, fill-in templates out."""

from __future__ import annotations

from pathlib import Path

import typer

from ..vocab import Source
from .common import err, out, run_guarded


def import_cmd(
    source: Source = typer.Argument(..., help="取り込み元 (公開データ・名簿・届出・申出の種類)"),
    files: list[Path] = typer.Argument(..., help="取り込むファイル (CSV / Excel / ZIP)"),
    out_file: Path = typer.Option(..., "--out", help="書き出す施設/医療機関 CSV (簡易形式)"),
    facilities: Path | None = typer.Option(
        None, "--facilities", help="既存の施設 CSV (filings で必要)"
    ),
    institutions: Path | None = typer.Option(None, "--institutions", help="既存の医療機関 CSV"),
) -> None:
    """公開データ・届出・申告を読み込み、簡易形式の CSV にします。

    取り込みの指摘 (エラー・対象外・自動修正・代替値・警告) は種類ごとにまとめて表示し、全件を
    <出力名>.issues.csv (file, sheet, row, column, value, severity, message) に書き出します。
    読めないファイル (壊れた ZIP、見出しのない表など) は終了コード 2 です。
    """
    from ..sources.importing import import_files

    outcome = run_guarded(
        import_files, source, files, out_file, facilities=facilities, institutions=institutions
    )
    for line in outcome.lines_ja():
        out.print(line, markup=False, highlight=False)
    if not outcome.balanced:  # pragma: no cover - a bug in an importer, not the user's data
        err.print("[bold red]内部エラー: 読み込んだ行数と採用・除外の合計が合いません[/]")
        raise typer.Exit(1)


template_app = typer.Typer(help="記入用テンプレートの作成", no_args_is_help=True)


@template_app.command("filings")
def template_filings_cmd(
    out_file: Path = typer.Option(Path("filings.xlsx"), "--out", help="出力する Excel"),
) -> None:
    """施設に配布する協力医療機関の届出テンプレート (Excel, 入力規則付き) を作ります。"""
    from ..sources.filings import write_filing_template

    path = run_guarded(write_filing_template, out_file)
    out.print(f"テンプレートを書き出しました: {Path(path).resolve()}")


def register(app: typer.Typer) -> None:
    """Add ``import`` and ``template``."""
    app.command("import")(import_cmd)
    app.add_typer(template_app, name="template")
