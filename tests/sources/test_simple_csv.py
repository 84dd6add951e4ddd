"""The simple CSV format: round trips in every encoding, row-level errors with file/row/column."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher._errors import InputError
from matcher.generate import generate
from matcher.model import parse_capabilities, parse_facility_kind
from matcher.sources.simple_csv import (
    load_facilities,
    load_institutions,
    write_facilities,
    write_institutions,
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_round_trip(tmp_path: Path, encoding: str) -> None:
    instance = generate("高知県", n_facilities=40, n_institutions=20, seed=2)
    write_facilities(instance.facilities, tmp_path / "f.csv", encoding)
    write_institutions(instance.institutions, tmp_path / "i.csv", encoding)
    facs = load_facilities(tmp_path / "f.csv").items
    insts = load_institutions(tmp_path / "i.csv").items
    assert facs == list(instance.facilities)
    assert insts == list(instance.institutions)
    raw = (tmp_path / "f.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_errors_name_file_row_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "facilities.csv",
        (
            "facility_id,name,kind,lat,lon,covered\n"
            "A1,ok,特養,33.5,133.5,\n"
            "A2,bad kind,病院,33.5,133.5,\n"
            "A1,dup,gh,33.5,133.5,\n"
            "A4,swapped,gh,133.5,33.5,\n"
            "A5,zero,gh,0,0,\n"
            "A6,bad cov,gh,33.5,133.5,④\n"
        ),
        "cp932",
    )
    with pytest.raises(InputError) as info:
        load_facilities(path)
    issues = info.value.issues
    where = {(i.row, i.column) for i in issues}
    assert where == {(3, "kind"), (4, "facility_id"), (5, "lat"), (6, "lat"), (7, "covered")}
    assert all(i.file == "facilities.csv" for i in issues)
    assert "2行目" in str(issues[0]) or "3行目" in str(issues[0])
    lenient = load_facilities(path, strict=False)
    assert [f.facility_id for f in lenient.items] == ["A1"]
    assert sorted(lenient.rejected_rows) == [3, 4, 5, 6, 7]


def test_missing_column_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "i.csv", "institution_id,name,kind,lat,lon\nX,n,病院,33.5,133.5\n")
    with pytest.raises(InputError, match="必須列「offers」"):
        load_institutions(path)


def test_clinic_admission_is_a_warning_and_ignored(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "i.csv",
        (
            "institution_id,name,kind,lat,lon,offers,capacity\n"
            "C1,c,診療所,33.5,133.5,①②③,2\n"
            "H1,h,病院,33.5,133.5,1+2+3,\n"
            "H2,h,病院,33.5,133.5,admit,-1\n"
        ),
    )
    result = load_institutions(path, strict=False)
    c1, h1 = result.items
    assert c1.offers == 3 and h1.offers == 7 and h1.capacity is None and c1.capacity == 2
    assert [(w.row, w.column) for w in result.warnings] == [(2, "offers")]
    assert [(e.row, e.column) for e in result.errors] == [(4, "capacity")]


def test_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"facility_id,name\n\x85\x40\xff,x\n")
    with pytest.raises(InputError, match="文字コード"):
        load_facilities(path)


def test_kind_and_capability_parsing() -> None:
    assert parse_facility_kind("地域密着型介護老人福祉施設入所者生活介護") == "tokuyo"
    assert parse_facility_kind("ＧＨ".lower()) == "gh"
    assert parse_facility_kind("認知症対応型共同生活介護") == "gh"
    assert parse_capabilities("①②") == 3 and parse_capabilities("1+3") == 5
    assert parse_capabilities("consult+care+admit") == 7 and parse_capabilities("") == 0
    with pytest.raises(ValueError, match="不明な要件"):
        parse_capabilities("visit")
