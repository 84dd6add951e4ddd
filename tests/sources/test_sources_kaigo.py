"""介護サービス情報公表 open data → canonical facilities."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from matcher._errors import InputError
from matcher.sources.kaigo_registry import import_kaigo, service_code_of
from matcher.sources.report import write_rejects
from matcher.sources.sample_region import KAIGO_HEADER as HEADER
from matcher.sources.simple_csv import load_facilities, write_facilities
from matcher.sources.textfile import read_table


def row(
    code: str,
    pref: str,
    city: str,
    name: str,
    service: str,
    address: str,
    lat: str,
    lon: str,
    number: str,
    corp: str = "1234567890123",
    residents: str = "80",
) -> list[str]:
    return [
        code,
        "1",
        pref,
        city,
        name,
        "カナ",
        service,
        address,
        "",
        lat,
        lon,
        "088-000-0000",
        "",
        corp,
        "社会福祉法人テスト会",
        number,
        "",
        "",
        residents,
        "",
        "",
        "",
        "",
        "",
    ]


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    lines = [",".join(f'"{c}"' for c in HEADER)] + [",".join(f'"{c}"' for c in r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


GOOD = [
    row(
        "392014",
        "高知県",
        "高知市",
        "特別養護老人ホーム 青空",
        "介護老人福祉施設",
        "本町1-1",
        "33.559",
        "133.531",
        "3970100011",
    ),
    row(
        "392014",
        "高知県",
        "高知市",
        "老健 みどり",
        "介護老人保健施設",
        "本町2-2",
        "33.56",
        "133.54",
        "3950180012",
    ),
    row(
        "392014",
        "高知県",
        "高知市",
        "介護医療院 うみ",
        "介護医療院",
        "本町3-3",
        "0",
        "0",
        "39B0100013",
    ),
]


def test_round_trip_registry_to_canonical_facilities(tmp_path: Path) -> None:
    src = tmp_path / "jigyosho_510.csv"
    src.write_bytes(csv_bytes(GOOD))
    result = import_kaigo(src)
    assert result.counts == {
        "read": 3,
        "accepted": 3,
        "rejected": 0,
        "excluded": 0,
        "skipped": 0,
        "items": 3,
        "warnings": 1,
    }
    by_id = {f.facility_id: f for f in result.items}
    assert set(by_id) == {"3970100011", "3950180012", "39B0100013"}
    tokuyo = by_id["3970100011"]
    assert (tokuyo.kind, tokuyo.municipality_code, tokuyo.address) == (
        "tokuyo",
        "392014",
        "高知県高知市本町1-1",
    )
    assert (
        tokuyo.extra["service_code"] == "510"
        and tokuyo.extra["corporate_number"] == "1234567890123"
    )
    assert tokuyo.has_partner is None  # no filing yet: status unknown
    iryoin = by_id["39B0100013"]
    assert iryoin.geocode == "municipality" and iryoin.lat == pytest.approx(33.5589, abs=1e-3)
    out = write_facilities(result.items, tmp_path / "facilities.csv")
    again = load_facilities(out).items
    assert [(f.facility_id, f.kind, f.geocode, round(f.lat, 5)) for f in again] == [
        (f.facility_id, f.kind, f.geocode, round(f.lat, 5)) for f in result.items
    ]


@pytest.mark.parametrize("wrap", ["zip", "gzip"])
def test_archive_and_cp932(tmp_path: Path, wrap: str) -> None:
    payload = csv_bytes(GOOD, encoding="cp932")
    src = tmp_path / "jigyosho_510.csv"
    if wrap == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("jigyosho_510.csv", payload)
        src.write_bytes(buf.getvalue())
    else:
        src.write_bytes(gzip.compress(payload))
    assert len(import_kaigo(src).items) == 3


def test_skipped_and_rejected_rows_have_reasons(tmp_path: Path) -> None:
    rows = GOOD + [
        row(
            "392014",
            "高知県",
            "高知市",
            "医療院 短期",
            "短期入所療養介護（介護医療院）",
            "本町4",
            "33.5",
            "133.5",
            "3900000001",
        ),
        row(
            "392014",
            "高知県",
            "高知市",
            "訪問介護 そら",
            "訪問介護",
            "本町5",
            "33.5",
            "133.5",
            "3900000002",
        ),
        row(
            "392014",
            "高知県",
            "高知市",
            "特養 重複",
            "介護老人福祉施設",
            "本町6",
            "33.5",
            "133.5",
            "3970100011",
        ),
        row("", "", "", "特養 どこ", "介護老人福祉施設", "", "", "", "3900000003"),
        row(
            "392014",
            "高知県",
            "高知市",
            "特養 逆",
            "介護老人福祉施設",
            "本町7",
            "133.5",
            "33.5",
            "3900000004",
        ),
        row(
            "392014",
            "高知県",
            "高知市",
            "特養 海外",
            "介護老人福祉施設",
            "本町8",
            "51.5",
            "-0.12",
            "3900000005",
        ),
        row(
            "392014",
            "高知県",
            "高知市",
            "特養 ID無し",
            "介護老人福祉施設",
            "本町9",
            "33.5",
            "133.5",
            "",
        ),
    ]
    src = tmp_path / "mixed.csv"
    src.write_bytes(csv_bytes(rows))
    result = import_kaigo(src)
    reasons = {r.row: (r.category, r.reason) for r in result.rejected}
    assert reasons[5][0] == "skipped" and "短期入所" in reasons[5][1]
    assert reasons[6][0] == "skipped" and "訪問介護" in reasons[6][1]
    assert reasons[7][0] == "error" and "重複" in reasons[7][1] and "2行目" in reasons[7][1]
    assert reasons[8][0] == "error" and "位置が決まりません" in reasons[8][1]
    assert reasons[11][0] == "error" and "ID が空" in reasons[11][1]
    assert set(reasons) == {5, 6, 7, 8, 11}
    ids = {f.facility_id: f for f in result.items}
    assert (ids["3900000004"].lat, ids["3900000004"].lon) == (33.5, 133.5)  # swapped back
    assert ids["3900000005"].geocode == "municipality"  # London → 高知市役所
    assert any("入れ替え" in w.message for w in result.warnings)
    out = write_rejects(result, tmp_path / "rejects.csv")
    back = read_table(out)
    assert list(back.columns[:4]) == ["ファイル", "行", "区分", "理由"]
    assert back.loc[back["行"] == "7", "事業所名"].item() == "特養 重複"
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")


def test_same_number_under_two_services_gets_suffix(tmp_path: Path) -> None:
    a = tmp_path / "jigyosho_331.csv"
    b = tmp_path / "jigyosho_320.csv"
    a.write_bytes(
        csv_bytes(
            [
                row(
                    "392014",
                    "高知県",
                    "高知市",
                    "有料 はな",
                    "特定施設入居者生活介護（有料老人ホーム）",
                    "本町1",
                    "33.5",
                    "133.5",
                    "3970000099",
                )
            ]
        )
    )
    b.write_bytes(
        csv_bytes(
            [
                row(
                    "392014",
                    "高知県",
                    "高知市",
                    "GH はな",
                    "認知症対応型共同生活介護",
                    "本町1",
                    "33.5",
                    "133.5",
                    "3970000099",
                )
            ]
        )
    )
    result = import_kaigo([a, b])
    assert sorted(f.facility_id for f in result.items) == ["3970000099-320", "3970000099-331"]
    assert sorted(f.kind for f in result.items) == ["gh", "tokutei"]


def test_keihi_and_yogo_designated_as_tokutei_count_as_their_own_kind(tmp_path: Path) -> None:
    src = tmp_path / "jigyosho_332.csv"
    src.write_bytes(
        csv_bytes(
            [
                row(
                    "392014",
                    "高知県",
                    "高知市",
                    "ケアハウス やま",
                    "特定施設入居者生活介護（軽費老人ホーム）",
                    "本町1",
                    "33.5",
                    "133.5",
                    "3970000100",
                ),
                row(
                    "392014",
                    "高知県",
                    "高知市",
                    "養護老人ホーム かわ",
                    "特定施設入居者生活介護（有料老人ホーム・外部サービス利用型）",
                    "本町2",
                    "33.5",
                    "133.5",
                    "3970000101",
                ),
                row(
                    "392014",
                    "高知県",
                    "高知市",
                    "特別養護老人ホーム 外",
                    "特定施設入居者生活介護（有料老人ホーム）",
                    "本町3",
                    "33.5",
                    "133.5",
                    "3970000102",
                ),
            ]
        )
    )
    kinds = {f.facility_id: f.kind for f in import_kaigo(src).items}
    assert kinds == {"3970000100": "keihi", "3970000101": "yogo", "3970000102": "tokutei"}


def test_missing_column_raises(tmp_path: Path) -> None:
    src = tmp_path / "broken.csv"
    src.write_text("事業所名,緯度,経度\nA,33.5,133.5\n", encoding="utf-8")
    with pytest.raises(InputError, match="必須列「事業所番号」"):
        import_kaigo(src)


def test_undecodable_bytes_raise(tmp_path: Path) -> None:
    src = tmp_path / "jigyosho_510.csv"
    src.write_bytes(b"\x82\xa0\xff\xfe\x80\x81" * 10)
    with pytest.raises(InputError, match="文字コード"):
        import_kaigo(src)


def test_service_code_from_cell_or_file_name() -> None:
    assert service_code_of("510") == "510"
    assert service_code_of("地域密着型介護老人福祉施設入所者生活介護") == "540"
    assert service_code_of("", "jigyosho_550_all_20250101.csv") == "550"
