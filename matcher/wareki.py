"""Japanese era (和暦) dates as a prefecture writes them: 「令和8年12月6日」, 「令和6年度」.

Every date and 年度 a report prints goes through here, so a letter, the overview and the
workbook never disagree on how a day is written. Eras start on the day the new era began
(令和 on 2019-05-01, 平成 on 1989-01-08, 昭和 on 1926-12-25); the first year of an era is 元年.
"""

from __future__ import annotations

import datetime as dt

# (first day, name), newest first.
ERAS: tuple[tuple[dt.date, str], ...] = (
    (dt.date(2019, 5, 1), "令和"),
    (dt.date(1989, 1, 8), "平成"),
    (dt.date(1926, 12, 25), "昭和"),
)
WEEKDAYS_JA = "月火水木金土日"
# Japan Standard Time: the store keeps naive UTC; every time shown to a person is in JST.
JST = dt.timezone(dt.timedelta(hours=9), "JST")


def today() -> dt.date:
    """Today in Japan: the day every date the product prints, counts or compares is — a letter's
    date, the declaration in force, a reply deadline, the days to the deadline — whatever zone
    the server runs in (from 15:00 UTC, Japan is already on the next day)."""
    return dt.datetime.now(JST).date()


def day_of(moment: dt.datetime) -> dt.date:
    """The day in Japan of a stored time (naive UTC, or aware): what ``today`` said then."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(JST).date()


def jst(value: object, seconds: bool = False) -> str:
    """A stored time (naive UTC ``datetime`` or ISO text) in JST, ``2026-04-01 09:30``."""
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def era_of(day: dt.date) -> tuple[str, int]:
    """The era in force on ``day`` and the year within it (1 for 元年).

    Raises ``ValueError`` for a day before 昭和 (1926-12-25), which no report needs.
    """
    for start, name in ERAS:
        if day >= start:
            return name, day.year - start.year + 1
    raise ValueError(f"{day.isoformat()} は昭和より前の日付です(和暦に直せません)")


def _year_text(name: str, year: int) -> str:
    return f"{name}{'元' if year == 1 else year}年"


def wareki(day: dt.date, *, western: bool = False, weekday: bool = False) -> str:
    """``day`` as 「令和8年12月6日」.

    Parameters
    ----------
    day
        The date.
    western
        Add the Western year after the era year: 「令和8年(2026年)12月6日」.
    weekday
        Add the day of the week: 「令和8年5月15日(金)」 (as a reply deadline is written).
    """
    name, year = era_of(day)
    text = _year_text(name, year)
    if western:
        text += f"({day.year}年)"
    text += f"{day.month}月{day.day}日"
    if weekday:
        text += f"({WEEKDAYS_JA[day.weekday()]})"
    return text


def nendo(year: int, *, western: bool = False) -> str:
    """The fiscal year (April–March) that starts in ``year`` as 「令和6年度」.

    A fiscal year is named by the era in force for most of it, so FY2019 (April 2019, still
    平成31年, to March 2020) is 「令和元年度」, as documents written after the change name it.
    With ``western``: 「令和6年度(2024年度)」.
    """
    name, era_year = era_of(dt.date(year, 5, 1))
    text = f"{name}{'元' if era_year == 1 else era_year}年度"
    return f"{text}({year}年度)" if western else text
