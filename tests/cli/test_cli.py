"""The command line end to end: generate, match, outputs, exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from matcher.cli import app

runner = CliRunner()


def match_sample(data: Path, out: Path, *options: str):
    """``kyoryoku match`` on the generated files in ``data`` with the test's distance limits."""
    return runner.invoke(
        app,
        [
            "match",
            str(data / "facilities.csv"),
            str(data / "institutions.csv"),
            "--out",
            str(out),
            *options,
            "--max-km",
            "consult=20,care=10,admit=25",
        ],
    )


def test_generate_then_match(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = runner.invoke(
        app,
        [
            "generate",
            "--prefecture",
            "高知県",
            "--facilities",
            "80",
            "--institutions",
            "40",
            "--seed",
            "3",
            "--out",
            str(data),
        ],
    )
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    r = match_sample(data, out)
    assert r.exit_code == 0, r.output
    assert "最適性を証明済み" in r.output
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    for key in ("mandatory_full", "effort_full", "pairs_covered", "partnerships", "distance_km"):
        assert key in summary
    assert summary["params"]["max_km"] == {"consult": 20.0, "care": 10.0, "admit": 25.0}
    props = pd.read_csv(out / "proposals.csv", encoding="utf-8-sig", dtype=str)
    assert list(props.columns[:4]) == ["facility_id", "institution_id", "covers", "distance_km"]
    assert len(props) == summary["partnerships"]
    unmatched = pd.read_csv(out / "unmatched.csv", encoding="utf-8-sig", dtype=str)
    assert list(unmatched.columns[:3]) == ["facility_id", "capability", "reason"]
    assert (out / "alternatives.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    # Greedy on the same input is never better.
    r = match_sample(data, tmp_path / "g", "--mode", "greedy")
    g = json.loads((tmp_path / "g" / "summary.json").read_text("utf-8"))
    assert (g["mandatory_full"], g["effort_full"], g["pairs_covered"]) <= (
        summary["mandatory_full"],
        summary["effort_full"],
        summary["pairs_covered"],
    )


def test_bad_input_exit_code_2(tmp_path: Path) -> None:
    f = tmp_path / "facilities.csv"
    f.write_text("facility_id,name,kind,lat,lon\nX,n,unknownkind,33.5,133.5\n", encoding="utf-8")
    i = tmp_path / "institutions.csv"
    i.write_text("institution_id,name,kind,lat,lon,offers\nH,h,病院,91,133.5,1\n", encoding="utf-8")
    r = runner.invoke(app, ["match", str(f), str(i), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "facilities.csv 2行目 列「kind」" in r.output
    assert "institutions.csv 2行目 列「lat」" in r.output
    assert "Traceback" not in r.output


def test_bad_option_exit_code_2(tmp_path: Path) -> None:
    r = runner.invoke(app, ["match", "a.csv", "b.csv", "--max-km", "care=abc"])
    assert r.exit_code == 2 and "数値ではありません" in r.output
    r = runner.invoke(app, ["match", str(tmp_path / "none.csv"), str(tmp_path / "none2.csv")])
    assert r.exit_code == 2 and "ファイルを開けません" in r.output
