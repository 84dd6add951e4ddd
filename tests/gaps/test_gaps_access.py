"""2SFCA against hand-computed tiny examples, on pair arrays and on a real instance."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.gaps.access import accessibility, accessibility_by_area, decay_weight, two_step_fca
from matcher.gaps.region import Region
from matcher.geo import EARTH_RADIUS_KM
from matcher.model import Facility, Instance, Institution
from matcher.params import MatchParams


def test_two_step_fca_step_decay_by_hand() -> None:
    # f0–i0 5 km, f0–i1 10 km, f1–i1 8 km; S = (2, 1); catchment 16 km.
    dem, sup, km = np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([5.0, 10.0, 8.0])
    ratio, access = two_step_fca(dem, sup, km, np.ones(2), np.array([2.0, 1.0]), 16.0, "step")
    # R0 = 2 / 1, R1 = 1 / 2; A0 = R0 + R1, A1 = R1.
    assert ratio == pytest.approx([2.0, 0.5])
    assert access == pytest.approx([2.5, 0.5])
    assert access.sum() == pytest.approx(3.0)  # step 2SFCA conserves supply when all is reached


def test_two_step_fca_linear_decay_by_hand() -> None:
    dem, sup, km = np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([4.0, 8.0, 12.0])
    ratio, access = two_step_fca(dem, sup, km, np.ones(2), np.array([2.0, 1.0]), 16.0, "linear")
    w04, w08, w12 = 0.75, 0.5, 0.25
    r0, r1 = 2.0 / w04, 1.0 / (w08 + w12)
    assert ratio == pytest.approx([r0, r1])
    assert access == pytest.approx([w04 * r0 + w08 * r1, w12 * r1])


def test_gaussian_decay_is_one_at_zero_and_zero_at_the_catchment() -> None:
    w = decay_weight(np.array([0.0, 8.0, 16.0, 20.0]), 16.0, "gaussian")
    assert w[0] == pytest.approx(1.0)
    assert w[2] == pytest.approx(0.0, abs=1e-12) and w[3] == 0.0
    e = np.exp(-0.5)
    assert w[1] == pytest.approx((np.exp(-0.125) - e) / (1 - e))
    with pytest.raises(ValueError, match="不明な距離減衰"):
        decay_weight(np.array([1.0]), 16.0, "cubic")  # type: ignore[arg-type]


def _north(km: float) -> float:
    """Latitude of a point ``km`` north of 35°N on the same meridian."""
    return 35.0 + np.degrees(km / EARTH_RADIUS_KM)


def test_accessibility_on_an_instance_matches_the_hand_example() -> None:
    # Two グループホーム missing care, two clinics offering care on one meridian.
    facs = [
        Facility(
            "f0",
            "",
            "gh",
            _north(0),
            135.0,
            covered=1,
            has_partner=True,
            municipality_code="272000",
        ),
        Facility(
            "f1",
            "",
            "gh",
            _north(18),
            135.0,
            covered=1,
            has_partner=True,
            municipality_code="272000",
        ),
    ]
    insts = [
        Institution("i0", "", "clinic", _north(-5), 135.0, offers=3, capacity=2),
        Institution("i1", "", "clinic", _north(10), 135.0, offers=3, capacity=1),
    ]
    region = Region.of(Instance.of(facs, insts), MatchParams())
    df = accessibility(region, "step").query("capability == 'care'").set_index("facility_id")
    assert df.loc["f0", "access"] == pytest.approx(2.5)
    assert df.loc["f1", "access"] == pytest.approx(0.5)
    assert list(df["institutions_in_range"]) == [2, 1]
    area = accessibility_by_area(df.reset_index())
    assert area.loc[0, "access_mean"] == pytest.approx(1.5)
    assert area.loc[0, "area_code"] == "27200"
