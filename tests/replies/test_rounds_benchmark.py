"""``benchmarks/rounds.py`` keeps working (a tiny tight region, two rounds, each strategy): the
answers it simulates are the oracle's, the letters go through the reply loop, nothing is asked
twice, and reserve + backups never covers fewer 義務 facilities than no strategy here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from matcher.params import MatchParams

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "rounds.py"


def _rounds():
    spec = importlib.util.spec_from_file_location("bench_rounds", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_rounds"] = module
    spec.loader.exec_module(module)
    return module


def test_the_decline_simulator_runs_each_strategy() -> None:
    rounds = _rounds()
    instance = rounds.region("鳥取県", 1, 60, 20, 0.5)
    declined = rounds.declines(1, 0.2)
    assert declined("F1", "I1") == rounds.declines(1, 0.2)("F1", "I1")  # seeded, per pair
    best = rounds.oracle(instance, MatchParams(), "optimal", declined)
    plain = rounds.simulate(instance, MatchParams(), "optimal", declined, 2, "none")
    both = rounds.simulate(instance, MatchParams(), "optimal", declined, 2, "reserve+backups", 1)
    assert best > 0 and len(plain) == len(both) == 2
    assert plain[0].backups == 0 and plain[0].held == 0
    assert both[0].held > 0 and both[0].backups > 0
    assert 0 < plain[0].letters <= plain[0].requests  # a letter per institution, a row per pair
    assert both[-1].covered >= plain[-1].covered
