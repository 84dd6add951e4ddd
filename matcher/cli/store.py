"""The store's commands: ``kyoryoku db …``, ``run``, ``proposals …``, ``export`` (in Japanese).

SQLAlchemy is imported inside the commands so that ``kyoryoku match`` does not need it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .._errors import InputError, RowIssue
from ..model import Facility, Institution

if TYPE_CHECKING:
    from ..store.db import Store
    from ..store.imports import ImportStats
    from ..store.models import ProposalHistoryRow
    from ..store.proposals import ProposalView
    from ..store.source_imports import SourceImport
    from ..usecases.imports import SimpleRows

from .common import (
    MAX_KM_DEFAULT,
    URL_HELP,
    CountSitesOption,
    MaxKmOption,
    MaxNewPartnersOption,
    PreferCorporationOption,
    PreferInfectionOption,
    RoadFactorOption,
    SkipUnknownOption,
    TimeLimitOption,
    err,
    match_params,
    out,
    print_summary,
    run_guarded,
)

db_app = typer.Typer(help="データベース (作成・更新・取り込み・地域)", no_args_is_help=True)
proposals_app = typer.Typer(help="提案の一覧と状態の変更", no_args_is_help=True)


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no user in the environment
        return "cli"


@contextmanager
def open_store_checked(url: str | None, upgrade: bool = False) -> Iterator[Store]:
    """The store, migrated (``upgrade``) or checked to be; its connections closed at the end."""
    from ..store.db import open_store

    store = run_guarded(open_store, url)
    try:
        if upgrade:
            run_guarded(store.upgrade)
        else:
            run_guarded(store.check_schema)
        yield store
    finally:
        store.dispose()


@db_app.command("upgrade")
def upgrade_cmd(url: str | None = typer.Option(None, "--db", help=URL_HELP)) -> None:
    """データベースを作成し、スキーマを最新にします (何度実行しても安全です)。"""
    from ..store.db import database_url
    from ..store.migrate import current_revision

    with open_store_checked(url, upgrade=True) as store:
        out.print(
            f"スキーマを最新にしました (版: {current_revision(store.engine)}): "
            f"{_safe_url(database_url(url))}"
        )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("import-csv")
def import_csv_cmd(
    facilities: Path = typer.Argument(..., help="施設一覧 CSV (facilities.csv)"),
    institutions: Path = typer.Argument(..., help="医療機関一覧 CSV (institutions.csv)"),
    filing_year: int | None = typer.Option(
        None, "--filing-year", help="届出の年度 (省略時は今年度)"
    ),
    declared_on: str | None = typer.Option(
        None, "--declared-on", help="受入枠の申告日 YYYY-MM-DD (省略時は今日)"
    ),
    rejects_dir: Path | None = typer.Option(
        None,
        "--rejects-dir",
        help="除外した行の CSV (<ファイル名>.rejects.csv) を書くフォルダ (省略時は入力と同じ"
        "フォルダ)",
    ),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """簡易 CSV 形式の施設・医療機関をデータベースに取り込みます (同じファイルの再取り込みは何も変え
    ません)。Web の取り込みと同じく、正しい行を取り込み、誤りのある行は理由を付けて
    <ファイル名>.rejects.csv に書き出します (終了コード 1)。列がずれた行・見出しの誤りは
    ファイル全体を取り込みません (終了コード 2)。"""
    from ..store.imports import import_simple

    day = run_guarded(lambda: dt.date.fromisoformat(declared_on)) if declared_on else None
    facs, insts = run_guarded(_read_simple_pair, facilities, institutions)
    written = [
        run_guarded(_write_simple_rejects, path, rows, rejects_dir)
        for path, rows in ((facilities, facs), (institutions, insts))
        if rows.rejects
    ]
    with open_store_checked(url, upgrade=True) as store:

        def work() -> dict[str, ImportStats]:
            with store.write() as s:
                return import_simple(
                    s,
                    [f for f in facs.items if isinstance(f, Facility)],  # all (narrowing)
                    [i for i in insts.items if isinstance(i, Institution)],  # all (narrowing)
                    filing_year,
                    day,
                    source=f"{facilities.name}+{institutions.name}",
                )

        stats = run_guarded(work)
        labels = {
            "institutions": "医療機関",
            "facilities": "施設",
            "filings": "届出",
            "declarations": "受入枠の申告",
        }
        for key, st in stats.items():
            out.print(f"  {labels[key]}: {st.summary_ja()}")
            for w in st.warnings[:50]:
                err.print(f"  [警告] {w}", markup=False, highlight=False)
        changed = any(st.changed for st in stats.values())
        out.print(
            "取り込みました。" if changed else "変更はありませんでした (同じ内容が登録済みです)。"
        )
    if written:
        total = len(facs.rejects) + len(insts.rejects)
        err.print(
            f"除外した行が {total} 件あります (取り込んでいません)。理由は "
            f"{'、'.join(str(p) for p in written)} にあります",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)


def _read_simple_pair(facilities: Path, institutions: Path) -> tuple[SimpleRows, SimpleRows]:
    """Both files read row by row as the web upload reads one (``usecases.imports.simple_rows``):
    the problems of a file refused whole, in either file, are one ``InputError``; a rejected
    row is printed with its reasons."""
    from ..sources.simple_csv import load_facilities, load_institutions
    from ..usecases.imports import simple_rows

    issues: list[RowIssue] = []
    read: list[SimpleRows] = []
    for load, path in ((load_facilities, facilities), (load_institutions, institutions)):
        try:
            read.append(simple_rows(load(path, strict=False)))
        except InputError as exc:
            issues.extend(exc.issues)
    if issues:
        raise InputError(issues)
    for rows in read:
        for w in rows.warnings:
            err.print(f"  {w}", markup=False, highlight=False)
        shown = [i for _, row_issues in sorted(rows.rejects.items()) for i in row_issues]
        for issue in shown[:200]:
            err.print(f"  {issue}", markup=False, highlight=False)
        if len(shown) > 200:
            err.print(f"  … ほか {len(shown) - 200} 件 (除外した行の CSV にすべてあります)")
    return read[0], read[1]


def _write_simple_rejects(path: Path, rows: SimpleRows, folder: Path | None) -> Path:
    """``<file>.rejects.csv`` (UTF-8 with BOM) beside ``path`` or in ``folder``: the rejected
    rows of ``path`` with their reasons, as the web's rejects CSV lists them."""
    from ..sources.report import write_rejects
    from ..usecases.imports import simple_rejected_rows

    target = (folder or path.parent) / f"{path.stem}.rejects.csv"
    return write_rejects(simple_rejected_rows(path.name, rows.rejects), target)


