"""A hand-made run for the report tests: five facilities, three institutions, known answer.

- F1 特養 (no partner) and F3 老健 (no filing) can only get ③ from H1 (capacity 2): both go to H1.
- F2 グループホーム has ① and lacks ②: the clinic C1, 1 km away, gives it.
- F4 特養 in 檮原町 lacks ③ and no hospital is within 30 km: H2 is the nearest (40 km).
- F5 ケアハウス already has everything: it gets no notice.
"""

from __future__ import annotations

import os
import shutil
from datetime import date

import numpy as np
import pytest

from matcher.match import match
from matcher.model import Facility, Instance, Institution
from matcher.result import MatchResult

BASE_LAT, BASE_LON = 33.56, 133.53
TODAY = date(2026, 4, 1)  # 364 days before 2027-03-31
KOCHI, YUSUHARA = "392014", "394050"


def at_km(north: float, east: float) -> tuple[float, float]:
    return (
        BASE_LAT + north / 111.195,
        BASE_LON + east / (111.195 * float(np.cos(np.radians(BASE_LAT)))),
    )


def _fac(
    fid: str,
    name: str,
    kind: str,
    north: float,
    east: float,
    covered: int,
    has_partner: bool | None,
    muni: str = KOCHI,
) -> Facility:
    lat, lon = at_km(north, east)
    town = "高知市" if muni == KOCHI else "檮原町"
    return Facility(
        fid, name, kind, lat, lon, covered, has_partner, muni, f"高知県{town}本町{fid[1:]}-1"
    )


def _inst(
    iid: str, name: str, kind: str, north: float, east: float, offers: int, capacity: int | None
) -> Institution:
    lat, lon = at_km(north, east)
    return Institution(
        iid, name, kind, lat, lon, offers, capacity, KOCHI, f"高知県高知市中央{iid[1:]}-2"
    )


def instance() -> Instance:
    return Instance.of(
        [
            _fac("F1", "特養さくら", "tokuyo", 1, 1, 0, False),
            _fac("F2", "グループホームあおば", "gh", 3, 0, 0b001, True),
            _fac("F3", "老健みどり", "roken", -1, 0, 0, None),
            _fac("F4", "特養やまびこ", "tokuyo", 0, 100, 0b011, True, YUSUHARA),
            _fac("F5", "ケアハウスつばき", "keihi", 0.5, 0.5, 0b011, True),
        ],
        [
            _inst("H1", "高知中央病院", "hospital", 0, 0, 0b111, 2),
            _inst("C1", "はりまやクリニック", "clinic", 2, 0, 0b011, None),
            _inst("H2", "四万十遠方病院", "hospital", 0, 60, 0b100, 5),
        ],
    )


def run() -> tuple[Instance, MatchResult]:
    inst = instance()
    return inst, match(inst)


def pdf_tools_or_skip() -> None:
    """Skip (visibly) when no PDF backend or poppler is installed, except on CI where it fails."""
    from matcher.reports import find_chromium

    missing = [
        name
        for name, ok in (
            ("chromium", find_chromium()),
            ("pdftoppm", shutil.which("pdftoppm")),
            ("pdftotext", shutil.which("pdftotext")),
        )
        if not ok
    ]
    if missing:
        reason = (
            f"PDF を確認できません: {', '.join(missing)} がありません "
            "(apt-get install chromium poppler-utils)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def write(out, pdf: str = "none"):
    """Run the hand-made case and write its reports into ``out``: (instance, result, files)."""
    from matcher.reports import write_reports

    inst, result = run()
    stages: list[tuple[str, int, int]] = []
    files = write_reports(
        inst, result, out, progress=lambda *a: stages.append(a), today=TODAY, pdf=pdf
    )
    return inst, result, files, stages
