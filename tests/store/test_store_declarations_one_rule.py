"""One rule for what a declaration means (``sources.declarations.declared_terms``): the file path
(``kyoryoku import declarations`` → ``institutions.csv`` → ``kyoryoku match``) and the store
(``kyoryoku db import declarations`` → ``institution_states``, what every page and the planner
read) give every institution the same offers and capacity — an unwilling one keeps its offers
with capacity 0, a blank capacity is not declared — and so the same plan with the same reasons,
on SQLite and PostgreSQL. Differential over every combination of kind, registry capacity,
willingness, stated capacity and stated offers."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

from sqlalchemy import select
from store_fixtures import fac, inst

from matcher.match import match
from matcher.model import Instance, Institution
from matcher.params import MatchParams
from matcher.sources.importing import import_files
from matcher.sources.simple_csv import (
    load_facilities,
    load_institutions,
    write_facilities,
    write_institutions,
)
from matcher.store.imports import import_simple
from matcher.store.models import InstitutionRow
from matcher.store.planning import run_plan
from matcher.store.source_imports import import_source
from matcher.store.state import institution_states
from matcher.vocab import Capability

D0, D1 = dt.date(2026, 4, 1), dt.date(2026, 5, 1)  # the registry's capacities, the declarations
PARAMS = MatchParams()


def region() -> tuple[list, list[Institution], str]:
    """Facilities, institutions and a declarations CSV: one institution per combination (far
    away, out of range) and HX, unwilling with its offers left blank, the only one near F1."""
    institutions, lines = [], ["institution_id,name,willing,capacity,offers"]
    grid = itertools.product(
        ["hospital", "clinic"], [None, 5], ["はい", "いいえ"], ["", "2"], ["", "①③"]
    )
    for k, (kind, registry_capacity, willing, capacity, offers) in enumerate(grid):
        iid = f"I{k:02d}"
        institutions.append(
            inst(
                iid,
                kind,
                dlat=1.0 + 0.01 * k,
                offers=7 if kind == "hospital" else 3,
                capacity=registry_capacity,
            )
        )
        lines.append(f"{iid},医療機関{iid},{willing},{capacity},{offers}")
    institutions.append(inst("HX", dlat=0.01, offers=7, capacity=4))
    institutions.append(inst("HN", dlat=1.5))  # declares nothing
    lines.append("HX,医療機関HX,いいえ,,")
    return [fac("F1"), fac("F2", "tokuyo", dlat=0.002)], institutions, "\n".join(lines) + "\n"


def terms(institutions) -> dict[str, tuple[int, int | None]]:
    return {i.institution_id: (i.offers, i.capacity) for i in institutions}


def _reasons(result) -> set[tuple[str, int, str]]:
    return {(u.facility_id, u.capability, u.reason) for u in result.unmatched}


def test_file_path_and_store_read_a_declaration_alike(db_url, tmp_path: Path):
    facilities, institutions, declared_csv = region()
    base, decl, out = tmp_path / "i.csv", tmp_path / "d.csv", tmp_path / "declared.csv"
    write_institutions(institutions, base)
    write_facilities(facilities, tmp_path / "f.csv")
    decl.write_text(declared_csv, encoding="utf-8")

    # the file path: kyoryoku import declarations, then what kyoryoku match reads
    import_files("declarations", [decl], out, institutions=base)
    files = load_institutions(out).items
    file_facilities = load_facilities(tmp_path / "f.csv").items
    by_file = terms(files)

    # the store: the registry with its capacities on D0, the declarations from D1
    from matcher.store.db import open_store

    store = open_store(db_url, upgrade=True)
    try:
        with store.write() as s:
            import_simple(s, facilities, institutions, 2025, D0)
            import_source(s, "declarations", [decl], declared_on=D1)
        with store.read() as s:
            states = institution_states(s, list(s.scalars(select(InstitutionRow))), D1)
        by_store = {iid: (st.offers, st.declared) for iid, st in states.items()}
        stored = run_plan(store, "39", PARAMS, on=D1, warm_start=False)
    finally:
        store.dispose()

    assert by_file == by_store
    # the rule itself, spelled out on a few rows
    assert by_file["HX"] == (7, 0)  # unwilling: offers kept, no new partner
    assert by_file["HN"] == (7, None)  # no declaration: the registry's, unlimited
    assert by_file["I05"] == (Capability.CONSULT | Capability.ADMIT, 0)  # いいえ, ①③
    assert by_file["I08"] == (7, None)  # はい, capacity blank over the registry's 5: not declared

    # the same plan and the same reasons: F1 and F2 have only HX in range, which takes no one
    cli = match(Instance.of(file_facilities, files), PARAMS, "optimal")
    assert _reasons(cli) == _reasons(stored.result)
    assert {u.reason for u in cli.unmatched} == {"capacity"}
    shown = {(a.facility_id, a.institution_id, a.remaining_capacity) for a in cli.alternatives}
    assert shown == {
        (a.facility_id, a.institution_id, a.remaining_capacity) for a in stored.result.alternatives
    }
    assert ("F1", "HX", 0) in shown
