"""What ``kyoryoku export`` writes can be imported back (``db import-csv``) unchanged: the
facilities, their filed coverage, the institutions, their offers and declared capacity."""

from __future__ import annotations

from store_fixtures import fac, inst

from matcher.sources.simple_csv import load_facilities, load_institutions
from matcher.store.db import open_store
from matcher.store.export import state_frames, write_export
from matcher.store.imports import import_simple
from matcher.store.planning import run_plan
from matcher.validate import FACILITY_COLUMNS, INSTITUTION_COLUMNS


def seed(store):
    facs = [
        fac("F1", dlat=0.001, covered=1, has_partner=True),  # partial, filed
        fac("F2", "tokuyo", dlat=-0.001, has_partner=False),  # no partner, filed
        fac("F3", "roken", dlon=0.002, has_partner=None),  # unknown: no filing
        fac("F4", "keihi", dlon=-0.002, covered=3, has_partner=True),  # all
    ]
    insts = [
        inst("H1", capacity=1),
        inst("H2", dlon=0.05, capacity=0),
        inst("C1", "clinic", dlat=0.03, offers=3),
        inst("H3", dlat=-0.02, offers=5),
    ]
    with store.write() as s:
        import_simple(s, facs, insts, 2025)


def frames_of(store):
    with store.read() as s:
        return state_frames(s, "39")


def test_export_imports_back_unchanged(store, tmp_path):
    seed(store)
    run_plan(store, "39")  # proposals in the export are not part of the round trip
    before = frames_of(store)
    written = write_export(before, tmp_path / "export")
    assert {p.name for p in written} >= {"facilities.csv", "institutions.csv"}
    facilities = load_facilities(tmp_path / "export" / "facilities.csv").items
    institutions = load_institutions(tmp_path / "export" / "institutions.csv").items
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}", upgrade=True)
    with fresh.write() as s:
        import_simple(s, facilities, institutions, 2025)
    after = frames_of(fresh)
    fresh.dispose()
    for table, columns in (
        ("facilities", list(FACILITY_COLUMNS)),
        ("institutions", list(INSTITUTION_COLUMNS)),
    ):  # the simple format's columns, the ones `db import-csv` reads
        a = before[table][columns].astype(str).reset_index(drop=True)
        b = after[table][columns].astype(str).reset_index(drop=True)
        assert a.equals(b), f"{table}:\n{a}\n---\n{b}"
    # the facilities' status before any agreement is the same on both sides
    assert list(after["facilities"]["status"]) == list(before["facilities"]["status"])
