"""Capacity means one thing in 2SFCA and in matching: blank = not declared = unlimited."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.gaps.access import accessibility, supply_weights
from matcher.gaps.region import Region
from matcher.geo import EARTH_RADIUS_KM
from matcher.match import match
from matcher.model import Facility, Instance, Institution


def _north(km: float) -> float:
    return 35.0 + float(np.degrees(km / EARTH_RADIUS_KM))


def _case(capacity: int | None) -> Instance:
    facs = [
        Facility(f"f{k}", "", "gh", _north(k), 135.0, covered=1, has_partner=True) for k in range(4)
    ]
    return Instance.of(facs, [Institution("i0", "", "clinic", _north(1.5), 135.0, 3, capacity)])


def test_undeclared_supply_is_the_demand_in_reach() -> None:
    s = supply_weights(np.array([2, -1, 0]), np.array([5.0, 7.0, 3.0]))
    assert list(s) == [2.0, 7.0, 0.0]
    with pytest.raises(ValueError, match="不明な供給量"):
        supply_weights(np.array([1]), np.array([1.0]), "beds")  # type: ignore[arg-type]


def test_an_undeclared_institution_never_limits_anyone_in_either() -> None:
    inst = _case(None)
    access = accessibility(Region.of(inst), "step").query("capability == 'care'")
    assert list(access["access"]) == pytest.approx([1.0] * 4)  # enough for every facility
    assert len(match(inst).proposals) == 4  # and the matcher gives it to all four
    declared = _case(2)
    access = accessibility(Region.of(declared), "step").query("capability == 'care'")
    assert list(access["access"]) == pytest.approx([0.5] * 4)  # 2 places for 4 facilities
    assert len(match(declared).proposals) == 2
