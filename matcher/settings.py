"""Every ``KYORYOKU_*`` environment variable in one typed object (the README's settings table).

Read when asked (``get_settings()``), never at import, so that a test or a command can set the
environment first. Command-line options and ``create_app`` arguments override these values.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TILES = "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png"


class Settings(BaseSettings):
    """The service's settings; each field is read from ``KYORYOKU_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix="KYORYOKU_", extra="ignore")

    database_url: str = Field(
        "",
        description="データベース URL (SQLAlchemy 形式)。空なら作業フォルダの kyoryoku.db (SQLite)",
    )
    secret_key: str = Field(
        "",
        description="セッション署名の鍵。空なら起動ごとに乱数 (再起動でログアウト)。"
        "本番では必ず設定",
    )
    session_seconds: int = Field(
        8 * 3600, gt=0, description="ログインの有効期間 (秒、最終操作からではなくログインから)"
    )
    tiles_url: str = Field(
        DEFAULT_TILES,
        description="背景地図タイルの URL ({z}/{x}/{y})。空なら同梱の簡易地図のみ (LGWAN 等)",
    )
    secure_cookies: bool = Field(
        False, description="Cookie に Secure を付ける (HTTPS で公開するときは 1)"
    )
    run_lock_wait: float = Field(
        10.0, ge=0, description="同じ地域の計算が実行中のとき、次の計算が待つ最長時間 (秒)"
    )
    busy_timeout_ms: int = Field(
        10000, gt=0, description="SQLite: 他の書き込みの終了を待つ最長時間 (ミリ秒)"
    )
    chromium: str = Field(
        "", description="PDF 作成に使う Chromium の実行ファイル。空なら PATH から探す"
    )
    test_pg_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        description="テスト専用: PostgreSQL のテストに使うサーバー",
    )


def get_settings() -> Settings:
    """The settings as the environment says now (a new object each call; cheap)."""
    return Settings()


def settings_table_md() -> str:
    """The README's settings table, generated from the fields (so the two cannot drift)."""
    rows = ["| 環境変数 | 既定値 | 説明 |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default not in ("", None) else "(空)"
        rows.append(f"| `KYORYOKU_{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows)
