"""A hand-made region of two prefectures with different area tables (issue 25).

高知県 takes the bundled 構想区域 (安芸 3901, 中央 3902, …); 徳島県 its own two-area table
(県南, 県北: names only, not the bundled three areas). The facilities lie in 安芸; points are
offsets in km from one base point (municipality codes, not places, decide membership).

Figures of 安芸 on ``TODAY``, worked out by hand (max km: ① 30, ② 16, ③ 30):

- F1 特養 室戸市 (0,0): filed ① with a partner → partial, missing ②③; its proposal to H1 (2 km)
  is 打診中 (pending ②③), so the planner counts it arranged.
- F2 GH 安芸市 (0,5): no partner, missing ①②; its proposal to H1 was declined; C1 (2.2 km).
- F3 老健 東洋町 (0,-5): all covered.
- F4 軽費 芸西村 (5,0): no filing (④), missing ①②; proposed to C1; H1 5.4 km, C1 5 km.
- F5 特養 室戸市 (-100,0): filed ①②, missing ③; no hospital within 30 km (H1 100.0 km).
- F6, F8 特養 東洋町 (0,-40), (0,-41): no partner, missing ①②③; only T1 (徳島県 海陽町, 2 / 1 km,
  capacity 1) in range: one of them stays short, +1 capacity at T1 completes the other.
- F7 GH 芸西村 (0,60): no partner; only H2 (高知市 = 中央, 2 km).
- FT1 GH 徳島県 海陽町 (0,-43): no partner, missing ①②; T1 1 km (県南 area of 徳島県).

Institutions: H1 病院 安芸市 (0,2) ①②③ capacity 1; C1 診療所 安芸市 (1,3) ①② undeclared;
T1 病院 海陽町 (0,-42) ①②③ capacity 1; H2 病院 高知市 (0,62) ①②③ undeclared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from matcher.model import Facility, Institution
from matcher.reference_areas import TableRow, bundled_table, table_of_rows
from matcher.store.area_tables import save_table
from matcher.store.db import Store, open_store
from matcher.store.imports import import_simple
from matcher.store.proposal_commands import propose, set_status

TODAY = dt.date(2026, 4, 1)
SAMPLE = Path(__file__).resolve().parents[2] / "data/reference/ishikai_kochi_sample.csv"
DECLARED_ON = dt.date(2025, 4, 1)
LAT, LON = 33.4, 134.0


def at_km(north: float, east: float) -> tuple[float, float]:
    return LAT + north / 111.195, LON + east / (111.195 * np.cos(np.radians(LAT)))


def fac(
    fid: str, kind: str, code: str, north: float, east: float, covered: int, partner: bool | None
) -> Facility:
    lat, lon = at_km(north, east)
    return Facility(fid, f"施設{fid}", kind, lat, lon, covered, partner, code, "")


def inst(
    iid: str, kind: str, code: str, north: float, east: float, offers: int, cap: int | None
) -> Institution:
    lat, lon = at_km(north, east)
    return Institution(iid, f"医療機関{iid}", kind, lat, lon, offers, cap, code, "")


FACILITIES = [
    fac("F1", "tokuyo", "39202", 0, 0, 1, True),
    fac("F2", "gh", "39203", 0, 5, 0, False),
    fac("F3", "roken", "39301", 0, -5, 7, True),
    fac("F4", "keihi", "39307", 5, 0, 0, None),
    fac("F5", "tokuyo", "39202", -100, 0, 3, True),
    fac("F6", "tokuyo", "39301", 0, -40, 0, False),
    fac("F7", "gh", "39307", 0, 60, 0, False),
    fac("F8", "tokuyo", "39301", 0, -41, 0, False),
    fac("FT1", "gh", "36388", 0, -43, 0, False),
]
INSTITUTIONS = [
    inst("H1", "hospital", "39203", 0, 2, 7, 1),
    inst("C1", "clinic", "39203", 1, 3, 3, None),
    inst("T1", "hospital", "36388", 0, -42, 7, 1),
    inst("H2", "hospital", "39201", 0, 62, 7, None),
]

# 徳島県's own table: two areas by name (the bundled table has 東部, 南部, 西部).
TOKUSHIMA_SOUTH = ("36203", "36204", "36301", "36302", "36368", "36383", "36387", "36388")


def tokushima_rows() -> list[TableRow]:
    from matcher.reference import municipalities_of

    return [
        TableRow(k + 2, m.code5, "県南" if m.code5 in TOKUSHIMA_SOUTH else "県北")
        for k, m in enumerate(municipalities_of("徳島県"))
    ]


def build_scenario(store: Store) -> dict[str, int]:
    """Import the region, both area tables and the proposals; proposal ids by name."""
    with store.write() as s:
        import_simple(s, FACILITIES, INSTITUTIONS, 2025, declared_on=DECLARED_ON)
        save_table(s, bundled_table("高知県"))
        save_table(s, table_of_rows("kousou", tokushima_rows(), "tokushima.csv"))
    ids: dict[str, int] = {}
    with store.write() as s:
        p = propose(s, "F2", "H1", "test")
        ids["F2-H1"] = p.id
        set_status(s, p.id, "declined", p.version, "test", "受入困難")
        p = propose(s, "F1", "H1", "test")
        ids["F1-H1"] = p.id
        set_status(s, p.id, "contacted", p.version, "test")
        ids["F4-C1"] = propose(s, "F4", "C1", "test").id
    return ids


@pytest.fixture(name="scenario")
def scenario_fixture(tmp_path: Path) -> Iterator[tuple[Store, dict[str, int]]]:
    """The region in a fresh SQLite store (import as ``scenario_fixture``, use as
    ``scenario``)."""
    store = open_store(f"sqlite:///{tmp_path / 'areas.db'}", upgrade=True)
    ids = build_scenario(store)
    yield store, ids
    store.dispose()