@db_app.command("import")
def import_source_cmd(
    source: str = typer.Argument(..., help="kaigo | navii | kouseikyoku | declarations | filings"),
    files: list[Path] = typer.Argument(..., help="取り込むファイル (CSV / Excel / ZIP)"),
    facilities: Path | None = typer.Option(
        None, "--facilities", help="kaigo のみ: 養護・軽費老人ホームの一覧 (簡易形式の施設 CSV)"
    ),
    filing_year: int | None = typer.Option(
        None, "--filing-year", help="届出の年度 (省略時は確認日の年度、なければ今年度)"
    ),
    declared_on: str | None = typer.Option(
        None, "--declared-on", help="申出の適用開始日 YYYY-MM-DD (省略時は今日)"
    ),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="除外・未結合の行を書き出す CSV (省略時は ./<SOURCE>.rejects.csv)"
    ),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """公開データ・名簿・届出・申出をそのままの形式でデータベースに取り込みます (同じファイルの再取
    り込みは何も変えません)。"""
    from ..sources.report import write_rejects
    from ..store.source_imports import import_source

    day = run_guarded(lambda: dt.date.fromisoformat(declared_on)) if declared_on else None
    with open_store_checked(url, upgrade=True) as store:

        def work() -> SourceImport:
            with store.write() as s:
                return import_source(
                    s,
                    source,
                    files,
                    facilities=facilities,
                    filing_year=filing_year,
                    declared_on=day,
                )

        result = run_guarded(work)
    for line in result.lines_ja():
        out.print(line, markup=False, highlight=False)
    warnings = [str(w) for w in result.warnings] + [
        w for st in result.stats.values() for w in st.warnings
    ]
    for w in warnings[:20]:
        err.print(f"  {w}", markup=False, highlight=False)
    if len(warnings) > 20:
        err.print(f"  … ほか警告 {len(warnings) - 20} 件")
    if result.rejected:
        path = write_rejects(result.rejected, rejects or Path(f"{source}.rejects.csv"))
        out.print(f"  除外・未結合の行 {len(result.rejected)} 件: {path}", highlight=False)
    out.print(
        "取り込みました。"
        if result.changed
        else "変更はありませんでした (同じ内容が登録済みです)。"
    )


