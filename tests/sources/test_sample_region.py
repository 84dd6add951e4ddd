"""The bundled sample region in the registries' formats: written deterministically, and the
importers give back the generator's instance (up to the documented differences)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from matcher.cli import app
from matcher.generate import generate
from matcher.match import match
from matcher.model import Facility, Instance
from matcher.sources.importing import import_files, merge_listed_facilities
from matcher.sources.sample_region import (
    KAIGO_HEADER,
    MEIBO_HEADER,
    NAVII_HEADER,
    OUTSIDE_PARTNER,
    SampleFiles,
    build_from_registry,
    expected_canonical,
    navii_id,
    run_importers,
    write_sample_region,
)
from matcher.sources.simple_csv import load_facilities, load_institutions, write_facilities
from matcher.sources.textfile import read_table

DATA = Path(__file__).resolve().parents[2] / "data" / "sample"
REGISTRY = DATA / "registry"


@pytest.fixture(scope="module")
def instance() -> Instance:
    return generate("高知県")


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("registry_out")
    return out, run_importers(REGISTRY, out)


def rounded(instance: Instance) -> Instance:
    """Coordinates as the simple CSV keeps them (6 decimals)."""

    def r(x):
        return dataclasses.replace(x, lat=round(x.lat, 6), lon=round(x.lon, 6))

    return Instance.of(map(r, instance.facilities), map(r, instance.institutions))


def test_bundled_files_are_what_the_generator_writes(instance, tmp_path):
    assert load_facilities(DATA / "facilities.csv").items == list(
        instance.facilities
    )  # the same region
    files = write_sample_region(instance, tmp_path)
    bundled = SampleFiles.of(REGISTRY)
    assert [p.relative_to(tmp_path) for p in files.all()] == [
        p.relative_to(REGISTRY) for p in bundled.all()
    ]
    for new, old in zip(files.all(), bundled.all(), strict=True):
        assert new.read_bytes() == old.read_bytes(), (
            f"{old} を kyoryoku sample で作り直してください"
        )


def test_files_are_in_the_registry_layouts():
    files = SampleFiles.of(REGISTRY)
    assert {p.name for p in files.kaigo} >= {
        "jigyosho_510.csv",
        "jigyosho_540.csv",
        "jigyosho_520.csv",
        "jigyosho_550.csv",
        "jigyosho_551.csv",
        "jigyosho_320.csv",
    }
    for path in files.kaigo:
        data = path.read_bytes()
        if path.name == "jigyosho_320.csv":
            assert not data.startswith(b"\xef\xbb\xbf")
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
            text = data.decode("cp932")
        else:
            assert data.startswith(b"\xef\xbb\xbf")
            text = data.decode("utf-8-sig")
        assert text.splitlines()[0] == ",".join(f'"{h}"' for h in KAIGO_HEADER)
        assert len(KAIGO_HEADER) == 24
    for path in files.navii:
        assert path.read_bytes().decode("utf-8-sig").split("\r\n")[0] == ",".join(
            f'"{h}"' for h in NAVII_HEADER
        )
    navii = read_table(files.navii[0])
    assert ((navii["所在地座標（緯度）"] == "0") | (navii["所在地座標（緯度）"] == "")).any()
    assert navii["ID"].str.len().eq(13).all()
    ws = openpyxl.load_workbook(files.kouseikyoku[0])["高知県"]
    assert [c.value for c in ws[4]] == list(MEIBO_HEADER)
    rows = list(ws.iter_rows(min_row=5, values_only=True))
    symbols = {r[12] for r in rows}
    assert {"支援病１", "支援診１"} <= symbols and any("地域包括ケア" in r[11] for r in rows)
    assert any("１" in r[5] for r in rows) and any(r[5].startswith("医療法人") for r in rows)
    assert any("丁目" in r[7] for r in rows)
    assert read_table(files.listed_facilities)["kind"].isin(["yogo", "keihi"]).all()


def test_registry_to_canonical_gives_the_instance_back(instance, imported):
    out, _ = imported
    facilities = load_facilities(out / "facilities.csv").items
    institutions = load_institutions(out / "institutions.csv").items
    got = Instance.of(facilities, institutions)
    expected = rounded(expected_canonical(instance))
    assert got.facilities == expected.facilities
    assert got.institutions == expected.institutions
    # The documented differences, and nothing else.
    assert sum(f.geocode == "municipality" for f in got.facilities) == 7
    assert sum(i.geocode == "municipality" for i in got.institutions) == 26
    assert [i.institution_id for i in got.institutions] == [
        navii_id(i.institution_id) for i in instance.institutions
    ]
    assert [(f.covered, f.has_partner, f.status) for f in got.facilities] == [
        (f.covered, f.has_partner, f.status) for f in instance.facilities
    ]


def test_every_deliberate_reject_is_reported(imported):
    _, outcomes = imported
    kaigo, navii, flags, decls, filings = outcomes
    assert kaigo.read.counts == {
        "read": 681,
        "accepted": 661,
        "rejected": 0,
        "excluded": 20,
        "skipped": 20,
        "items": 661,
        "warnings": 7,
    }
    assert len(kaigo.joined.items) == 704  # + 43 養護/軽費 from the prefecture's list
    assert kaigo.joined.counts["accepted"] == 43 and kaigo.joined.balanced
    assert {r.file for r in kaigo.read.skipped} == {"jigyosho_551.csv"}
    assert [r.values["正式名称"] for r in navii.read.skipped] == ["高知市はなまる歯科"]
    assert [r.values["医療機関名称"] for r in flags.joined.unmatched] == ["室戸岬みさき病院"]
    assert [r.values["医療機関名"] for r in decls.joined.unmatched] == ["県外ひがし病院"]
    assert len(filings.read.errors) == 1 and "△" in filings.read.errors[0].reason
    assert [r.values["事業所番号"] for r in filings.joined.unmatched] == ["3999999999"]
    assert [w.value for w in filings.read.warnings] == [OUTSIDE_PARTNER[0]]
    for outcome in outcomes:  # every step writes its rejects file, with the reason of each row
        table = read_table(outcome.rejects)
        assert len(table) == len(outcome.read.rejected) + len(
            outcome.joined.rejected if outcome.joined else []
        )
        assert (table["理由"] != "").all()


def test_match_on_both_gives_the_same_objective(instance, imported):
    out, _ = imported
    got = Instance.of(
        load_facilities(out / "facilities.csv").items,
        load_institutions(out / "institutions.csv").items,
    )
    # The filings name partners (``partner_ids``), never proposed as new: the same on both sides.
    filed = {f.facility_id: f.extra for f in got.facilities if f.partner_ids}

    def with_filed(inst: Instance) -> Instance:
        return dataclasses.replace(
            inst,
            facilities=tuple(
                dataclasses.replace(f, extra=filed.get(f.facility_id, f.extra))
                for f in inst.facilities
            ),
        )

    assert (
        match(got).objective == match(with_filed(rounded(expected_canonical(instance)))).objective
    )
    # With the exact coordinates put back, the imported instance is the generated one.
    exact_f = {f.facility_id: f for f in instance.facilities}
    exact_i = {navii_id(i.institution_id): i for i in instance.institutions}
    restored = Instance.of(
        [
            dataclasses.replace(f, lat=exact_f[f.facility_id].lat, lon=exact_f[f.facility_id].lon)
            for f in got.facilities
        ],
        [
            dataclasses.replace(
                i, lat=exact_i[i.institution_id].lat, lon=exact_i[i.institution_id].lon
            )
            for i in got.institutions
        ],
    )
    own_id = {navii_id(i.institution_id): i.institution_id for i in instance.institutions}
    filed = {
        fid: {"partner_ids": "+".join(own_id.get(i, i) for i in extra["partner_ids"].split("+"))}
        for fid, extra in filed.items()
    }
    assert match(restored).objective == match(with_filed(instance)).objective


def test_build_from_registry_returns_the_two_csvs(tmp_path):
    facilities, institutions = build_from_registry(REGISTRY, tmp_path / "built")
    assert (facilities.name, institutions.name) == ("facilities.csv", "institutions.csv")
    assert (
        len(load_facilities(facilities).items) == 704
        and len(load_institutions(institutions).items) == 408
    )


def test_listed_facilities_merge_and_duplicates_are_rejected(tmp_path):
    registry = [Facility("3900000001", "特養あ", "tokuyo", 33.56, 133.53)]
    listed = write_facilities(
        [
            Facility("3900000001", "重複", "yogo", 33.5, 133.5),
            Facility("Y1", "養護い", "yogo", 33.5, 133.5),
        ],
        tmp_path / "list.csv",
    )
    merged = merge_listed_facilities(registry, listed)
    assert [f.facility_id for f in merged.items] == ["3900000001", "Y1"]
    assert [(r.row, r.category) for r in merged.rejected] == [(2, "error")]
    assert "重複" in merged.rejected[0].reason
    kaigo = SampleFiles.of(REGISTRY).kaigo
    outcome = import_files("kaigo", kaigo, tmp_path / "f.csv", facilities=listed)
    assert "Y1" in {f.facility_id for f in load_facilities(tmp_path / "f.csv").items}
    assert outcome.joined is not None and len(outcome.joined.items) == 662


def test_sample_command_writes_and_builds(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "sample",
            "--out",
            str(tmp_path / "reg"),
            "--seed",
            "2",
            "--build",
            str(tmp_path / "built"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "書き出しました" in result.output and "協力医療機関の届出" in result.output
    facilities = load_facilities(tmp_path / "built" / "facilities.csv").items
    assert len(facilities) == len(generate("高知県", seed=2).facilities)
