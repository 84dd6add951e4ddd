"""``kyoryoku serve`` and ``kyoryoku users``: the web service and its users (added to the command li
ne by the ``kyoryoku.cli`` entry point)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from matcher.vocab import AreaKind

if TYPE_CHECKING:
    from .users import User

T = TypeVar("T")

users_app = typer.Typer(help="Web のユーザー管理", no_args_is_help=True)

SAMPLE_AREAS: tuple[tuple[str, str, AreaKind, list[str]], ...] = (
    # code, name, kind, members
    ("39", "高知県", AreaKind.PREFECTURE, ["39"]),
    (
        "kochi-chuo",
        "高知市・南国市・香南市 在宅医療連携拠点",
        AreaKind.RENKEI,
        ["39201", "39204", "39211"],
    ),
)
DEMO_USER = "demo"


def _guard(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Errors in user data or options become Japanese messages and exit code 2 (see cli)."""
    from matcher.cli.common import run_guarded

    return run_guarded(fn, *args, **kwargs)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="ユーザー名"),
    role: str = typer.Option("coordinator", "--role", help="prefecture | coordinator | viewer"),
    scope: list[str] = typer.Option(
        ..., "--scope", help="担当地域: 都道府県コード2桁または市区町村コード (複数可)"
    ),
    password: str | None = typer.Option(None, "--password", help="省略すると生成して表示します"),
    display_name: str = typer.Option("", "--name", help="表示名"),
    database_url: str | None = typer.Option(
        None, "--database-url", help="既定: KYORYOKU_DATABASE_URL または ./kyoryoku.db"
    ),
) -> None:
    """ユーザーを作成します (既にいればパスワード・役割・担当地域を更新)。"""
    from matcher.cli.common import out

    pw = password or secrets.token_urlsafe(12)
    user = _guard(_add_user, database_url, username, pw, role, scope, display_name)
    out.print(
        f"ユーザー {user.username} ({user.role_ja}、担当: {'、'.join(user.scope)}) を保存しました"
    )
    if password is None:
        out.print(f"  パスワード: {pw}")


def _add_user(
    database_url: str | None,
    username: str,
    password: str,
    role: str,
    scope: list[str],
    display_name: str,
) -> User:
    from matcher.store.db import open_store

    from .users import add_user

    store = open_store(database_url, upgrade=True)
    with store.write() as s:
        return add_user(s, username, password, role, scope, display_name, actor="cli")


@users_app.command("list")
def users_list(database_url: str | None = typer.Option(None, "--database-url")) -> None:
    """ユーザーの一覧を表示します。"""
    from matcher.cli.common import out
    from matcher.store.db import open_store

    from .users import list_users

    store = open_store(database_url, upgrade=True)
    with store.read() as s:
        for u in list_users(s):
            out.print(f"{u.username}\t{u.role}\t{','.join(u.scope)}\t{u.display_name}")


@users_app.command("revoke")
def users_revoke(
    username: str = typer.Argument(..., help="ユーザー名"),
    database_url: str | None = typer.Option(None, "--database-url"),
) -> None:
    """ユーザーのログイン中のセッションをすべて終了します (端末の紛失・退職のときなど)。"""
    from matcher.cli.common import out

    ended = _guard(_revoke, database_url, username)
    out.print(f"ユーザー {username} のセッションを {ended} 件終了しました")


def _revoke(database_url: str | None, username: str) -> int:
    from matcher.store.db import open_store

    from .users import revoke_all_sessions

    store = open_store(database_url, upgrade=True)
    try:
        with store.write() as s:
            return revoke_all_sessions(s, username)
    finally:
        store.dispose()


def load_sample(
    database_url: str | None, sample_dir: Path, demo_password: str | None = None
) -> str:
    """Import the bundled sample, define its areas, create the demo users, plan the 連携拠点 area.
    Returns the demo coordinator's password."""
    from matcher.sources.simple_csv import load_facilities, load_institutions
    from matcher.store.areas import save_area
    from matcher.store.db import open_store
    from matcher.store.imports import import_simple
    from matcher.store.planning import run_plan
    from matcher.store.proposals import list_proposals

    from .users import add_user

    store = open_store(database_url, upgrade=True)
    facs = load_facilities(sample_dir / "facilities.csv").items
    insts = load_institutions(sample_dir / "institutions.csv").items
    password = demo_password or secrets.token_urlsafe(9)
    with store.write() as s:
        import_simple(s, facs, insts, source="sample")
        for code, name, kind, members in SAMPLE_AREAS:
            save_area(s, code, name, kind, members)
        add_user(
            s,
            DEMO_USER,
            password,
            "coordinator",
            SAMPLE_AREAS[1][3],
            "デモ コーディネーター",
            actor="setup",
        )
        add_user(s, "demo-pref", password, "prefecture", ["39"], "デモ 県担当", actor="setup")
        add_user(
            s, "demo-viewer", password, "viewer", SAMPLE_AREAS[1][3], "デモ 閲覧", actor="setup"
        )
        planned = bool(list_proposals(s, SAMPLE_AREAS[1][0]))  # e.g. `kyoryoku run --area 39`
    if not planned:
        run_plan(store, SAMPLE_AREAS[1][0], actor="setup", note="サンプルの初回計算")
    store.dispose()
    return password


def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    database_url: str | None = typer.Option(
        None, "--database-url", help="既定: KYORYOKU_DATABASE_URL または ./kyoryoku.db"
    ),
    sample: Path | None = typer.Option(
        None,
        "--sample",
        help="サンプルデータのフォルダ (例: data/sample) を取り込み、デモユーザーを作成",
    ),
    demo_password: str | None = typer.Option(
        None, "--demo-password", help="デモユーザーのパスワード (省略時は生成)"
    ),
    tiles_url: str | None = typer.Option(
        None, "--tiles-url", help="背景地図タイルの URL (既定: 地理院タイル、空文字で背景なし)"
    ),
) -> None:
    """Web 画面と API を起動します (http://HOST:PORT、API 仕様は /docs)。"""
    from matcher.cli.common import out

    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the installation
        from matcher.cli.common import err

        err.print("[bold red]uvicorn がインストールされていません[/] (pip install uvicorn)")
        raise typer.Exit(2) from None
    if sample is not None:
        pw = _guard(load_sample, database_url, sample, demo_password)
        out.print(
            f"サンプルを読み込みました。デモ ユーザー: [bold]{DEMO_USER}[/] / パスワード: [bold]"
            f"{pw}[/] "
            f"(県担当: demo-pref、閲覧: demo-viewer、同じパスワード)"
        )
    from .main import create_app

    app = _guard(create_app, database_url, tiles_url=tiles_url)
    out.print(f"http://{host}:{port}/ で起動します (終了は Ctrl+C)")
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``users`` to the ``kyoryoku`` command line."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
