"""What every command shares: consoles, Japanese error handling (exit code 2), loading CSVs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from .._errors import InputError, MatcherError
from ..model import Instance
from ..result import MatchResult

T = TypeVar("T")

URL_HELP = "データベース URL (省略時は環境変数 KYORYOKU_DATABASE_URL、なければ ./kyoryoku.db)"
MAX_KM_DEFAULT = "consult=30,care=16,admit=30"

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


def run_guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` turning user-data errors into messages and exit code 2 (never a traceback)."""
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        fail_input(exc)
    except (ValueError, MatcherError) as exc:
        err.print(f"[bold red]エラー:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def load_instance(facilities: Path, institutions: Path) -> Instance:
    from ..sources.simple_csv import load_facilities, load_institutions

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


def print_summary(result: MatchResult) -> None:
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
