"""``kyoryoku match`` with sites and the same-corporation option."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from matcher.cli import app

runner = CliRunner()

FACILITIES = """facility_id,name,kind,lat,lon,covered,has_partner,法人番号,法人の名称
A,本館 従来型,tokuyo,33.560000,133.530000,,false,7000000000002,社会福祉法人よさこい会
B,本館 ユニット型,tokuyo,33.560000,133.530000,,false,7000000000002,社会福祉法人よさこい会
"""
INSTITUTIONS = """institution_id,name,kind,lat,lon,offers,capacity
H1,近い病院,hospital,33.570000,133.530000,consult+care+admit,1
H2,医療法人よさこい会 遠い病院,hospital,33.600000,133.530000,consult+care+admit,1
"""


def run(tmp_path: Path, *options: str) -> tuple[dict[str, object], pd.DataFrame]:
    (tmp_path / "f.csv").write_text(FACILITIES, encoding="utf-8")
    (tmp_path / "i.csv").write_text(INSTITUTIONS, encoding="utf-8")
    out = tmp_path / "out"
    r = runner.invoke(
        app,
        ["match", str(tmp_path / "f.csv"), str(tmp_path / "i.csv"), "--out", str(out), *options],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    props = pd.read_csv(out / "proposals.csv", encoding="utf-8-sig", dtype=str)
    return summary, props


def test_one_building_one_partner_by_default(tmp_path: Path) -> None:
    summary, props = run(tmp_path)
    assert sorted(zip(props.facility_id, props.institution_id, strict=True)) == [
        ("A", "H1"),
        ("B", "H1"),
    ]
    assert summary["partnerships"] == 1 and summary["mandatory_full"] == 1
    assert "count_site_registrations" not in summary["params"]


def test_options_are_passed_and_recorded(tmp_path: Path) -> None:
    summary, props = run(tmp_path, "--count-site-registrations", "--prefer-same-corporation")
    params = summary["params"]
    assert params["count_site_registrations"] is True  # type: ignore[index]
    assert params["prefer_same_corporation"] is True  # type: ignore[index]
    # Each registration alone: capacity 1 each, so both hospitals are needed.
    assert sorted(props.institution_id) == ["H1", "H2"]
    assert summary["mandatory_full"] == 2


def test_prefer_same_corporation_picks_the_group_hospital(tmp_path: Path) -> None:
    _, props = run(tmp_path, "--prefer-same-corporation")
    assert set(props.institution_id) == {"H2"}
