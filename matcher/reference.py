"""Reference tables: prefectures and municipalities with codes and a point each (offline).

The points come from the ``japancode`` package (MIT): one point per municipality, the
government office rather than a centroid, including 政令市 wards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .vocab import code5_of


@dataclass(frozen=True)
class Municipality:
    code: str  # 6-digit 全国地方公共団体コード with check digit
    prefecture: str
    name: str
    lat: float
    lon: float

    @property
    def code5(self) -> str:
        return self.code[:5]

    @property
    def prefecture_code(self) -> str:
        return self.code[:2]


def check_digit(code5: str) -> str:
    """Check digit of a 5-digit 全国地方公共団体コード (weights 6,5,4,3,2)."""
    total = sum(int(d) * w for d, w in zip(code5, (6, 5, 4, 3, 2), strict=False))
    return str((11 - total % 11) % 10)


@lru_cache(maxsize=1)
def municipalities() -> tuple[Municipality, ...]:
    """All 1,916 municipalities (incl. 政令市 wards) in code order."""
    text = resources.files("japancode").joinpath("data/municipalities.json").read_text("utf-8")
    out = []
    for m in json.loads(text):
        code = str(m["lgcode"]).zfill(6)
        out.append(
            Municipality(
                code, m["pref"], m["city"].replace(" ", ""), float(m["lat"]), float(m["lng"])
            )
        )
    return tuple(sorted(out, key=lambda m: m.code))


@lru_cache(maxsize=1)
def prefectures() -> tuple[str, ...]:
    """The 47 prefecture names in code order."""
    text = resources.files("japancode").joinpath("data/prefectures.json").read_text("utf-8")
    return tuple(p["pref"] for p in sorted(json.loads(text), key=lambda p: int(p["pid"])))


def municipality_point(code: str) -> tuple[float, float] | None:
    """The reference point (lat, lon) of a municipality (5 or 6 digits), ``None`` if the code
    is unknown."""
    code = code5_of(code)
    for m in municipalities():
        if m.code5 == code:
            return m.lat, m.lon
    return None


def municipalities_of(prefecture: str | None) -> tuple[Municipality, ...]:
    """Municipalities of one prefecture (by name, e.g. 高知県), or all of Japan for ``None``."""
    if prefecture is None:
        return municipalities()
    found = tuple(m for m in municipalities() if m.prefecture == prefecture)
    if not found:
        raise ValueError(f"都道府県「{prefecture}」が見つかりません (例: 高知県, 東京都)")
    return found