@db_app.command("area")
def area_cmd(
    code: str = typer.Argument(..., help="地域コード (例: kochi-chuo)"),
    name: str = typer.Option(..., "--name", help="地域名"),
    kind: str = typer.Option(
        "renkei",
        "--kind",
        help="prefecture | municipality | renkei (在宅医療連携拠点) | kousou (構想区域)"
        " | ishikai (郡市医師会)",
    ),
    municipalities: str = typer.Option(
        ..., "--municipalities", help="市区町村コードをカンマ区切りで (都道府県は2桁)"
    ),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """地域 (都道府県・市区町村・連携拠点の圏域・構想区域・郡市医師会) を登録・更新します。"""
    from ..store.areas import save_area

    with open_store_checked(url) as store:
        members = [m for m in municipalities.replace("、", ",").split(",") if m.strip()]

        def work() -> tuple[str, list[str]]:
            with store.write() as s:
                area = save_area(s, code, name, kind, members)
                return area.code, [m.code for m in area.municipalities]

        code_, members_ = run_guarded(work)
        out.print(f"地域「{code_}」を登録しました: {', '.join(members_)}")


def run_cmd(
    area: str = typer.Option(
        ..., "--area", help="地域コード (都道府県2桁・市区町村コード・登録済みの地域)"
    ),
    mode: str = typer.Option("optimal", "--mode", help="optimal | greedy | stable"),
    max_km: MaxKmOption = MAX_KM_DEFAULT,
    max_new_partners: MaxNewPartnersOption = 2,
    road_factor: RoadFactorOption = 1.0,
    time_limit: TimeLimitOption = None,
    skip_unknown: SkipUnknownOption = False,
    prefer_infection: PreferInfectionOption = 0.0,
    count_sites: CountSitesOption = False,
    prefer_corporation: PreferCorporationOption = False,
    round_strategy: str = typer.Option(
        "none",
        "--round-strategy",
        help="依頼の出し方: none (計画どおり) | reserve (義務施設を満たさない依頼は次の回に) | "
        "backups (代わりの少ない組み合わせに条件付き依頼を添える) | reserve+backups (初回向け) | "
        "hold (義務施設への受入可は再計算まで保留) | "
        "reserve+hold (初回向け: 目標を満たす組み合わせ)",
    ),
    release: list[int] = typer.Option(
        [], "--release", help="打診中の提案を解放する (提案ID、複数可)"
    ),
    actor: str | None = typer.Option(None, "--actor", help="実行者 (履歴に残ります)"),
    note: str = typer.Option("", "--note", help="メモ"),
    out_dir: Path | None = typer.Option(None, "--out", help="結果ファイルも書き出すフォルダ"),
    wait: float | None = typer.Option(
        None, "--wait", help="同じ地域の計算が実行中のとき待つ秒数 (既定 10 秒)"
    ),
    replace_other_areas: bool = typer.Option(
        False,
        "--replace-other-areas",
        help="他の地域の計算が同じ施設に出した提案も、この計算で取り下げてよい",
    ),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """地域の現状 (届出・合意・辞退) を踏まえて再計画し、計算と提案をデータベースに保存します。

    同じ地域の計算は一度に一つだけです。計算中に辞退・合意された提案は保存の前に読み直して反映し
    ます。"""
    from ..store.planning import run_plan
    from ..store.run_write import PlanReport

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
    params = run_guarded(
        lambda: dataclasses.replace(params, round_strategy=round_strategy)  # type: ignore[arg-type]
    )
    with open_store_checked(url) as store:

        def work() -> PlanReport:
            return run_plan(
                store,
                area,
                params,
                mode,  # type: ignore[arg-type]
                _actor(actor),
                release,
                note,
                lock_wait=wait,
                replace_other_areas=replace_other_areas,
            )

        report = run_guarded(work)
        print_summary(report.result)
        prev = (
            f"前回の計算 {report.previous_run_id} と比べて"
            if report.previous_run_id
            else "初回の計算:"
        )
        out.print(
            f"[bold]計算 {report.run_id}[/] を保存しました (地域 {report.area_code})。{prev} "
            f"新規 {len(report.of('new'))} 件、継続 {len(report.of('kept'))} 件、取り下げ "
            f"{len(report.of('dropped'))} 件"
        )
        if params.round_strategy != "none":
            from ..store.models import RunRow
            from ..vocab import RoundStrategy

            with store.read() as s:
                run = s.get(RunRow, report.run_id)
                said = "" if run is None else run.message
            out.print(f"  依頼の出し方: {RoundStrategy(params.round_strategy).label_ja} — {said}")
        for c in report.of("released"):
            out.print(f"  解放: 提案 {c.proposal_id} ({c.facility_id} × {c.institution_id})")
        if report.other_area_count:
            out.print(
                f"  {'、'.join(report.other_areas.values())}の提案 "
                f"{report.other_area_count} 件を取り下げました"
            )
        if report.unplanned:
            err.print(
                "[yellow]計算中に辞退された組み合わせを除きました。次の施設はもう一度計算して"
                f"ください: {'、'.join(report.unplanned)}[/]"
            )
        if out_dir is not None:
            from ..sources.result_files import write_result

            run_guarded(write_result, report.state.instance, report.result, out_dir)
            out.print(f"結果を書き出しました: {out_dir.resolve()}")


@proposals_app.command("list")
def proposals_list_cmd(
    area: str | None = typer.Option(None, "--area", help="地域コード"),
    status: str | None = typer.Option(
        None, "--status", help="proposed,contacted,agreed,declined,withdrawn (カンマ区切り)"
    ),
    facility: str | None = typer.Option(None, "--facility", help="施設ID"),
    institution: str | None = typer.Option(None, "--institution", help="医療機関ID"),
    run: int | None = typer.Option(None, "--run", help="計算ID (その計算の提案)"),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """提案を一覧します (ID と版は状態の変更に使います)。"""
    from rich.table import Table

    from ..store.proposals import list_proposals

    with open_store_checked(url) as store:
        statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None

        def work() -> list[ProposalView]:
            with store.read() as s:
                return list_proposals(s, area, statuses, facility, institution, run)

        rows = run_guarded(work)
        table = Table("ID", "版", "状態", "施設", "医療機関", "要件", "距離km", "更新者")
        for p in rows:
            table.add_row(
                str(p.id),
                str(p.version),
                p.status_ja,
                f"{p.facility_id} {p.facility_name}",
                f"{p.institution_id} {p.institution_name}",
                p.covers,
                f"{p.distance_km:.1f}",
                p.updated_by,
            )
        out.print(table)
        out.print(f"{len(rows)} 件")


@proposals_app.command("set-status")
def proposals_set_status_cmd(
    proposal_id: int = typer.Argument(..., help="提案ID"),
    status: str = typer.Argument(..., help="contacted | agreed | declined | withdrawn"),
    version: int = typer.Option(
        ..., "--version", help="一覧で見た版 (他の人の更新を上書きしないため)"
    ),
    actor: str | None = typer.Option(None, "--actor", help="変更者 (履歴に残ります)"),
    note: str = typer.Option("", "--note", help="メモ (電話の内容など)"),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """提案の状態を変更します。版が古いと変更せずにエラーになります (終了コード 3)。"""
    from ..store.errors import ConflictError
    from ..store.proposal_commands import STATUS_LABELS_JA, set_status

    with open_store_checked(url) as store:

        def work() -> tuple[str, int]:
            try:
                with store.write() as s:
                    p = set_status(s, proposal_id, status, version, _actor(actor), note)  # type: ignore[arg-type]
                    return p.status, p.version
            except ConflictError as exc:
                err.print(f"[bold red]競合:[/] {exc}", highlight=False)
                raise typer.Exit(3) from None

        new_status, new_version = run_guarded(work)
        out.print(
            f"提案 {proposal_id} を「{STATUS_LABELS_JA[new_status]}」にしました (新しい版: "
            f"{new_version})"
        )


@proposals_app.command("history")
def proposals_history_cmd(
    proposal_id: int = typer.Argument(..., help="提案ID"),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """提案の変更履歴 (誰が・いつ・何から何へ・メモ) を表示します。"""
    from ..store.proposal_commands import STATUS_LABELS_JA
    from ..store.proposals import proposal_history

    with open_store_checked(url) as store:

        def work() -> list[ProposalHistoryRow]:
            with store.read() as s:
                return proposal_history(s, proposal_id)

        for h in run_guarded(work):
            before = STATUS_LABELS_JA.get(h.from_status or "", "(新規)")
            out.print(
                f"{h.at:%Y-%m-%d %H:%M:%S} {h.actor}: {before} → {STATUS_LABELS_JA[h.to_status]} "
                f"(版 {h.version}) {h.note}",
                highlight=False,
            )


def export_cmd(
    area: str = typer.Option(..., "--area", help="地域コード"),
    out_path: Path = typer.Option(
        Path("export"), "--out", help="出力先 (.xlsx なら Excel、それ以外は CSV のフォルダ)"
    ),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """地域の現状 (施設の状況・提案・医療機関の受入枠) を CSV (BOM付き) または Excel に書き出します
    。"""
    from ..store.export import state_frames, write_export

    with open_store_checked(url) as store:

        def work() -> list[Path]:
            with store.read() as s:
                return write_export(state_frames(s, area), out_path)

        for path in run_guarded(work):
            out.print(f"書き出しました: {path.resolve()}")


def register(app: typer.Typer) -> None:
    """Add ``db``, ``run``, ``proposals`` and ``export`` to the main ``kyoryoku`` app."""
    app.add_typer(db_app, name="db")
    app.add_typer(proposals_app, name="proposals")
    app.command("run")(run_cmd)
    app.command("export")(export_cmd)
