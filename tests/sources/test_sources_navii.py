"""医療情報ネット (ナビイ) 施設票 → canonical institutions."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from matcher._errors import InputError
from matcher.sources.navii import import_navii
from matcher.sources.sample_region import NAVII_HEADER as HEADER
from matcher.sources.simple_csv import load_institutions, write_institutions


def rec(
    ident: str,
    name: str,
    cat: str,
    pref: str,
    city: str,
    address: str,
    lat: str,
    lon: str,
    general: str = "",
    total: str = "",
) -> list[str]:
    return [
        ident,
        name,
        "",
        "",
        "",
        "",
        cat,
        pref,
        city,
        address,
        lat,
        lon,
        "",
        "",
        general,
        "",
        "",
        "",
        "",
        total,
    ]


def write(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    lines = [",".join(f'"{c}"' for c in HEADER)] + [",".join(f'"{c}"' for c in r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


ROWS = [
    rec(
        "0139201400001",
        "医療法人 近森会 近森病院",
        "1",
        "39",
        "201",
        "高知県高知市大川筋1-1-16",
        "33.5643",
        "133.5387",
        "300",
        "338",
    ),
    rec("0139201400002", "山田醫院", "2", "39", "201", "高知県高知市本町5-1", "0", "0"),
    rec(
        "0139201400003", "はなまる歯科", "3", "39", "201", "高知県高知市本町6-1", "33.56", "133.53"
    ),
    rec("0139201400004", "北の診療所", "2", "01", "101", "北海道札幌市中央区北1条西2", "", ""),
    rec("0139201400001", "重複病院", "1", "39", "201", "高知県高知市本町7", "33.56", "133.53"),
    rec("0139201400005", "どこか診療所", "2", "", "", "不明", "abc", ""),
]


def test_round_trip_registry_to_canonical_institutions(tmp_path: Path) -> None:
    result = import_navii(write(tmp_path / "01-1_hospital_facility_info_20250601.csv", ROWS))
    ids = {i.institution_id: i for i in result.items}
    assert set(ids) == {"0139201400001", "0139201400002", "0139201400004"}
    hosp = ids["0139201400001"]
    assert (hosp.kind, hosp.offers, hosp.capacity, hosp.municipality_code) == (
        "hospital",
        0,
        None,
        "392014",
    )
    assert hosp.extra["beds_general"] == "300" and hosp.extra["beds_total"] == "338"
    clinic = ids["0139201400002"]
    assert clinic.geocode == "municipality" and clinic.lat == pytest.approx(33.5589, abs=1e-3)
    assert ids["0139201400004"].municipality_code == "011011"  # 札幌市中央区, check digit added
    reasons = {r.row: (r.category, r.reason) for r in result.rejected}
    assert reasons[4][0] == "skipped" and "機関区分「3」" in reasons[4][1]
    assert reasons[6][0] == "error" and "重複" in reasons[6][1]
    assert reasons[7][0] == "error" and "数値ではありません" in reasons[7][1]
    assert result.counts["read"] == 6
    back = load_institutions(write_institutions(result.items, tmp_path / "institutions.csv")).items
    assert [(i.institution_id, i.kind, i.geocode) for i in back] == [
        (i.institution_id, i.kind, i.geocode) for i in result.items
    ]


def test_zip_as_downloaded_and_cp932(tmp_path: Path) -> None:
    inner = write(tmp_path / "inner.csv", ROWS[:2], encoding="cp932").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("02-1_clinic_facility_info_20250601.csv", inner)
    path = tmp_path / "02-1_clinic_facility_info_20250601.zip"
    path.write_bytes(buf.getvalue())
    assert [i.name for i in import_navii(path).items] == ["医療法人 近森会 近森病院", "山田醫院"]


def test_missing_required_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("ID,正式名称,所在地\n1,A,高知市\n", encoding="utf-8")
    with pytest.raises(InputError, match="機関区分"):
        import_navii(path)
