"""Deterministic synthetic instances around real municipality locations, any scale.

Facility kinds follow the national counts of 2025 (FORMATS.md §6); institutions mix
在宅療養支援病院 (①②③), admission-only hospitals (地域包括ケア病棟 / 後方支援) and
在宅療養支援診療所 (①②). Compliance follows the 令和7年度速報 rates. The same arguments always
give the same instance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .geo import JAPAN_LAT, JAPAN_LON
from .model import ALL_MASK, FACILITY_KINDS, Facility, Instance, Institution, InstitutionKind
from .reference import Municipality, municipalities_of

NATIONAL_FACILITIES = {
    "tokuyo": 11098,
    "roken": 4131,
    "iryoin": 915,
    "yogo": 923,
    "keihi": 2296,
    "tokutei": 6300,
    "gh": 14000,
}
# Institutions that offer something: 支援病院 ~2,000, admission-only hospitals ~3,250,
# 支援診療所 ~14,700 (FORMATS.md §6); scaled to ~23,000 with other willing clinics.
NATIONAL_INSTITUTIONS = {"full_hospital": 2000, "admit_hospital": 3250, "clinic": 17750}
COMPLIANT = {
    "tokuyo": 0.679,
    "roken": 0.833,
    "iryoin": 0.849,
    "yogo": 0.604,
    "keihi": 0.6,
    "tokutei": 0.6,
    "gh": 0.6,
}
SHORT = {
    "tokuyo": "特養",
    "roken": "老健",
    "iryoin": "介護医療院",
    "yogo": "養護",
    "keihi": "ケアハウス",
    "tokutei": "介護付有料",
    "gh": "グループホーム",
}
_NAMES = (
    "さくら",
    "あおば",
    "ひまわり",
    "みどり",
    "やまびこ",
    "こすもす",
    "つばき",
    "かえで",
    "すずらん",
    "なごみ",
    "ひだまり",
    "いずみ",
    "わかば",
    "あさひ",
    "のぞみ",
    "はなみずき",
)


def _weights(munis: tuple[Municipality, ...]) -> np.ndarray:
    """Rough population weights: wards and cities hold more people than towns and villages."""
    w = np.array(
        [
            3.0
            if m.name.endswith("区")
            else 2.0
            if m.name.endswith("市")
            else 1.0
            if m.name.endswith("町")
            else 0.5
            for m in munis
        ]
    )
    # A 政令市 is listed both as a whole and by ward: keep the wards only.
    names = [m.name for m in munis]
    for k, m in enumerate(munis):
        if m.name.endswith("市") and any(n.startswith(m.name) and n != m.name for n in names):
            w[k] = 0.0
    weights: np.ndarray = w / w.sum()
    return weights


def _place(
    rng: np.random.Generator,
    munis: Sequence[Municipality],
    idx: np.ndarray,
    spread_km: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    lat0 = np.array([munis[k].lat for k in idx])
    lon0 = np.array([munis[k].lon for k in idx])
    s = spread_km[idx]
    lat = lat0 + rng.normal(0, 1, len(idx)) * s / 111.0
    lon = lon0 + rng.normal(0, 1, len(idx)) * s / (111.0 * np.cos(np.radians(lat0)))
    return np.clip(lat, *JAPAN_LAT), np.clip(lon, *JAPAN_LON)


def _draw(
    rng: np.random.Generator,
    national: dict[str, int],
    total: int | None,
    share: float,
    munis: Sequence[Municipality],
    weights: np.ndarray,
    spread: np.ndarray,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """How many, of which type (index into ``national``), where (municipality index, lat, lon)."""
    counts = np.array(list(national.values()), float)
    n = total if total is not None else max(1, int(round(counts.sum() * share)))
    type_idx = rng.choice(len(counts), size=n, p=counts / counts.sum())
    where = rng.choice(len(munis), size=n, p=weights)
    lat, lon = _place(rng, munis, where, spread)
    return n, type_idx, where, lat, lon


def generate(
    prefecture: str | None = "高知県",
    scale: float = 1.0,
    seed: int = 1,
    n_facilities: int | None = None,
    n_institutions: int | None = None,
    capacity_factor: float = 1.0,
    declared_share: float | None = None,
) -> Instance:
    """A synthetic instance for one prefecture (``None``: all Japan).

    ``scale`` multiplies the prefecture's share of the national counts; ``n_facilities`` /
    ``n_institutions`` override the totals; ``capacity_factor`` scales declared capacities
    (below 1 makes capacity tight); ``declared_share`` overrides the share of institutions
    that declare a capacity (default 70 % of hospitals, 60 % of clinics; the rest are unlimited).
    """
    if scale <= 0:
        raise ValueError(f"scale は正の数で指定してください (値: {scale})")
    rng = np.random.default_rng(seed)
    munis = municipalities_of(prefecture)
    weights = _weights(munis)
    share = len(munis) / 1916 * scale  # municipalities as a rough proxy of the area's share
    spread = np.where(
        [m.name.endswith("区") for m in munis],
        1.5,
        np.where([m.name.endswith("市") for m in munis], 3.5, 5.0),
    )
    # Facilities.
    kinds = list(NATIONAL_FACILITIES)
    total_f, kind_idx, where, lat, lon = _draw(
        rng, NATIONAL_FACILITIES, n_facilities, share, munis, weights, spread
    )
    facilities = []
    for n in range(total_f):
        kind = kinds[kind_idx[n]]
        m = munis[where[n]]
        required = FACILITY_KINDS[kind].required
        u = rng.random()
        if u < 0.1:
            covered, has = 0, None  # no filing
        elif u < 0.1 + 0.9 * COMPLIANT[kind]:
            covered, has = required, True
        else:
            v = rng.random()
            if v < 0.5:
                sub = [s for s in range(1, 8) if s & required == s and s != required]
                covered, has = int(rng.choice(sub)), True
            elif v < 0.65:
                covered, has = 0, True
            else:
                covered, has = 0, False
        facilities.append(
            Facility(
                facility_id=f"{m.code[:2]}{n + 1:08d}",
                name=f"{m.name}{SHORT[kind]}{_NAMES[n % len(_NAMES)]}{n + 1}",
                kind=kind,
                lat=round(float(lat[n]), 6),
                lon=round(float(lon[n]), 6),
                covered=covered,
                has_partner=has,
                municipality_code=m.code,
                address=f"{m.prefecture}{m.name}{1 + n % 9}-{1 + n % 17}",
            )
        )
    # Institutions.
    types = list(NATIONAL_INSTITUTIONS)
    total_i, type_idx, where, lat, lon = _draw(
        rng, NATIONAL_INSTITUTIONS, n_institutions, share, munis, weights, spread
    )
    institutions = []
    for n in range(total_i):
        t = types[type_idx[n]]
        m = munis[where[n]]
        hospital = t != "clinic"
        offers = ALL_MASK if t == "full_hospital" else 0b100 if t == "admit_hospital" else 0b011
        share_declared = (
            declared_share if declared_share is not None else (0.7 if hospital else 0.6)
        )
        declared = rng.random() < share_declared
        base = rng.integers(2, 7) if hospital else rng.integers(1, 4)
        capacity = max(0, int(round(base * capacity_factor))) if declared else None
        institutions.append(
            Institution(
                institution_id=f"{m.code[:2]}1{n + 1:07d}",
                name=f"{m.name}{_NAMES[(n * 7) % len(_NAMES)]}"
                f"{'病院' if hospital else 'クリニック'}{n + 1}",
                kind=InstitutionKind.HOSPITAL if hospital else InstitutionKind.CLINIC,
                lat=round(float(lat[n]), 6),
                lon=round(float(lon[n]), 6),
                offers=offers,
                capacity=capacity,
                municipality_code=m.code,
                address=f"{m.prefecture}{m.name}{1 + n % 7}-{1 + n % 13}",
            )
        )
    return Instance.of(facilities, institutions)
