"""Real published 介護サービス情報公表 rows (北海道, tests/data/real) through the importers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from matcher.match import match
from matcher.model import Facility, Instance, Institution
from matcher.params import MatchParams
from matcher.reference import prefectures
from matcher.sources.importing import import_files
from matcher.sources.kaigo_registry import import_kaigo, service_code_of
from matcher.sources.result_files import write_result
from matcher.sources.simple_csv import load_facilities
from matcher.vocab import Reason

REAL = Path(__file__).parents[1] / "data" / "real" / "kaigo"
FILES = sorted(REAL.glob("jigyosho_*.csv"))


@pytest.fixture(scope="module")
def imported():
    return import_kaigo(FILES)


def test_every_real_row_is_accounted_for(imported) -> None:
    assert imported.counts["read"] == 82
    assert imported.balanced
    assert imported.counts["accepted"] == 82 and imported.counts["rejected"] == 0


def test_334_sakoju_rows_are_tokutei_not_excluded(imported) -> None:
    by_code = Counter(f.extra["service_code"] for f in imported.items)
    assert by_code == {"510": 25, "520": 18, "331": 18, "334": 21}
    kinds = Counter(f.kind for f in imported.items)
    assert kinds == {"tokuyo": 25, "roken": 18, "tokutei": 39}


def test_no_address_repeats_its_prefecture_or_municipality(imported) -> None:
    for f in imported.items:
        pref = next(p for p in prefectures() if f.address.startswith(p))
        rest = f.address[len(pref) :]
        assert pref not in rest, f.address
        assert not rest.startswith("札幌市中央区札幌市"), f.address
    by_id = {f.facility_id: f for f in imported.items}
    assert by_id["0170100531"].address == "北海道札幌市中央区南8条西26丁目1-2"
    assert by_id["0170100143"].address == "北海道札幌市中央区旭ヶ丘5丁目6番51号"
    assert by_id["0170105308"].address == "北海道札幌市中央区北1条東19丁目6番地3"
    assert by_id["0173602236"].address == "北海道白老郡白老町東町2丁目4番12号"
    assert by_id["0150280055"].address.startswith("北海道札幌市北区新琴似町787番地2,3")


def test_same_place_registrations_stay_two_facilities(imported) -> None:
    ids = {f.facility_id for f in imported.items}
    assert {"0170505036", "0170512446", "0152980033", "0152980124"} <= ids
    # 旭泉苑 and its ユニット型 share corporation and point: noted; らいらっく (two corps): not.
    (note,) = imported.warnings
    assert (note.row, note.value) == (19, "0152980124") and "0152980033" in note.message


@pytest.mark.parametrize(
    ("cell", "file", "code"),
    [
        ("特定施設入居者生活介護（有料老人ホーム（サービス付き高齢者向け住宅））", "", "334"),
        (
            "特定施設入居者生活介護（有料老人ホーム（サービス付き高齢者向け住宅（外部サービス利用型））",
            "",
            "337",
        ),
        ("特定施設入居者生活介護（有料老人ホーム（外部サービス利用型））", "", "335"),
        ("特定施設入居者生活介護（軽費老人ホーム（外部サービス利用型））", "", "336"),
        (
            "地域密着型特定施設入居者生活介護（有料老人ホーム（サービス付き高齢者向け住宅））",
            "",
            "364",
        ),
        ("地域密着型特定施設入居者生活介護（軽費老人ホーム）", "", "362"),
        ("地域密着型特定施設入居者生活介護（有料老人ホーム）", "", "361"),
        ("特定施設入居者生活介護(養護老人ホーム)", "", "333"),
        ("地域密着型介護老人福祉施設入所者生活介護", "", "540"),
        ("聞いたことのない名称", "jigyosho_362.csv", "362"),
        ("", "jigyosho_320_all_20250101.csv", "320"),
    ],
)
def test_service_names_of_every_published_variant(cell: str, file: str, code: str) -> None:
    assert service_code_of(cell, file) == code


def test_real_rows_round_trip_and_match_warns_that_offers_are_unknown(tmp_path: Path) -> None:
    outcome = import_files("kaigo", FILES, tmp_path / "facilities.csv")
    facilities = load_facilities(tmp_path / "facilities.csv").items
    assert len(facilities) == 82 and outcome.balanced
    # Institutions from a registry alone (no 名簿, no declarations) offer nothing known.
    hospitals = [
        Institution(f"H{n}", f"病院{n}", "hospital", f.lat + 0.01, f.lon, 0)
        for n, f in enumerate(facilities[:5])
    ]
    result = match(Instance.of(facilities, hospitals), MatchParams())
    reasons = Counter(u.reason for u in result.unmatched)
    assert reasons[Reason.OFFERS_UNKNOWN] > 0 and result.warnings_ja
    write_result(Instance.of(facilities, hospitals), result, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    assert summary["offers_unknown"] == result.offers_unknown and summary["warnings"]
    # With one known offer in range the same gaps are "no candidate" or covered, not unknown.
    far = Institution("K", "遠い病院", "hospital", 26.2, 127.7, 7)
    known = match(Instance.of(facilities[:1], [far]), MatchParams())
    assert {u.reason for u in known.unmatched} == {Reason.NO_CANDIDATE}


def test_facility_placed_at_its_municipality_is_marked_approximate(tmp_path: Path) -> None:
    f = Facility("F1", "施設", "tokuyo", 43.06, 141.35, geocode="municipality")
    i = Institution("I1", "病院", "hospital", 43.07, 141.35, 7)
    result = match(Instance.of([f], [i]), MatchParams())
    write_result(Instance.of([f], [i]), result, tmp_path)
    text = (tmp_path / "proposals.csv").read_text(encoding="utf-8-sig")
    assert "施設は市区町村の代表点のため距離は概算" in text
