"""``kyoryoku areas``: reference areas (構想区域, 郡市医師会) in the store and their material.

- ``areas import`` stores a table: the bundled 構想区域 (``--bundled``, one prefecture or all), a
  prefecture's own 医療計画 table or its 郡市医師会 list (CSV or Excel; ``--kind ishikai``);
  the areas of that kind and prefecture the table no longer has are removed (``--keep`` keeps
  them; an area a run was made for is always kept);
- ``areas export`` writes the stored table in the same layout (edit it, import it again);
- ``areas list`` shows the stored areas with their facilities still short;
- ``areas report AREA --out DIR`` writes the area's 調整会議資料 (HTML, PDF, Excel) and, for a
  郡市医師会, the 協力依頼 letter with its reply form.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer

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
    err,
    fail,
    match_params,
    out,
    parse_date,
    run_guarded,
    sender_of,
)
from .store import open_store_checked

if TYPE_CHECKING:
    from ..gaps.area_view import AreaView
    from ..reference_areas import AreaTable, ReferenceKind
    from ..store.area_tables import TableSaved

areas_app = typer.Typer(
    help="構想区域・郡市医師会の区域 (取り込み・書き出し・調整会議資料)", no_args_is_help=True
)

KindOption = typer.Option(
    "kousou", "--kind", help="kousou (構想区域・二次医療圏) | ishikai (郡市医師会)"
)


def _kind(kind: str) -> ReferenceKind:
    from ..reference_areas import REFERENCE_KINDS

    if kind not in REFERENCE_KINDS:
        fail(f"不明な区域の種類「{kind}」(使えるのは {', '.join(REFERENCE_KINDS)})", 2)
    return cast("ReferenceKind", kind)


@areas_app.command("import")
def import_cmd(
    file: Path | None = typer.Argument(
        None, help="区域の表 (CSV/Excel: 市区町村コード と 二次医療圏・構想区域 または 郡市医師会)"
    ),
    kind: str = KindOption,
    bundled: bool = typer.Option(
        False, "--bundled", help="同梱の構想区域の表を使う (全国、または --prefecture の県)"
    ),
    prefecture: str | None = typer.Option(
        None, "--prefecture", help="都道府県 (名前または2桁コード) の区域だけ取り込む"
    ),
    keep: bool = typer.Option(False, "--keep", help="表にない同じ種類の区域を削除せずに残す"),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """区域の表をデータベースに登録します (同じ表の再取り込みは何も変えません)。"""
    from ..reference_areas import bundled_table
    from ..sources.area_tables import read_area_table
    from ..store.area_tables import save_table

    table_kind = _kind(kind)
    if bundled == (file is not None):
        fail("表のファイルか --bundled のどちらか一方を指定してください", 2)
    if bundled and table_kind != "kousou":
        fail("同梱の表は構想区域 (--kind kousou) だけです", 2)

    def load() -> AreaTable:
        table = bundled_table() if file is None else read_area_table(file, table_kind)
        return table.of_prefecture(prefecture) if prefecture else table

    table = run_guarded(load)
    for w in table.warnings:
        err.print(f"  {w}", markup=False, highlight=False)
    if not table.areas:
        fail(f"都道府県「{prefecture}」の区域が表にありません", 2)
    with open_store_checked(url) as store:

        def work() -> TableSaved:
            with store.write() as s:
                return save_table(s, table, prune=not keep)

        saved = run_guarded(work)
    split = table.shared()
    out.print(
        f"区域 {len(saved.saved)} 件を登録しました"
        f" (市区町村 {sum(len(a.members) for a in table.areas)} 件)",
        highlight=False,
    )
    if split:
        out.print(
            f"  二つ以上の区域にまたがる市区町村: {', '.join(sorted(split))}", highlight=False
        )
    if saved.removed:
        out.print(f"  表にない区域を削除しました: {', '.join(saved.removed)}", highlight=False)
    if saved.kept:
        out.print(
            f"  表にない区域のうち計算があるものは残しました: {', '.join(saved.kept)}",
            highlight=False,
        )


@areas_app.command("export")
def export_cmd(
    out_file: Path = typer.Option(..., "--out", help="書き出すファイル (.csv または .xlsx)"),
    kind: str = KindOption,
    prefecture: str | None = typer.Option(None, "--prefecture", help="都道府県 (名前または2桁)"),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """登録済みの区域の表を書き出します (編集して areas import で取り込み直せます)。"""
    from ..sources.area_tables import write_area_table
    from ..store.area_tables import stored_table

    table_kind = _kind(kind)
    with open_store_checked(url) as store:

        def work() -> AreaTable:
            with store.read() as s:
                return stored_table(s, table_kind, prefecture)

        table = run_guarded(work)
    path = run_guarded(write_area_table, table, out_file)
    out.print(f"区域 {len(table.areas)} 件を書き出しました: {path}", highlight=False)


@areas_app.command("list")
def list_cmd(
    kind: str | None = typer.Option(None, "--kind", help="kousou | ishikai (省略時はすべて)"),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """登録済みの区域と、要件が不足している施設の数を表示します。"""
    from ..store.area_tables import area_kind
    from ..store.areas import area_facilities, list_areas
    from ..store.state import facility_states

    with open_store_checked(url) as store:

        def work() -> list[tuple[str, str, str, int, int]]:
            rows = []
            with store.read() as s:
                for a in list_areas(s):
                    if kind and area_kind(a) != kind:
                        continue
                    states = facility_states(s, area_facilities(s, a))
                    short = sum(bool(st.missing) for st in states)
                    rows.append((a.code, a.name, area_kind(a), len(states), short))
            return rows

        rows = run_guarded(work)
    for code, name, k, n, short in rows:  # tab-separated (rich would expand the tabs)
        typer.echo(f"{code}\t{name}\t{k}\t施設 {n}\t不足 {short}")


@areas_app.command("report")
def report_cmd(
    ctx: typer.Context,
    area: str = typer.Argument(..., help="区域のコード (例: kousou-3902、areas list で確認)"),
    out_dir: Path = typer.Option(..., "--out", help="出力フォルダ"),
    whatif: bool = typer.Option(
        True, "--whatif/--no-whatif", help="何があれば埋まるか (受入枠・診療所の新設) を計算する"
    ),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="PDF も作成する (Chromium が必要)"),
    letter: bool | None = typer.Option(
        None, "--letter/--no-letter", help="医師会への協力依頼文 (既定: 郡市医師会の区域なら作成)"
    ),
    max_km: MaxKmOption = MAX_KM_DEFAULT,
    max_new_partners: MaxNewPartnersOption = 2,
    road_factor: RoadFactorOption = 1.0,
    site_capacity: int = typer.Option(
        5, "--site-capacity", help="新設する在宅療養支援診療所の受入施設数 (what-if)"
    ),
    sender_org: str = typer.Option("", "--sender-org", help="発信者 (依頼文)"),
    sender_person: SenderPersonOption = "",
    sender_phone: SenderPhoneOption = "",
    sender_email: SenderEmailOption = "",
    sender_address: SenderAddressOption = "",
    reply_by: ReplyByOption = None,
    reply_method: str = typer.Option("", "--reply-method", help="回答方法"),
    document_number: str = typer.Option("", "--document-number", help="文書番号"),
    date: str | None = typer.Option(None, "--date", help="作成日 (YYYY-MM-DD、省略時は今日)"),
    url: str | None = typer.Option(None, "--db", help=URL_HELP),
) -> None:
    """区域の調整会議資料 (HTML・PDF・Excel) と、郡市医師会には協力依頼文を作成します。"""
    from ..reports.meeting import write_meeting
    from ..store.area_report import area_report_of
    from ..store.areas import get_area

    params = match_params(max_km, max_new_partners, road_factor)
    today = run_guarded(parse_date, date) or today_jp()
    sender = run_guarded(sender_of, ctx.params, addressee="onchu")  # the options, by name
    with open_store_checked(url) as store:

        def work() -> AreaView:
            with store.read() as s:
                a = get_area(s, area)
                return area_report_of(s, a, params, today, whatif, site_capacity)

        view = run_guarded(work)
    files = run_guarded(write_meeting, view, out_dir, pdf, sender, letter, today)
    short = len(view.short)
    out.print(
        f"{view.area.name}: 施設 {view.n_facilities} 件、不足 {short} 件、"
        f"範囲内に医療機関なし {len({r.facility_id for r in view.uncoverable})} 件、"
        f"広域 {len(view.cross)} 件",
        highlight=False,
    )
    for path in (files.html, files.pdf, files.xlsx, files.letter_html, files.letter_pdf):
        if path is not None:
            out.print(f"  {path}", highlight=False)
    err.print(files.note, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``areas``."""
    app.add_typer(areas_app, name="areas")
