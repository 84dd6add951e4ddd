"""The ``kyoryoku report`` command: every report of a stored run (``kyoryoku report RUN``) or of
a match run on CSV files (``--facilities``/``--institutions``), with a progress bar.

matplotlib, jinja2, the PDF printer and SQLAlchemy are imported inside the command so that
``kyoryoku match`` does not load them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from ..wareki import today as today_jp
from .common import (
    MAX_KM_DEFAULT,
    URL_HELP,
    MaxKmOption,
    MaxNewPartnersOption,
    ReplyByOption,
    RoadFactorOption,
    SenderAddressOption,
    SenderEmailOption,
    SenderPersonOption,
    SenderPhoneOption,
    SkipUnknownOption,
    TimeLimitOption,
    err,
    fail,
    load_instance,
    match_params,
    out,
    parse_date,
    print_summary,
    progress_bar,
    run_guarded,
    sender_of,
)
from .store import open_store_checked

if TYPE_CHECKING:
    from rich.progress import TaskID

    from ..model import Instance
    from ..progress import Progress as FilingYears
    from ..reports.sender import Sender
    from ..result import MatchResult
    from ..store.report_input import RunInput

# The option that sets each sender field (named in the error when one is missing).
SENDER_OPTIONS = {
    "organisation": "--sender-org",
    "person": "--sender-person",
    "phone": "--sender-phone",
    "email": "--sender-email",
    "address": "--sender-address",
    "reply_by": "--reply-by",
    "reply_method": "--reply-method",
    "document_number": "--document-number",
}


def _check_pdf(pdf: str, modes: tuple[str, ...]) -> None:
    if pdf not in modes:
        raise ValueError(f"不明な PDF の指定「{pdf}」(使えるのは {', '.join(modes)})")


def report_cmd(
    ctx: typer.Context,
    run: int | None = typer.Argument(
        None, metavar="RUN", help="計算ID (保存した計算の帳票を作る)", show_default=False
    ),
    facilities: Path | None = typer.Option(
        None, "--facilities", help="施設一覧 CSV (計算IDを省略したとき)"
    ),
    institutions: Path | None = typer.Option(
        None, "--institutions", help="医療機関一覧 CSV (計算IDを省略したとき)"
    ),
    out_dir: Path = typer.Option(Path("out/reports"), "--out", help="出力フォルダ"),
    mode: str = typer.Option("optimal", "--mode", help="optimal | greedy | stable"),
    max_km: MaxKmOption = MAX_KM_DEFAULT,
    max_new_partners: MaxNewPartnersOption = 2,
    road_factor: RoadFactorOption = 1.0,
    time_limit: TimeLimitOption = None,
    skip_unknown: SkipUnknownOption = False,
    pdf: str = typer.Option(
        "each",
        "--pdf",
        help="each (まとめた PDF と1通ずつの PDF) | bundle (まとめた PDF のみ) | none",
    ),
    sender_org: str = typer.Option(
        "", "--sender-org", help="発信者 (例: 高知県 子ども・福祉政策部 長寿社会課長)"
    ),
    sender_person: SenderPersonOption = "",
    sender_phone: SenderPhoneOption = "",
    sender_email: SenderEmailOption = "",
    sender_address: SenderAddressOption = "",
    reply_by: ReplyByOption = None,
    reply_method: str = typer.Option(
        "", "--reply-method", help="回答方法 (例: 同封の回答票をメールで)"
    ),
    document_number: str = typer.Option(
        "",
        "--document-number",
        help="文書番号 ({n} に1通ずつの連番: 例 高長第{n}号。{n} がなければ全通同じ: 例 事務連絡)",
    ),
    number_start: int = typer.Option(1, "--number-start", help="文書番号の連番の最初の番号"),
    addressee: str = typer.Option(
        "head", "--addressee", help="宛名: head (○○病院 院長 様) | onchu (○○病院 御中)"
    ),
    allow_missing_sender: bool = typer.Option(
        False,
        "--allow-missing-sender",
        help="差出人・回答の項目が未設定でも作成する (文書に赤い【未設定】が残ります)",
    ),
    date: str | None = typer.Option(None, "--date", help="帳票の作成日 (YYYY-MM-DD、省略時は今日)"),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """会議・医療機関・施設向けの帳票 (Excel・CSV・HTML・PDF) を作成します。

    計算IDを指定するとデータベースに保存した計算の提案から、省略すると --facilities と
    --institutions の CSV でマッチングを実行して作成します。
    """
    from ..reports import PDF_MODES, STAGES_JA, write_reports

    run_guarded(_check_pdf, pdf, PDF_MODES)
    today = run_guarded(parse_date, date)
    # the --sender-* and --reply-* options reach the sender by name; Sender checks the addressee
    sender = run_guarded(sender_of, ctx.params, number_start=number_start, addressee=addressee)
    if run is None and (facilities is None or institutions is None):
        err.print(
            "[bold red]エラー:[/] 計算ID、または --facilities と --institutions の両方を指定してく"
            "ださい "
            "(例: kyoryoku report 3 --out out/reports)",
            highlight=False,
        )
        raise typer.Exit(2)
    if run is not None and (facilities is not None or institutions is not None):
        err.print(
            "[bold red]エラー:[/] 計算IDを指定したときは --facilities と --institutions は使えませ"
            "ん "
            "(入力はデータベースから読みます)",
            highlight=False,
        )
        raise typer.Exit(2)
    notes: tuple[str, ...] = ()
    filing_years = None
    if run is not None:
        instance, result, notes, filing_years = _stored_run(run, url)
        err.print(
            f"計算 {run} を読み込みました: 施設 {len(instance.facilities)} 件、"
            f"医療機関 {len(instance.institutions)} 件、提案 {len(result.proposals)} 件"
        )
    else:
        params = match_params(max_km, max_new_partners, road_factor, time_limit, skip_unknown)
        instance = run_guarded(load_instance, facilities, institutions)
        err.print(
            f"読み込み: 施設 {len(instance.facilities)} 件、医療機関 {len(instance.institutions)} "
            "件"
        )
    # After the input (its errors come first), before the long work.
    _check_sender(sender, today or today_jp(), allow_missing_sender)
    with progress_bar() as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(
                    STAGES_JA.get(stage, "最適化中(施設)"), total=total or None
                )
            bar.update(tasks[stage], completed=done, total=total or None)

        if run is None:
            from ..match import match

            # Filed partners are never proposed as new ones: ``match`` leaves them out.
            result = run_guarded(match, instance, params, mode, None, progress)
        files = run_guarded(
            write_reports,
            instance,
            result,
            out_dir,
            progress,
            today,
            pdf,
            notes,
            sender,
            filing_years=filing_years,
        )
    print_summary(result)
    out.print(f"帳票を書き出しました: {out_dir.resolve()}")
    out.print(
        f"  目次 {files.files['index'].name} ・ Excel {files.files['workbook'].name} ・ PDF "
        f"{len(files.pdfs)} 件"
    )
    out.print(f"  医療機関への依頼 {len(files.institution_pages)} 件 (institutions/)")
    out.print(f"  施設へのお知らせ {len(files.facility_pages)} 件 (facilities/)")
    for note in files.notes:
        err.print(f"[yellow]注意:[/] {note}", highlight=False)


def _check_sender(sender: Sender, letter_date: dt.date, allow_missing: bool) -> None:
    """Exit with code 2, every problem on its own line, when the letters could not be sent as
    they are: a reply deadline before the letter's date or already past, or (unless
    ``allow_missing``) a sender field not given."""
    from ..reports.sender import FIELD_LABELS_JA, SenderError

    try:
        sender.check(letter_date, allow_missing=allow_missing)
    except SenderError as exc:
        lines = list(exc.problems)
        if exc.missing:
            options = {FIELD_LABELS_JA[f]: o for f, o in SENDER_OPTIONS.items()}
            given = "、".join(f"{m} ({options[m]})" for m in exc.missing)
            lines[-1] = (
                f"差出人・回答の項目が未設定です: {given}。指定するか、--allow-missing-sender で"
                "【未設定】と表示したまま作成してください"
            )
        for line in lines[:-1]:
            err.print(f"[bold red]エラー:[/] {escape(line)}", highlight=False, soft_wrap=True)
        fail(lines[-1], 2)


def _stored_run(
    run_id: int, url: str | None
) -> tuple[Instance, MatchResult, tuple[str, ...], FilingYears | None]:
    """Instance, result, notes and the area's progress over 年度 of stored run ``run_id`` (exit
    code 2 when it does not exist)."""
    from ..store.report_input import run_input

    with open_store_checked(url) as store:

        def work() -> RunInput:
            with store.read() as s:
                return run_input(s, run_id)

        got = run_guarded(work)
    return got.instance, got.result, got.notes, got.filing_years


def register(app: typer.Typer) -> None:
    """Add ``report`` to the main command line."""
    app.command("report")(report_cmd)
