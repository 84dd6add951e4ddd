"""The gap tables in Japanese (``matcher.gaps.ja``): headings and labels, and readings computed
from the numbers they describe (the 2SFCA prose once said 「1 前後」 of values 2–62)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import WHATIF_PARAMS, tight_instance

from matcher.gaps import ja
from matcher.gaps.access import accessibility
from matcher.gaps.region import Region
from matcher.gaps.tables import gap_tables
from matcher.gaps.whatif import OBJECTIVE_COLUMNS, WhatIfStats
from matcher.match import match
from matcher.model import Instance
from matcher.objective import Objective
from matcher.sources.simple_csv import load_facilities, load_institutions
from matcher.vocab import Capability

DATA = Path(__file__).resolve().parents[2] / "data" / "sample"


def _access(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [(f"f{k}", "39201", cap, v, 1) for cap, vs in values.items() for k, v in enumerate(vs)]
    return pd.DataFrame(
        rows,
        columns=[
            "facility_id",
            "municipality_code",
            "capability",
            "access",
            "institutions_in_range",
        ],
    )


def test_access_reading_states_the_range_it_was_given() -> None:
    text = ja.access_reading(_access({"consult": [2.0, 41.9, 62.0], "admit": [0.5, 1.0, 1.1]}))
    consult, admit = text.splitlines()
    assert consult.startswith("①相談対応: 2.0〜62.0(中央値 41.9、3施設)。1 未満は0施設。")
    assert "需要の約 42 倍" in consult and "1 前後" not in consult and "釣り合" not in consult
    assert admit.startswith("③入院受入: 0.5〜1.1(中央値 1.0、3施設)。1 未満は1施設。")
    assert "ほぼ釣り合っています" in admit
    short = ja.access_reading(_access({"care": [0.1, 0.3, 2.0]}))
    assert "②診療" in short and "足りません" in short
    assert ja.access_reading(_access({})) == "2SFCA: 要件が不足している施設がありません。"


def test_access_reading_on_the_sample_is_not_about_one() -> None:
    # The bundled sample: values far above 1 (unlimited institutions take all demand in reach).
    instance = Instance.of(
        load_facilities(DATA / "facilities.csv").items,
        load_institutions(DATA / "institutions.csv").items,
    )
    access = accessibility(Region.of(instance), "gaussian")
    text = ja.access_reading(access)
    for cap in Capability:
        a = access.loc[access["capability"] == cap.code, "access"]
        assert f"{cap.label_ja}: {a.min():.1f}〜{a.max():.1f}" in text
    assert a.median() > 2 and "釣り合" not in text and "倍あります" in text


def test_every_gap_table_has_japanese_headings_and_labels() -> None:
    region = Region.of(tight_instance(2), WHATIF_PARAMS)
    tables = gap_tables(region, match(region.instance, WHATIF_PARAMS), "step")
    codes = {c for labels in ja.VALUES_JA.values() for c in labels}
    for name, df in tables.items():
        shown = ja.in_japanese(df, name)
        assert [c for c in shown.columns if c.isascii()] == [], name
        assert len(set(shown.columns)) == len(shown.columns), name  # one heading per column
        assert "gain_full" not in df.columns or len(shown.columns) == len(df.columns) - 1
        cells = {str(v) for c in shown.columns if shown[c].dtype == object for v in shown[c]}
        assert not cells & codes, (name, sorted(cells & codes)[:5])
    assert set(OBJECTIVE_COLUMNS) <= set(tables["whatif_capacity"].columns)  # gaps: objective


def test_a_column_without_a_heading_is_refused() -> None:
    with pytest.raises(ValueError, match="列「gain_happiness」の日本語の見出しがありません"):
        ja.in_japanese(pd.DataFrame({"gain_happiness": [1]}))


def test_codes_become_labels_and_flags_marks() -> None:
    df = pd.DataFrame(
        {
            "capability": ["consult", "admit"],
            "kind": ["hospital", "tokuyo"],
            "reason": ["unlimited", "resolved"],
            "cross_prefecture": [True, False],
            "facility_id": ["F1", "F2"],
        }
    )
    shown = ja.in_japanese(df)
    assert list(shown.columns) == ["要件", "種別", "計算", "都道府県をまたぐ", "施設ID"]
    assert shown.to_dict("list") == {
        "要件": ["①相談対応", "③入院受入"],
        "種別": ["病院", "介護老人福祉施設"],
        "計算": ["受入枠の申告なし(上限なし): 効果なし", "再計算"],
        "都道府県をまたぐ": ["○", ""],
        "施設ID": ["F1", "F2"],  # ids stay: they join with the registries
    }


def _whatif(rows: list[tuple]) -> pd.DataFrame:
    columns = ["rank", "name", "gain_mandatory_full", "gain_effort_full", *OBJECTIVE_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def test_whatif_lines_say_when_nothing_changes() -> None:
    table = _whatif([(1, "A病院", 0, 0, 0, 0, 0.0), (2, "B病院", 0, 0, 0, 0, 0.0)])
    lines = ja.whatif_lines(table, "capacity", open_after=0)
    assert lines[0] == "受入枠を 1 増やす医療機関: 2 件のうち、提案が良くなるのは 0 件"
    assert "どの候補も提案を変えません" in lines[1] and "いまの提案ですべて" in lines[1]
    assert len(lines) == 2
    coverage = table.drop(columns=list(OBJECTIVE_COLUMNS))
    lines = ja.whatif_lines(coverage, "sites")
    assert lines == [
        "新設の場所: 2 件のうち、全要件を満たす施設が増減するのは 0 件",
        "  どの候補でも全要件を満たす施設の数は変わりません。連携の数と総距離は比べていません。",
    ]


def test_whatif_lines_without_coverage_gains_rank_by_partnerships_and_km() -> None:
    table = _whatif(
        [
            (1, "檮原町", 0, 0, 0, -3, -14.32),
            (2, "香南市", 0, 0, 0, -1, -50.7),
            (3, "X", 0, 0, 0, 0, 0),
        ]
    )
    lines = ja.whatif_lines(table, "sites", open_after=0)
    assert lines[0] == "新設の場所: 3 件のうち、提案が良くなるのは 2 件"
    assert "全要件を満たす施設が増える候補はありません" in lines[1]
    assert lines[2:] == [
        "  1. 檮原町: 新たな連携 -3件、総距離 -14.3km",
        "  2. 香南市: 新たな連携 -1件、総距離 -50.7km",
    ]


def test_whatif_lines_show_mandatory_and_effort_apart() -> None:
    table = _whatif([(1, "C病院", 4, -4, 0, 4, -117.2)])
    lines = ja.whatif_lines(table, "capacity", extra=5)
    assert lines == [
        "受入枠を 5 増やす医療機関: 1 件のうち、提案が良くなるのは 1 件",
        "  1. C病院: 義務施設 +4施設、努力義務施設 -4施設、新たな連携 +4件、総距離 -117.2km",
    ]


def test_objective_series_and_stats_line() -> None:
    s = ja.objective_series(Objective(115, 177, 581, 299, 1054.1237))
    assert s.to_dict() == {
        "義務施設の充足数": 115,
        "努力義務施設の充足数": 177,
        "充足した要件数": 581,
        "新規連携数": 299,
        "総距離 (km)": 1054.1,
    }
    stats = WhatIfStats(candidates=442, resolved=274, skipped={"unlimited": 168}, seconds=12.34)
    assert ja.stats_line(stats) == "what-if: 442 件を評価 (再計算 274、証明 0、省略 168) 12.3 秒"
