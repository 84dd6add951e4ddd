"""Reference areas in the store (SQLite and PostgreSQL): kept as ordinary areas of municipality
codes, no migration; two prefectures with different tables live side by side."""

from __future__ import annotations

from areas_support import TODAY, scenario_fixture, tokushima_rows  # noqa: F401

from matcher.reference_areas import TableRow, bundled_table, table_of_rows
from matcher.store.area_tables import (
    area_kind,
    reference_rows,
    same_kind_areas,
    save_table,
    stored_table,
)
from matcher.store.areas import area_codes, get_area, visible_areas
from matcher.store.planning import run_plan
from matcher.vocab import CodeSet


def test_tables_of_two_prefectures_are_stored_and_read_back(store) -> None:
    kochi = bundled_table("高知県")
    tokushima = table_of_rows("kousou", tokushima_rows(), "tokushima.csv")
    with store.write() as s:
        assert save_table(s, kochi).saved == [a.key for a in kochi.areas]
        save_table(s, tokushima)
    with store.read() as s:
        assert stored_table(s, "kousou", "高知県") == kochi
        assert stored_table(s, "kousou", "36") == tokushima
        assert [a.code for a in reference_rows(s, "kousou")] == sorted(
            [a.key for a in kochi.areas] + ["kousou-36-県北", "kousou-36-県南"]
        )
        aki = get_area(s, "kousou-3901")
        # Stored as a 構想区域 of its own (revision 0010; stored as renkei before).
        assert (aki.kind, area_kind(aki), aki.name) == ("kousou", "kousou", "安芸(構想区域)")
        assert area_codes(aki) == CodeSet.of(kochi.areas[0].members)
        assert [a.code for a in same_kind_areas(s, aki)][:3] == [
            "kousou-36-県北",
            "kousou-36-県南",
            "kousou-3902",
        ]
        # A user sees an area only when it lies wholly within the scope.
        assert [a.code for a in visible_areas(s, CodeSet.of(["36"]))] == [
            "kousou-36-県北",
            "kousou-36-県南",
        ]


def test_importing_again_replaces_only_that_prefecture_and_kind(store) -> None:
    with store.write() as s:
        save_table(s, bundled_table("高知県"))
        save_table(s, table_of_rows("kousou", tokushima_rows(), "t.csv"))
        save_table(s, table_of_rows("ishikai", [TableRow(2, "39201", "高知市医師会")], "i.csv"))
    merged = [TableRow(2, "39201", "高知", "3900"), TableRow(3, "39202", "高知", "3900")]
    with store.write() as s:
        done = save_table(s, table_of_rows("kousou", merged, "kochi.csv"))
    assert done.saved == ["kousou-3900"]
    assert done.removed == ["kousou-3901", "kousou-3902", "kousou-3903", "kousou-3904"]
    with store.read() as s:
        assert [a.code for a in reference_rows(s, "kousou")] == [
            "kousou-36-県北",
            "kousou-36-県南",
            "kousou-3900",
        ]
        assert [a.code for a in reference_rows(s, "ishikai")] == ["ishikai-39-高知市医師会"]
    with store.write() as s:  # the same table again changes nothing
        again = save_table(s, table_of_rows("kousou", merged, "kochi.csv"))
    assert (again.saved, again.removed, again.kept) == (["kousou-3900"], [], [])


def test_an_area_a_run_was_made_for_is_kept(scenario) -> None:
    store, _ = scenario
    run_plan(store, "kousou-3903", on=TODAY)
    rows = [TableRow(2, "39201", "中央", "3902")]
    with store.write() as s:
        done = save_table(s, table_of_rows("kousou", rows, "kochi.csv"))
    assert done.kept == ["kousou-3903"]
    assert "kousou-3903" not in done.removed and "kousou-3901" in done.removed
