"""One "today": the day in Japan (``matcher.wareki.today``). Letters, declarations in force,
deadlines and the days to 2027-03-31 are all counted in JST; the server's own zone (UTC on
these machines: from 15:00 UTC Japan is on the next day) must never decide a date. Found in the
audit: at 15:47 UTC a letter was dated 12月6日 while its 回答票, counted in JST, said 12月7日."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from matcher import wareki

ROOT = Path(__file__).resolve().parents[2]


def _calls_date_today(path: Path) -> list[int]:
    """Lines of ``date.today()`` / ``dt.date.today()`` / ``datetime.now()`` without a zone."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if node.func.attr == "today" and name in ("date", "datetime"):
            lines.append(node.lineno)
        if node.func.attr == "now" and name == "datetime" and not node.args and not node.keywords:
            lines.append(node.lineno)
    return lines


def test_no_module_takes_the_servers_day() -> None:
    found = {
        str(p.relative_to(ROOT)): lines
        for package in ("matcher", "api")
        for p in sorted((ROOT / package).rglob("*.py"))
        if (lines := _calls_date_today(p))
    }
    assert found == {}, f"use matcher.wareki.today() (the day in Japan): {found}"


@pytest.mark.parametrize(
    ("utc", "day"),
    [
        (dt.datetime(2026, 12, 6, 14, 59, tzinfo=dt.UTC), dt.date(2026, 12, 6)),
        (dt.datetime(2026, 12, 6, 15, 0, tzinfo=dt.UTC), dt.date(2026, 12, 7)),
        (dt.datetime(2027, 3, 30, 15, 30, tzinfo=dt.UTC), dt.date(2027, 3, 31)),
    ],
)
def test_today_is_the_day_in_japan(monkeypatch, utc: dt.datetime, day: dt.date) -> None:
    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return utc.astimezone(tz) if tz else utc.replace(tzinfo=None)

    monkeypatch.setattr(wareki.dt, "datetime", Frozen)
    assert wareki.today() == day
