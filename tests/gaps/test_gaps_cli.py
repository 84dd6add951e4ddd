"""``kyoryoku gaps`` on a tiny hand-made region: every table's values against a computation by
hand (UTF-8-with-BOM CSV with Japanese headings and labels), and a map that is a real picture of
the region (PNG); on the bundled sample, a what-if that ranks although nothing more can be
covered there."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import at_km
from typer.testing import CliRunner

from matcher.cli import app
from matcher.gaps.ja import REASONS_JA, SCOPES_JA, TRUE_JA, heading
from matcher.geo import haversine_km
from matcher.reference import municipalities_of
from matcher.vocab import Capability

CONSULT, CARE, ADMIT = (c.label_ja for c in Capability)

DATA = Path(__file__).resolve().parents[2] / "data" / "sample"
KOCHI, MUROTO = "392014", "392022"  # 高知市, 室戸市
MUROTO_OFFICE = (33.29, 134.1519444)  # 室戸市役所, the reference table's point
MAX_KM = {"consult": 20.0, "care": 12.0, "admit": 20.0}
TABLES = (
    "balance_municipality",
    "balance_prefecture",
    "access_facility",
    "access_municipality",
    "uncoverable",
    "crossings",
    "scope_summary",
    "scope_municipality",
    "whatif_capacity",
    "whatif_sites",
)

# Positions: km north of 高知市's base point, or of 室戸市役所 (65 km east) for "M…". H1 (①②③,
# capacity 1) can give ③ to only one of the two 特養 F1/F2. The clinic C1 (no declared capacity)
# claims ③ too, which a clinic cannot give (dropped on reading): it gives ①②. F3 (グループ
# ホーム) needs ①②. The 特養 F4 and F5 in 室戸市 need ③ and have nobody in range; the clinic C2
# there (①②, capacity 2) is the nearest institution but cannot give ③. The optimum, with two
# new partners at most: F1–H1 (①②③), F2–C1 (①②), F3–C1 (①②): fully covered 義務 1 (F1),
# 努力義務 1 (F3); F2 stays without ③, F4 and F5 without anything.
INSTITUTIONS = [
    ("H1", "高知中央病院", "hospital", 0, "consult+care+admit", "1", KOCHI),
    ("C1", "はりまやクリニック", "clinic", 5, "consult+care+admit", "", KOCHI),
    ("C2", "室戸クリニック", "clinic", "M2", "consult+care", "2", MUROTO),
]
FACILITIES = [
    ("F1", "特養さくら", "tokuyo", 1, "", "false", KOCHI),
    ("F2", "特養みどり", "tokuyo", 2, "", "false", KOCHI),
    ("F3", "グループホームあおば", "gh", 6, "", "false", KOCHI),
    ("F4", "特養むろと", "tokuyo", "M0", "consult+care", "true", MUROTO),
    ("F5", "特養みさき", "tokuyo", "M1", "consult+care", "true", MUROTO),
]
SITE_CAPACITY = 1  # a new site can complete one facility only: 室戸市's two count once


def _point(where: float | str) -> tuple[float, float]:
    if isinstance(where, str):  # "M<km>": north of 室戸市役所
        return MUROTO_OFFICE[0] + float(where[1:]) / 111.195, MUROTO_OFFICE[1]
    return at_km(where, 0)


POINT = {row[0]: _point(row[3]) for row in FACILITIES + INSTITUTIONS}


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(haversine_km(*a, *b))


def _write(path: Path, header: list[str], rows: list[tuple]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for ident, name, kind, where, mask, value, code in rows:
            writer.writerow([ident, name, kind, *_point(where), mask, value, code])
    return path


def gaps(facilities: Path, institutions: Path, out: Path, *options: str):
    """``kyoryoku gaps`` on the given files, writing to ``out``."""
    return CliRunner().invoke(
        app, ["gaps", str(facilities), str(institutions), "--out", str(out), *options]
    )


@pytest.fixture(scope="module")
def gaps_run(tmp_path_factory) -> tuple[Path, str]:
    pytest.importorskip("matplotlib", reason="the map needs matplotlib")
    tmp = tmp_path_factory.mktemp("gaps")
    head = ["name", "kind", "lat", "lon"]
    facilities = _write(
        tmp / "facilities.csv",
        ["facility_id", *head, "covered", "has_partner", "municipality_code"],
        FACILITIES,
    )
    institutions = _write(
        tmp / "institutions.csv",
        ["institution_id", *head, "offers", "capacity", "municipality_code"],
        INSTITUTIONS,
    )
    km = ",".join(f"{k}={v:g}" for k, v in MAX_KM.items())
    # The step decay keeps the 2SFCA values countable by hand.
    options = ["--max-km", km, "--decay", "step", "--site-capacity", str(SITE_CAPACITY)]
    res = gaps(facilities, institutions, tmp / "out", *options)
    assert res.exit_code == 0, res.output
    assert "義務 1 件、努力義務 1 件 (要件不足 5 件)" in res.output
    return tmp / "out", res.output


@pytest.fixture(scope="module")
def written(gaps_run: tuple[Path, str]) -> Path:
    return gaps_run[0]


@pytest.fixture(scope="module")
def gaps_output(gaps_run: tuple[Path, str]) -> str:
    return gaps_run[1]


CODES = (
    "area_code",
    "municipality_code",
    "facility_municipality",
    "institution_municipality",
    "facility_id",
    "institution_id",
    "nearest_institution_id",
)


def _read(out: Path, name: str) -> pd.DataFrame:
    """A written table whose headings are all Japanese, with a column under each code that
    heading stands for (the names the assertions use); blank cells stay "" (a flag not set)."""
    from matcher.gaps.ja import HEADINGS, TABLE_HEADINGS

    path = out / f"{name}.csv"
    head = pd.read_csv(path, encoding="utf-8-sig", nrows=0).columns
    assert [c for c in head if c.isascii()] == [], (name, list(head))
    df = pd.read_csv(
        path,
        encoding="utf-8-sig",
        dtype={heading(c, name): str for c in CODES},
        keep_default_na=False,
    )
    codes = [*HEADINGS, *TABLE_HEADINGS.get(name, {})]
    return pd.DataFrame(
        {code: df[heading(code, name)] for code in codes if heading(code, name) in df.columns}
    )


def _rows(df: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """The rows as tuples, floats rounded (the CSV prints them in full)."""
    return [
        tuple(round(v, 9) if isinstance(v, float) else v for v in row)
        for row in df[columns].itertuples(index=False)
    ]


def test_every_table_is_csv_with_bom(written: Path) -> None:
    for name in TABLES:
        assert (written / f"{name}.csv").read_bytes().startswith(b"\xef\xbb\xbf"), name


def test_balance_counts_demand_and_supply_by_hand(written: Path) -> None:
    columns = [
        "area_code",
        "capability",
        "demand",
        "demand_mandatory",
        "coverable",
        "share_coverable",
        "supply_local",
        "capacity_local",
        "unlimited_local",
        "supply_in_range",
        "capacity_in_range",
        "unlimited_in_range",
        "covered_by_proposal",
    ]
    # ①② in 高知市: F1 F2 (義務) and F3 need them, H1 (capacity 1) and C1 (unlimited) offer
    # them to all three, the proposal gives them to all three. ③: F1 F2 there (only H1 offers
    # it: C1's claim was dropped; the proposal covers one), F4 F5 in 室戸市 (nobody in range).
    # The prefecture also counts C2 (capacity 2) as local supply of ①②, not in range of anyone.
    city = [2, 1, 1, 2, 1, 1]
    assert _rows(_read(written, "balance_municipality"), columns) == [
        ("39201", CONSULT, 3, 2, 3, 1.0, *city, 3),
        ("39201", CARE, 3, 2, 3, 1.0, *city, 3),
        ("39201", ADMIT, 2, 2, 2, 1.0, 1, 1, 0, 1, 1, 0, 1),
        ("39202", ADMIT, 2, 2, 0, 0.0, 0, 0, 0, 0, 0, 0, 0),
    ]
    prefecture = [3, 3, 1, 2, 1, 1]
    assert _rows(_read(written, "balance_prefecture"), columns) == [
        ("39", CONSULT, 3, 2, 3, 1.0, *prefecture, 3),
        ("39", CARE, 3, 2, 3, 1.0, *prefecture, 3),
        ("39", ADMIT, 4, 4, 2, 0.5, 1, 1, 0, 1, 1, 0, 1),
    ]


def test_access_is_the_two_step_catchment_by_hand(written: Path) -> None:
    # Step decay. ①/②: H1 supplies its capacity 1, C1 (unlimited) the 3 facilities it reaches;
    # both reach F1 F2 F3: R = 1/3 and 3/3, so each facility gets 1/3 + 1. ③: H1's 1 over F1 F2.
    a12, a3 = round(1 / 3 + 1, 9), 0.5
    columns = ["facility_id", "municipality_code", "capability", "access", "institutions_in_range"]
    assert _rows(_read(written, "access_facility"), columns) == [
        *[(f, "39201", CONSULT, a12, 2) for f in ("F1", "F2", "F3")],
        *[(f, "39201", CARE, a12, 2) for f in ("F1", "F2", "F3")],
        ("F1", "39201", ADMIT, a3, 1),
        ("F2", "39201", ADMIT, a3, 1),
        ("F4", "39202", ADMIT, 0.0, 0),
        ("F5", "39202", ADMIT, 0.0, 0),
    ]
    columns = ["area_code", "capability", "demand", "access_mean", "access_min", "zero_access"]
    assert _rows(_read(written, "access_municipality"), columns) == [
        ("39201", ADMIT, 2, a3, a3, 0),
        ("39201", CARE, 3, a12, a12, 0),
        ("39201", CONSULT, 3, a12, a12, 0),
        ("39202", ADMIT, 2, 0.0, 0.0, 2),
    ]


def test_uncoverable_and_crossings_by_hand(written: Path) -> None:
    # The nearest institution offering ③ (H1, about 65 km), not the nearest one (C2).
    columns = [
        "facility_id",
        "municipality_code",
        "capability",
        "range_km",
        "nearest_institution_id",
        "nearest_km",
        "coverable_at_km",
    ]
    assert _rows(_read(written, "uncoverable"), columns) == [
        (f, "39202", ADMIT, 20.0, "H1", km, km)
        for f in ("F4", "F5")
        for km in [round(_km(POINT[f], POINT["H1"]), 9)]
    ]
    columns = [
        "facility_id",
        "institution_id",
        "facility_municipality",
        "institution_municipality",
        "distance_km",
        "cross_municipality",
        "cross_prefecture",
    ]
    assert _rows(_read(written, "crossings"), columns) == [
        (f, i, "39201", "39201", round(_km(POINT[f], POINT[i]), 9), "", "")
        for f, i in (("F1", "H1"), ("F2", "C1"), ("F3", "C1"))
    ]


def test_scopes_by_hand(written: Path) -> None:
    # Everything in range lies in 高知市: keeping matching within a municipality loses nothing.
    # Candidate pairs: F1 F2 F3 × H1 C1. Distance: F1–H1 1 km + F2–C1 3 km + F3–C1 1 km.
    columns = [
        "scope",
        "candidate_pairs",
        "mandatory_full",
        "effort_full",
        "pairs_covered",
        "partnerships",
        "distance_km",
        "demand_facilities",
        "proven_optimal",
    ]
    rows = _rows(_read(written, "scope_summary"), columns)
    assert [r[:6] + r[7:] for r in rows] == [
        (SCOPES_JA[scope], 6, 1, 1, 7, 3, 5, TRUE_JA)
        for scope in ("none", "prefecture", "municipality")
    ]
    assert [r[6] for r in rows] == pytest.approx([5.0] * 3, abs=1e-3)
    columns = ["municipality_code", "demand", "full_none", "full_prefecture", "full_municipality"]
    assert _rows(_read(written, "scope_municipality"), columns) == [
        ("39201", 3, 2, 2, 2),
        ("39202", 2, 0, 0, 0),
    ]


def test_whatif_by_hand(written: Path) -> None:
    # One more place at H1 gives F2 its ③: one more 義務 facility fully covered, one more
    # (facility, requirement) pair; F2 then takes H1 (2 km) instead of C1 (3 km): the same
    # three partnerships, 1 km less. C1 is unlimited; C2 reaches nobody who lacks what it offers.
    columns = ["rank", "institution_id", "facilities_in_range", "used"]
    columns += ["gain_mandatory_full", "gain_effort_full", "gain_pairs_covered"]
    columns += ["change_partnerships", "change_distance_km", "reason"]
    assert _rows(_read(written, "whatif_capacity"), columns) == [
        (1, "H1", 3, 1, 1, 0, 1, 0, -1.0, REASONS_JA["resolved"]),
        (2, "C1", 3, 2, 0, 0, 0, 0, 0.0, REASONS_JA["unlimited"]),
        (3, "C2", 0, 0, 0, 0, 0, 0, 0.0, REASONS_JA["no_candidates"]),
    ]
    # A new ①②③ institution at a municipality office of 高知県 completes F2 when it is within
    # ③'s 20 km of F2 (C1 + it) or of F1 (F1 takes C1 + it, H1 goes to F2), and each of F4 F5
    # within 20 km — as many as its capacity allows. F3 is complete already. Demand in range:
    # facilities within the longest range, 20 km.
    expected = {}
    for m in municipalities_of("高知県"):
        site = (m.lat, m.lon)
        near = {f for f in POINT if f[0] == "F" and _km(site, POINT[f]) <= 20.0}
        gain = min(SITE_CAPACITY, bool(near & {"F1", "F2"}) + len(near & {"F4", "F5"}))
        reason = "resolved" if near else "no_demand_in_range"
        expected[m.code5] = (len(near), gain, 0, REASONS_JA[reason])
    columns = ["municipality_code", "demand_in_range", "gain_mandatory_full", "gain_effort_full"]
    sites = _read(written, "whatif_sites")
    got = {r[0]: r[1:] for r in _rows(sites, [*columns, "reason"])}
    assert got == expected
    assert expected["39202"] == (2, 1, 0, REASONS_JA["resolved"])  # 室戸市: one place for two
    # Ranked as the matching ranks proposals: 義務, 努力義務, pairs; then fewer partnerships, km.
    keys = [
        (-m, -e, -p, n, km, code)
        for code, m, e, p, n, km in _rows(
            sites,
            [
                "municipality_code",
                "gain_mandatory_full",
                "gain_effort_full",
                "gain_pairs_covered",
                "change_partnerships",
                "change_distance_km",
            ],
        )
    ]
    assert keys == sorted(keys)
    assert list(sites["rank"]) == list(range(1, len(expected) + 1))


def test_whatif_summary_and_charts(written: Path, gaps_output: str) -> None:
    # Only H1 changes the proposal: its chart has one row; the summary names it.
    assert "受入枠を 1 増やす医療機関: 3 件のうち、提案が良くなるのは 1 件" in gaps_output
    assert "  1. 高知中央病院: 義務施設 +1施設、要件 +1件、総距離 -1.0km" in gaps_output
    assert (written / "whatif_capacity.png").exists() and (written / "whatif_sites.png").exists()


def test_map_is_a_picture_of_the_region(written: Path) -> None:
    from PIL import Image

    with Image.open(written / "map.png") as img:
        assert img.format == "PNG"
        width, height = img.size
        pixels = np.asarray(img.convert("RGB")).astype(int)
    # 8 × 7.5 inches at 120 dpi, trimmed to the drawing ("tight").
    assert 0.6 * 960 <= width <= 1.1 * 960 and 0.6 * 900 <= height <= 1.1 * 900
    assert (pixels.min(axis=2) < 250).mean() > 0.05  # not blank
    # The markers, above the legend (bottom band): fully covered F1 F3 (blue) and the open F2
    # (orange) in 高知市 on the left, the uncoverable F4 F5 (red) in 室戸市 on the right.
    mapped = pixels[: int(0.85 * height)]

    def columns_of(color: str) -> np.ndarray:
        rgb = np.array([int(color[k : k + 2], 16) for k in (1, 3, 5)])
        return np.flatnonzero((np.abs(mapped - rgb).max(axis=2) <= 8).any(axis=0))

    for color, side in (("#2c7fb8", "left"), ("#fdae61", "left"), ("#d7191c", "right")):
        at = columns_of(color)
        assert len(at) >= 3, color
        assert (at < width / 2).all() if side == "left" else (at > width / 2).all(), color
    assert len(columns_of("#1a9641")) and len(columns_of("#a6d96a"))  # hospital, clinic


def test_gaps_rejects_an_unknown_decay(tmp_path: Path) -> None:
    res = gaps(DATA / "facilities.csv", DATA / "institutions.csv", tmp_path, "--decay", "cubic")
    assert res.exit_code == 2
    assert "不明な距離減衰" in res.output
    res = gaps(
        DATA / "facilities.csv", DATA / "institutions.csv", tmp_path, "--whatif-measure", "km"
    )
    assert res.exit_code == 2
    assert "不明な what-if の尺度「km」" in res.output


def test_gaps_whatif_on_the_sample_ranks_although_nothing_more_can_be_covered(
    tmp_path: Path,
) -> None:
    # Regression: on the bundled sample every facility with a candidate is fully covered, and the
    # what-if gave 0 for all 442 candidates. It now says so, and ranks by what still changes —
    # fewer new partnerships, then fewer km — charting only the candidates that change anything.
    pytest.importorskip("matplotlib", reason="the command writes charts")
    res = gaps(DATA / "facilities.csv", DATA / "institutions.csv", tmp_path, "--area", "392")
    assert res.exit_code == 0, res.output
    assert "全要件を満たす施設が増える候補はありません" in res.output
    assert "いまの提案ですべて全要件を満たします" in res.output
    for name in ("whatif_capacity", "whatif_sites"):
        table = _read(tmp_path, name)
        assert (table[["gain_mandatory_full", "gain_effort_full"]] == 0).all().all(), name
        moved = (table[["change_partnerships", "change_distance_km"]] != 0).any(axis=1)
        assert moved.sum() >= 3, name  # a ranking, not a table of zeros
        assert list(moved) == sorted(moved, reverse=True), name  # unchanged ones last
        assert table.loc[moved, "change_partnerships"].is_monotonic_increasing, name
        assert (tmp_path / f"{name}.png").exists(), name
        assert f"{int(moved.sum())} 件" in res.output
