"""The 令和7年12月25日 別紙1 table: parser, defect report, and the reference files in data/."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from matcher._errors import InputError
from matcher.reference import prefectures
from matcher.sources.seed_table import SHARES, check_status_table, parse_status_table

DATA = Path(__file__).resolve().parents[2] / "data" / "reference"
NOTICE = DATA / "mhlw_r71225_notice.txt"


def small_table(rows: list[str]) -> str:
    head = "\tA.介護老人福祉施設\t\t\t\tB.介護老人保健施設\t\t\t\tC.介護老人保健施設\t\t\t"
    marks = "\t" + "\t".join(["①", "②", "③", "④"] * 3)
    return "前文\n\n" + "\n".join([head, marks, *rows]) + "\n\n①全ての要件を満たした…\n"


def test_small_table_defects_are_exactly_the_injected_ones() -> None:
    good = "\t".join(["50%", "30%", "10%", "10%"])
    text = small_table(
        [
            "北海道\t" + "\t".join([good, good, good]),
            "青森県\t" + "\t".join(["120%", "0%", "0%", "0%", good, good]),  # > 100 and sum 120
            "岩手県\t" + "\t".join([good, "50%", "30%", "10%", "5%", good]),  # sums to 95
            "岩手県\t" + "\t".join([good, good, good]),  # repeated
            "宮城県\t" + "\t".join([good, good]),  # short row
        ]
    )
    table = parse_status_table(text)
    assert [g.kind for g in table.groups] == ["tokuyo", "roken", "roken"]
    assert len(table.shares) == 4 * 3
    found = {(d.kind, d.prefecture, d.group) for d in check_status_table(table)}
    missing = {
        ("missing_prefecture", p, "")
        for p in prefectures()
        if p not in {"北海道", "青森県", "岩手県", "宮城県"}
    }
    assert found - missing == {
        ("cell_over_100", "青森県", "A"),
        ("group_sum", "青森県", "A"),
        ("group_sum", "岩手県", "B"),
        ("duplicate_prefecture", "岩手県", ""),
        ("row_length", "宮城県", ""),
        ("duplicate_group_label", "", "C"),
        ("missing_kind", "", "iryoin"),
        ("missing_kind", "", "yogo"),
        ("missing_kind", "", "keihi"),
        ("missing_kind", "", "tokutei"),
        ("missing_kind", "", "gh"),
    }
    assert missing <= found


def test_no_header_raises() -> None:
    with pytest.raises(InputError, match="見出し"):
        parse_status_table("北海道\t1%\n")


def _independent_reading(text: str) -> tuple[list[str], dict[tuple[str, int], list[float]]]:
    """A second, simpler reading of the text: prefecture lines and their 24 numbers."""
    rows: dict[tuple[str, int], list[float]] = {}
    names = []
    for line in text.splitlines():
        m = re.match(r"^(\S+?[都道府県])\t(.*)$", line)
        if not m:
            continue
        numbers = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)%", m.group(2))]
        names.append(m.group(1))
        for g in range(len(numbers) // 4):
            rows[(m.group(1), g)] = numbers[4 * g : 4 * g + 4]
    return names, rows


def test_notice_defects_match_the_text() -> None:
    text = NOTICE.read_text("utf-8")
    table = parse_status_table(text)
    defects = check_status_table(table)
    names, rows = _independent_reading(text)
    letters = "ABCDEF"
    assert {(d.prefecture, d.group) for d in defects if d.kind == "cell_over_100"} == {
        (p, letters[g]) for (p, g), v in rows.items() if max(v) > 100
    }
    assert {(d.prefecture, d.group) for d in defects if d.kind == "group_sum"} == {
        (p, letters[g]) for (p, g), v in rows.items() if abs(sum(v) - 100) > 1
    }
    assert {d.prefecture for d in defects if d.kind == "missing_prefecture"} == set(
        prefectures()
    ) - set(names)
    # What a reader of the notice sees: 岡山県 is missing, D and E are both 軽費老人ホーム, no
    # 養護老人ホーム or グループホーム column, and 埼玉県 has 154 % and 150 %.
    assert {d.prefecture for d in defects if d.kind == "missing_prefecture"} == {"岡山県"}
    assert [
        (d.kind, d.group) for d in defects if d.kind in ("duplicate_group_label", "missing_kind")
    ] == [("duplicate_group_label", "E"), ("missing_kind", "yogo"), ("missing_kind", "gh")]
    assert sorted(d.value for d in defects if d.kind == "cell_over_100") == [150, 154]
    assert not [
        d for d in defects if d.kind in ("row_length", "duplicate_prefecture", "unknown_prefecture")
    ]


def test_reference_csv_is_the_parsed_notice() -> None:
    table = parse_status_table(NOTICE.read_text("utf-8"))
    stored = pd.read_csv(
        DATA / "status_r7.csv", dtype={"kind": str}, keep_default_na=False, encoding="utf-8-sig"
    )
    assert list(stored.columns) == ["prefecture", "group", "kind_label", "kind", *SHARES]
    assert len(stored) == 46 * 6
    pd.testing.assert_frame_equal(stored, table.shares, check_dtype=False)
    defects = pd.read_csv(
        DATA / "status_r7_defects.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    assert len(defects) == len(check_status_table(table))


def test_survey_rates_appear_in_the_notices() -> None:
    rates = pd.read_csv(DATA / "survey_rates.csv", dtype=str, encoding="utf-8-sig")
    texts = {
        "2024": (DATA / "mhlw_r70528_notice.txt").read_text("utf-8"),
        "2025": NOTICE.read_text("utf-8"),
    }
    label = {
        "tokuyo": "介護老人福祉施設",
        "roken": "介護老人保健施設",
        "iryoin": "介護医療院",
        "yogo": "養護老人ホーム",
    }
    for r in rates.itertuples(index=False):
        flat = re.sub(r"\s", "", texts[r.fiscal_year])
        assert re.search(
            f"{label[r.kind]}[^%]{{0,40}}?で{re.escape(r.share_all_percent)}%", flat
        ), (r.kind, r.fiscal_year)
    assert len(rates) == 8
