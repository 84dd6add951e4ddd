"""Settings: one typed object, read when asked, documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from matcher.settings import Settings, get_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [n for n in Settings.model_fields if f"`KYORYOKU_{n.upper()}`" not in text]
    assert missing == []


def test_settings_are_read_from_the_environment_when_asked(monkeypatch) -> None:
    monkeypatch.setenv("KYORYOKU_SESSION_SECONDS", "60")
    monkeypatch.setenv("KYORYOKU_DATABASE_URL", "sqlite:///x.db")
    got = get_settings()
    assert got.session_seconds == 60 and got.database_url == "sqlite:///x.db"
    monkeypatch.delenv("KYORYOKU_SESSION_SECONDS")
    assert get_settings().session_seconds == 8 * 3600


def test_a_bad_value_is_refused_with_its_name(monkeypatch) -> None:
    monkeypatch.setenv("KYORYOKU_SESSION_SECONDS", "-5")
    with pytest.raises(ValidationError, match="session_seconds"):
        get_settings()
