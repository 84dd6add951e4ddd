"""``kyoryoku gaps`` on the bundled sample: tables as UTF-8-with-BOM CSV and a map."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.cli import app

DATA = Path(__file__).resolve().parents[2] / "data" / "sample"


def gaps(out: Path, *options: str):
    """``kyoryoku gaps`` on the bundled sample, writing to ``out``."""
    return CliRunner().invoke(
        app,
        ["gaps", str(DATA / "facilities.csv"), str(DATA / "institutions.csv"), "--out", str(out)]
        + list(options),
    )


def test_gaps_writes_tables_and_map(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the map needs matplotlib")
    res = gaps(tmp_path, "--area", "39201")
    assert res.exit_code == 0, res.output
    for name in (
        "balance_municipality",
        "access_facility",
        "uncoverable",
        "whatif_capacity",
        "whatif_sites",
        "crossings",
        "scope_summary",
    ):
        assert (tmp_path / f"{name}.csv").read_bytes().startswith(b"\xef\xbb\xbf"), name
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


def test_gaps_rejects_an_unknown_decay(tmp_path: Path) -> None:
    res = gaps(tmp_path, "--decay", "cubic")
    assert res.exit_code == 2
    assert "不明な距離減衰" in res.output
