"""Offline geocoding fallback to the municipality's point; coordinate checks."""

from __future__ import annotations

import pytest

from matcher.geocode import (
    locate,
    municipality_by_code,
    municipality_in_address,
    normalize_municipality_code,
)


@pytest.mark.parametrize(
    "code,expected",
    [
        ("13101", "131016"),
        ("131016", "131016"),
        ("1101", "011011"),
        ("392014.0", "392014"),
        ("131017", ""),
        ("abc", ""),
        ("", ""),
    ],
)
def test_normalize_municipality_code(code: str, expected: str) -> None:
    assert normalize_municipality_code(code) == expected


def test_prefecture_codes_and_new_hamamatsu_wards() -> None:
    assert municipality_by_code("130001") is None  # 東京都 itself
    assert municipality_by_code("221384").name == "浜松市中区"  # 中央区 (2024) → old 中区 office


@pytest.mark.parametrize(
    "address,name",
    [
        ("北海道虻田郡倶知安町北1条東3丁目", "倶知安町"),
        ("札幌市中央区北1条西2丁目", "札幌市中央区"),
        ("奈良県大和郡山市北郡山町248", "大和郡山市"),
        ("福島県郡山市朝日1-23-7", "郡山市"),
        ("広島県府中市府川町315", "府中市"),
        ("〒780-0850 高知県高知市丸ノ内1-2-20", "高知市"),
    ],
)
def test_municipality_in_address(address: str, name: str) -> None:
    assert municipality_in_address(address).name == name


def test_ambiguous_name_without_prefecture_is_not_guessed() -> None:
    assert municipality_in_address("府中市宮西町2-24") is None  # 東京都 or 広島県


def test_locate_cases() -> None:
    assert locate("33.5", "133.5").precision == "exact"
    swapped = locate("133.5", "33.5")
    assert (swapped.lat, swapped.lon, swapped.precision) == (
        33.5,
        133.5,
        "exact",
    ) and "入れ替え" in swapped.note
    zero = locate("0", "0", "392014")
    assert zero.precision == "municipality" and zero.lat == pytest.approx(33.5589, abs=1e-3)
    abroad = locate("51.5", "-0.12", "", "高知県高知市本町")
    assert abroad.precision == "municipality" and "日本国外" in abroad.note
    nowhere = locate("", "", "", "")
    assert not nowhere.ok and "特定できない" in nowhere.note
