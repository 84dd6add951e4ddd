"""What ``prefer_infection_agreement`` changes on the bundled sample, and what it costs in km.

The sample region's registry files (``data/sample/registry``) are imported into a throwaway
SQLite store in the order of ``make run`` (kaigo + 養護/軽費, ナビイ, 厚生局名簿, 申出, 届出), so
that the 第二種協定 flags come from the filings as in production. The area 39 is then matched
from the store's state with each discount and compared with the default run: objective levels,
new partnerships to a 第二種協定指定医療機関, facilities that gain one, real km.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.infection import has_infection_partner, infection_ids
from matcher.match import match
from matcher.params import MatchParams
from matcher.store.db import open_store
from matcher.store.planner_input import AreaState, load_state
from matcher.store.source_imports import import_source

REG = Path(__file__).resolve().parents[1] / "data" / "sample" / "registry"


def import_sample(url: str) -> None:
    """The sample registry into the store at ``url`` (filings of 年度 2025)."""
    store = open_store(url, upgrade=True)
    steps = [
        ("kaigo", sorted((REG / "kaigo").glob("*.csv")), {"facilities": REG / "yogo_keihi.csv"}),
        ("navii", sorted((REG / "navii").glob("*.csv")), {}),
        ("kouseikyoku", sorted((REG / "kouseikyoku").glob("*.xlsx")), {}),
        ("declarations", sorted((REG / "declarations").glob("*.csv")), {}),
        ("filings", sorted((REG / "filings").glob("*.xlsx")), {"filing_year": 2025}),
    ]
    for source, files, options in steps:
        with store.write() as s:
            import_source(s, source, files, **options)  # type: ignore[arg-type]
    store.dispose()


def sample_state() -> AreaState:
    """Area 39's state (on 2025-06-01) from the sample registry imported into a throwaway store."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'sample.db'}"
        import_sample(url)
        store = open_store(url)
        with store.read() as s:
            state = load_state(s, "39", on=dt.date(2025, 6, 1), create_area=True)
        store.dispose()
    return state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--discounts", default="0.1,0.25,0.5,0.75")
    args = ap.parse_args()
    state = sample_state()
    inst = state.instance
    flagged = infection_ids(inst.institutions)
    have = sum(has_infection_partner(f, flagged) for f in inst.facilities)
    hospitals = sum(i.kind == "hospital" for i in inst.institutions if i.institution_id in flagged)
    print(f"施設 {len(inst.facilities)}・医療機関 {len(inst.institutions)}")
    print(f"第二種協定 {len(flagged)} (病院 {hospitals})、それを協力医療機関に持つ施設 {have}")
    rows = []
    for d in [0.0, *(float(x) for x in args.discounts.split(","))]:
        r = match(
            inst, MatchParams(prefer_infection_agreement=d), "optimal", forbidden=state.forbidden
        )
        o = r.objective
        to_flagged = [p for p in r.proposals if p.institution_id in flagged]
        gaining = {p.facility_id for p in to_flagged}
        gained = sum(
            1
            for f in inst.facilities
            if f.facility_id in gaining and not has_infection_partner(f, flagged)
        )
        rows.append((d, o, len(to_flagged), gained, r.info.proven_optimal))
    base = rows[0][1]
    print("割引 | 義務 | 努力義務 | 組 | 提案 | km (実距離) | 差 km", end="")
    print(" | 第二種協定への提案 | 新たに持つ施設 | 証明")
    for d, o, n_flagged, gained, proven in rows:
        print(
            f"{d:.2f} | {o.mandatory_full} | {o.effort_full} | {o.pairs_covered} | "
            f"{o.partnerships} | {o.distance_km:.1f} | {o.distance_km - base.distance_km:+.1f} | "
            f"{n_flagged} | {gained} | {proven}"
        )


if __name__ == "__main__":
    main()
