"""``kyoryoku db import``: real-format files into the store, idempotently, rejects reported,
on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from store_fixtures import snapshot
from typer.testing import CliRunner

from matcher._errors import InputError
from matcher.cli import app
from matcher.generate import generate
from matcher.match import match
from matcher.sources.sample_region import SampleFiles, expected_canonical, navii_id
from matcher.sources.textfile import read_table
from matcher.store.models import FilingRow
from matcher.store.planner_input import load_state
from matcher.store.source_imports import import_source

REGISTRY = Path(__file__).resolve().parents[2] / "data" / "sample" / "registry"
FILES = SampleFiles.of(REGISTRY)
D1 = dt.date(2025, 7, 1)
STEPS = [
    ("kaigo", FILES.kaigo, {"facilities": FILES.listed_facilities}),
    ("navii", FILES.navii, {}),
    ("kouseikyoku", FILES.kouseikyoku, {}),
    ("declarations", FILES.declarations, {}),
    ("filings", FILES.filings, {}),
]


def import_all(store, day: dt.date = D1):
    results = []
    for source, files, options in STEPS:
        with store.write() as s:
            results.append(import_source(s, source, files, declared_on=day, **options))
    return results


def test_registry_sample_into_the_store_is_idempotent(store):
    first = import_all(store)
    assert [r.changed for r in first] == [True] * 5
    kaigo, navii, flags, decls, filings = first
    assert kaigo.stats["facilities"].inserted == 704
    assert navii.stats["institutions"].inserted == 408
    assert (
        flags.stats["institutions"].updated == 408
    )  # every institution gets its offers from the 名簿
    assert decls.stats["declarations"].inserted == 240
    assert filings.stats["filings"].inserted == 630  # 74 facilities filed nothing
    before = snapshot(store)
    again = import_all(store, D1 + dt.timedelta(days=30))  # the same files, read a month later
    assert not any(r.changed for r in again)
    assert [sum(st.unchanged for st in r.stats.values()) for r in again] == [
        704,
        408,
        408,
        240,
        630,
    ]
    assert snapshot(store) == before
    with store.read() as s:
        years = set(s.scalars(select(FilingRow.filing_year)))
        state = load_state(s, "39", on=D1)
    assert years == {2025}  # the 年度 of the filings' 確認日
    # The store's state is the generator's instance, as the file importers give it.
    expected = expected_canonical(generate("高知県"))
    got = state.instance
    assert [(f.facility_id, f.kind, f.covered, f.status, f.geocode) for f in got.facilities] == [
        (f.facility_id, f.kind, f.covered, f.status, f.geocode) for f in expected.facilities
    ]
    assert [
        (i.institution_id, i.kind, i.offers, i.capacity, i.geocode) for i in got.institutions
    ] == [
        (i.institution_id, i.kind, i.offers, i.capacity, i.geocode) for i in expected.institutions
    ]
    assert [(f.lat, f.lon) for f in got.facilities] == [(f.lat, f.lon) for f in expected.facilities]
    # Filed partners (``partner_ids`` from the filings) are never proposed: the same on both sides.
    filed = {f.facility_id: f.partner_ids for f in got.facilities if f.partner_ids}
    expected = dataclasses.replace(
        expected,
        facilities=tuple(
            dataclasses.replace(f, extra={**f.extra, "partner_ids": "+".join(filed[f.facility_id])})
            if f.facility_id in filed
            else f
            for f in expected.facilities
        ),
    )
    assert match(got).objective == match(expected).objective


def test_partners_are_stored_with_their_own_requirements(store):
    import_all(store)
    with store.read() as s:
        filings = {f.facility_id: f for f in s.scalars(select(FilingRow))}
        rows = [
            (p.partner_name, p.institution_id, p.covers)
            for f in filings.values()
            for p in f.partners
        ]
    outside = [r for r in rows if r[0] == "海陽みなと病院"]
    assert (
        len(outside) == 1 and outside[0][1] is None and outside[0][2] & 4
    )  # kept by name, ③ as filed
    assert sum(r[1] is not None for r in rows) == len(rows) - 1
    ids = {navii_id(i.institution_id) for i in generate("高知県").institutions}
    assert {iid for _, iid, _ in rows if iid is not None} <= ids
    assert any(len(f.partners) == 2 for f in filings.values())
    assert any(not f.has_partner and not f.partners for f in filings.values())  # 協力医療機関なし
    assert any(
        f.has_partner and f.partners and not any(p.covers for p in f.partners)
        for f in filings.values()
    )


def test_a_newer_filing_supersedes_and_a_bad_file_changes_nothing(store, tmp_path):
    import_all(store)
    with store.write() as s:
        st = import_source(s, "filings", FILES.filings, filing_year=2026)
    assert (st.stats["filings"].inserted, st.stats["filings"].superseded) == (630, 630)
    before = snapshot(store)
    broken = tmp_path / "jigyosho_510.csv"
    broken.write_text("事業所名,住所\nどこか,高知市\n", encoding="utf-8")
    with pytest.raises(InputError, match="事業所番号"), store.write() as s:
        import_source(s, "kaigo", [broken])
    with pytest.raises(InputError, match="--facilities"), store.write() as s:
        import_source(s, "navii", FILES.navii, facilities=FILES.listed_facilities)
    assert snapshot(store) == before


def kyoryoku(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_db_import_command_reports_and_writes_rejects(db_url, tmp_path):
    db = ["--db", db_url]
    outputs = {}
    for source, files, options in STEPS:
        extra = ["--facilities", options["facilities"]] if options else []
        r = kyoryoku(
            "db",
            "import",
            source,
            *files,
            *extra,
            "--declared-on",
            "2025-07-01",
            "--rejects",
            tmp_path / f"{source}.rejects.csv",
            *db,
        )
        assert r.exit_code == 0, r.output
        assert "取り込みました" in r.output
        outputs[source] = r.output
    assert "追加 704 件" in outputs["kaigo"] and "追加 630 件" in outputs["filings"]
    assert "結合: 読込 631 行: 採用 630" in outputs["filings"]
    assert "結合: 読込 241 行: 採用 240" in outputs["declarations"]
    reasons = {s: read_table(tmp_path / f"{s}.rejects.csv") for s, _, _ in STEPS}
    assert len(reasons["kaigo"]) == 20 and set(reasons["kaigo"]["区分"]) == {"対象外"}
    assert list(reasons["navii"]["正式名称"]) == ["高知市はなまる歯科"]
    assert list(reasons["kouseikyoku"]["区分"]) == ["未結合"]
    assert list(reasons["declarations"]["医療機関名"]) == ["県外ひがし病院"]
    assert sorted(reasons["filings"]["区分"]) == ["エラー", "未結合"]
    for source, files, options in STEPS:
        extra = ["--facilities", options["facilities"]] if options else []
        r = kyoryoku(
            "db", "import", source, *files, *extra, "--rejects", tmp_path / "again.csv", *db
        )
        assert r.exit_code == 0, r.output
        assert "変更はありませんでした" in r.output, (source, r.output)
    r = kyoryoku("db", "import", "dpc", FILES.navii[0], *db)
    assert r.exit_code == 2 and "不明な取り込み元" in r.output
