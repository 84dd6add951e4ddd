"""What every command shares: consoles, Japanese error handling (exit code 2; 1 when an import
stored the good rows and wrote the rejected ones to a rejects file), loading CSVs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from .._errors import InputError, MatcherError, RowIssue
from ..model import Facility, Instance, Institution
from ..params import DEFAULT_MAX_KM, MatchParams, format_max_km, parse_max_km
from ..result import MatchResult

if TYPE_CHECKING:
    from rich.progress import Progress

    from ..reports.sender import Sender
    from ..validate import Validated

T = TypeVar("T")

URL_HELP = "データベース URL (省略時は環境変数 KYORYOKU_DATABASE_URL、なければ ./kyoryoku.db)"
MAX_KM_DEFAULT = format_max_km(DEFAULT_MAX_KM)
PREFER_INFECTION_HELP = (
    "第二種協定指定医療機関を優先する: その距離をこの割合だけ割り引いて比べる "
    "(0 以上 1 未満、例 0.5。0 = 優先しない。範囲・報告する距離は実距離のまま)"
)
COUNT_SITES_HELP = (
    "同じ建物の事業所 (同一法人・同じ位置または住所、site_id 列) を別々に計画する "
    "(既定: 建物ごとに同じ協力医療機関を提案し、受入可能数を1と数える)"
)
PREFER_CORPORATION_HELP = (
    "同じ法人 (法人番号・法人名) の医療機関を優先する: 目的の「提携数最少」の次、"
    "「距離最短」の前に「法人をまたぐ提携の最少」を入れる"
)

# The matching options the commands share (``match``, ``run``, ``report``, ``gaps``).
MaxKmOption = Annotated[str, typer.Option("--max-km", help="要件ごとの最大距離 (km)")]
MaxNewPartnersOption = Annotated[
    int, typer.Option("--max-new-partners", help="1施設あたりの新たな協力医療機関の上限")
]
RoadFactorOption = Annotated[float, typer.Option("--road-factor", help="直線距離に掛ける道路係数")]
TimeLimitOption = Annotated[
    float | None, typer.Option("--time-limit", help="最適化の制限時間 (秒)")
]
SkipUnknownOption = Annotated[
    bool, typer.Option("--skip-unknown", help="届出のない施設を対象外にする")
]
PreferInfectionOption = Annotated[
    float, typer.Option("--prefer-infection-agreement", help=PREFER_INFECTION_HELP)
]
CountSitesOption = Annotated[
    bool, typer.Option("--count-site-registrations", help=COUNT_SITES_HELP)
]
PreferCorporationOption = Annotated[
    bool, typer.Option("--prefer-same-corporation", help=PREFER_CORPORATION_HELP)
]

# The letters' sender (``report``, ``areas report``): the options both name alike, and the
# parameter of each ``Sender`` field (``sender_of``; ``reply_by`` is parsed).
SenderPersonOption = Annotated[str, typer.Option("--sender-person", help="担当者名")]
SenderPhoneOption = Annotated[str, typer.Option("--sender-phone", help="担当の電話番号")]
SenderEmailOption = Annotated[str, typer.Option("--sender-email", help="担当のメールアドレス")]
SenderAddressOption = Annotated[str, typer.Option("--sender-address", help="担当課の所在地")]
ReplyByOption = Annotated[str | None, typer.Option("--reply-by", help="回答期限 (YYYY-MM-DD)")]
SENDER_PARAMS = {
    "organisation": "sender_org",
    "person": "sender_person",
    "phone": "sender_phone",
    "email": "sender_email",
    "address": "sender_address",
    "reply_method": "reply_method",
    "document_number": "document_number",
}

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


# Exit codes: 2 bad input or unknown object; the store's errors carry their own
# (``matcher.store.errors``: 3 conflict, 4 store, 5 run in progress, 6 database, 7 unreachable,
# 8 busy, 9 disk full, 10 read-only); 11 a file that cannot be read or written.
EXIT_FILE = 11


def fail(message: str, code: int) -> None:
    """Print one Japanese error line and exit with ``code`` (``message`` is text, not markup)."""
    err.print(f"[bold red]エラー:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run_guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` turning user-data, store, database and file errors into one Japanese line and
    their exit code (never a traceback)."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        fail_input(exc)
    except MatcherError as exc:
        fail(str(exc), getattr(exc, "exit_code", 2))
    except ValueError as exc:
        fail(str(exc), 2)
    except (DBAPIError, sqlite3.Error) as exc:
        from ..store.db import translate

        translated = translate(exc)
        fail(str(translated), translated.exit_code)
    except OSError as exc:
        import errno

        where = f"「{exc.filename}」" if exc.filename else ""
        code = 9 if exc.errno == errno.ENOSPC else EXIT_FILE
        fail(f"ファイル{where}を読み書きできません ({exc.strerror or exc})", code)
    raise AssertionError("unreachable")  # pragma: no cover


def match_params(
    max_km: str,
    max_new_partners: int = 2,
    road_factor: float = 1.0,
    time_limit: float | None = None,
    skip_unknown: bool = False,
    prefer_infection: float = 0.0,
    count_sites: bool = False,
    prefer_corporation: bool = False,
) -> MatchParams:
    """The run's parameters from the shared options (exit code 2 when one is invalid)."""

    return run_guarded(
        lambda: MatchParams(
            max_km=parse_max_km(max_km),
            max_new_partners=max_new_partners,
            road_factor=road_factor,
            time_limit=time_limit,
            include_unknown=not skip_unknown,
            prefer_infection_agreement=prefer_infection,
            count_site_registrations=count_sites,
            prefer_same_corporation=prefer_corporation,
        )
    )


def parse_date(text: str | None, option: str = "--date") -> dt.date | None:
    """The day an option gives as ``YYYY-MM-DD`` (``None`` when not given)."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} の日付「{text}」が不正です (例: 2026-04-01)") from None


def sender_of(params: Mapping[str, Any], **more: Any) -> Sender:
    """The letters' ``Sender`` from a command's parameters (``ctx.params``: ``SENDER_PARAMS`` and
    ``reply_by``), ``more`` added."""
    from ..reports.sender import Sender

    return Sender(
        **{name: params[param] for name, param in SENDER_PARAMS.items()},
        reply_by=parse_date(params["reply_by"], "--reply-by"),
        **more,
    )


def progress_bar() -> Progress:
    """The progress bar of the long commands, on stderr and gone when done."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def load_instance(facilities: Path, institutions: Path) -> Instance:
    from ..sources.simple_csv import load_facilities, load_institutions

    issues: list[RowIssue] = []
    facs: list[Facility] = _loaded(load_facilities, facilities, issues)
    insts: list[Institution] = _loaded(load_institutions, institutions, issues)
    if issues:
        raise InputError(issues)
    return Instance.of(facs, insts)


def _loaded(load: Callable[[Path], Validated[T]], path: Path, issues: list[RowIssue]) -> list[T]:
    """The items ``load`` reads from ``path`` (its warnings printed), or none with its problems
    added to ``issues``."""
    try:
        loaded = load(path)
    except InputError as exc:
        issues.extend(exc.issues)
        return []
    _print_warnings(loaded.warnings)
    return loaded.items


def _print_warnings(warnings: list[RowIssue]) -> None:
    for w in warnings:
        err.print(f"  {w}", markup=False, highlight=False)


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
    for warning in result.warnings_ja:
        err.print(f"[bold yellow]{warning}[/]", highlight=False)
