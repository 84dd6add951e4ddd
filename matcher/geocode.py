"""Offline geocoding fallback: a row without usable coordinates is placed at its municipality.

The point is the municipality's office from ``reference.municipalities()`` (japancode), found by
the 全国地方公共団体コード (5 digits, or 6 with check digit) or by the municipality's name at the
start of the address. Such rows are marked ``geocode="municipality"`` so that every output can
say the distance is approximate.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .geo import coordinate_problem, in_japan
from .model import GeocodePrecision
from .reference import Municipality, check_digit, municipalities, prefectures

# 浜松市 reorganised its wards on 2024-01-01; japancode still lists the old ones. The new ward
# offices are the old 中区 (中央区) and 浜北区 (浜名区) offices; 天竜区 kept its code.
_RENAMED = {"22138": "22131", "22139": "22136"}
_RENAMED_NAMES = {"浜松市中央区": "浜松市中区", "浜松市浜名区": "浜松市浜北区"}


@lru_cache(maxsize=1)
def _by_code5() -> dict[str, Municipality]:
    return {m.code5: m for m in municipalities()}


@lru_cache(maxsize=1)
def _by_name() -> dict[str, list[Municipality]]:
    out: dict[str, list[Municipality]] = {}
    for m in municipalities():
        out.setdefault(m.name, []).append(m)
    return out


def normalize_municipality_code(value: object) -> str:
    """The 6-digit form (with check digit) of a 5- or 6-digit code; "" if it is not one.

    A 6-digit code whose check digit is wrong is rejected (returns "") rather than guessed.
    """
    text = unicodedata.normalize("NFKC", "" if value is None else str(value)).strip()
    if text.endswith(".0"):  # Excel turned the code into a float
        text = text[:-2]
    if not text.isdigit() or len(text) not in (4, 5, 6):
        return ""
    if len(text) == 4:  # Excel dropped the leading zero of 01…09
        text = "0" + text
    if len(text) == 5:
        return text + check_digit(text)
    return text if check_digit(text[:5]) == text[5] else ""


def municipality_by_code(value: object) -> Municipality | None:
    """The municipality of a 5- or 6-digit code, ``None`` for prefectures and unknown codes."""
    code = normalize_municipality_code(value)
    if not code:
        return None
    code5 = _RENAMED.get(code[:5], code[:5])
    return _by_code5().get(code5)


def municipality_in_address(address: object) -> Municipality | None:
    """The municipality whose name starts the address (after the prefecture and any 郡).

    The most specific match wins, so ``札幌市中央区…`` gives the ward and ``札幌市…`` the city.
    """
    text = re.sub(
        r"\s+", "", unicodedata.normalize("NFKC", "" if address is None else str(address))
    )
    text = re.sub(r"^〒?\d{3}-?\d{4}", "", text)
    pref = next((p for p in prefectures() if text.startswith(p)), None)
    rest = text[len(pref) :] if pref else text
    for old, new in _RENAMED_NAMES.items():
        if rest.startswith(old):
            rest = new + rest[len(old) :]
    candidates = [rest]
    gun = re.match(r"^.+?郡", rest)
    if gun:
        candidates.append(rest[gun.end() :])
    for cand in candidates:
        for length in range(min(len(cand), 10), 1, -1):
            found = [
                m for m in _by_name().get(cand[:length], []) if pref is None or m.prefecture == pref
            ]
            if len(found) == 1:
                return found[0]
    return None


@dataclass(frozen=True)
class Located:
    """Coordinates to use for a row, how precise they are, and a note (Japanese) if changed."""

    lat: float | None
    lon: float | None
    precision: GeocodePrecision
    note: str = ""
    municipality: Municipality | None = None

    @property
    def ok(self) -> bool:
        return self.lat is not None and self.lon is not None

    @property
    def kind(self) -> str:
        """How the note changed the row: ``fix`` (swapped back), ``fallback`` (municipality point),
        ``error`` (no point at all) or "" (unchanged)."""
        if not self.ok:
            return "error"
        if not self.note:
            return ""
        return "fallback" if self.precision == GeocodePrecision.MUNICIPALITY else "fix"


def _text(value: object) -> str:
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).strip()


def _number(value: object) -> float | None:
    text = _text(value)
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number else None


def locate(
    lat: object, lon: object, municipality_code: object = "", address: object = ""
) -> Located:
    """Coordinates for a row: its own if plausible, swapped back if swapped, else its municipality.

    Blank, zero, unparsable and outside-Japan coordinates fall back to the municipality's point
    (``precision="municipality"``); when no municipality can be found either the result has no
    coordinates and ``note`` says why.
    """
    la, lo = _number(lat), _number(lon)
    problem = coordinate_problem(la, lo)
    if problem is None:
        return Located(la, lo, GeocodePrecision.EXACT)
    if la is not None and lo is not None and in_japan(lo, la):
        return Located(
            lo, la, GeocodePrecision.EXACT, "緯度と経度が入れ替わっていたため入れ替えました"
        )
    unparsable = any(_text(v) and n is None for v, n in ((lat, la), (lon, lo)))
    why = "緯度・経度が数値ではありません" if unparsable else problem
    muni = municipality_by_code(municipality_code) or municipality_in_address(address)
    if muni is None:
        return Located(
            None,
            None,
            GeocodePrecision.MUNICIPALITY,
            f"{why}。市区町村も特定できないため位置が決まりません",
        )
    return Located(
        muni.lat,
        muni.lon,
        GeocodePrecision.MUNICIPALITY,
        f"{why}: 市区町村「{muni.prefecture}{muni.name}」の代表点(役所の位置)を使います",
        muni,
    )
