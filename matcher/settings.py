"""Every ``KYORYOKU_*`` environment variable in one typed object (the README's settings table).

Read when asked (``get_settings()``), never at import, so that a test or a command can set the
environment first. Command-line options and ``create_app`` arguments override these values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
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
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Cookie の Secure 属性: auto は HTTPS で届いた要求にだけ付ける "
        "(プロキシ経由なら uvicorn の --proxy-headers と --forwarded-allow-ips を設定)、"
        "always (1) は常に、never (0) は付けない",
    )
    session_idle_seconds: int = Field(
        30 * 60, gt=0, description="最後の操作からこの秒数が過ぎたセッションは無効 (アイドル期限)"
    )
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, gt=0, description="取り込みでアップロードできる合計の大きさ (バイト)"
    )
    max_body_bytes: int = Field(
        1024 * 1024, gt=0, description="取り込み以外の要求本文の上限 (バイト)"
    )
    max_uncompressed_bytes: int = Field(
        200 * 1024 * 1024,
        gt=0,
        description="アップロードされた ZIP・gzip・Excel を展開した合計の上限 (バイト)",
    )
    allowed_origins: str = Field(
        "",
        description="変更の要求を受け付ける Origin (カンマ区切り、例 https://kyoryoku.example.lg.jp)。"
        "空なら要求の Host と同じ Origin のみ",
    )
    login_max_failures: int = Field(
        5, gt=0, description="同じアカウントでこの回数失敗すると一時ロック (以後失敗ごとに倍)"
    )
    login_address_max_failures: int = Field(
        20, gt=0, description="同じ接続元アドレスでこの回数失敗すると一時ロック"
    )
    login_lock_seconds: int = Field(30, gt=0, description="最初のロックの長さ (秒)")
    login_lock_max_seconds: int = Field(900, gt=0, description="ロックの最長 (秒)")
    intake_public: bool = Field(
        False,
        description="相談窓口の公開ページ (/soudan) を開く。開くとログインなしで誰でも施設名と"
        "市区町村を書いて相談・協力医療機関の変更を送れる (接続元ごとに 1 時間 5 件、全体で"
        "1 時間 100 件まで)。回答リンクからの相談窓口はこの設定によらず使える",
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
    report_dir: str = Field(
        "",
        description="作成した帳票一式 (ZIP) を保管するフォルダ。空なら OS の一時フォルダの "
        "kyoryoku-reports。同じ計算・同じ指定の帳票は次から即座に返す "
        "(取り込み・提案の内容の変更で作り直し、30 日使われないものは削除)",
    )
    test_pg_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        description="テスト専用: PostgreSQL のテストに使うサーバー",
    )

    @field_validator("secure_cookies", mode="before")
    @classmethod
    def _cookie_mode(cls, value: object) -> object:
        """1/true and 0/false (the older boolean spelling) mean always and never."""
        text = str(value).strip().lower()
        return {"1": "always", "true": "always", "0": "never", "false": "never", "": "auto"}.get(
            text, value
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
