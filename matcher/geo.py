"""Great-circle distances, vectorised, and plausibility checks for coordinates in Japan."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike
Floats = npt.NDArray[np.float64]

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG); haversine vs WGS-84 geodesic < 0.5 %

# Japan's extent with a margin: 沖ノ鳥島 20.4°N … 択捉島 45.6°N, 与那国島 122.9°E … 南鳥島 154.0°E.
JAPAN_LAT = (20.0, 46.0)
JAPAN_LON = (122.0, 154.5)


def haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> Floats:
    """Great-circle distance in km between paired points (degrees; arrays broadcast)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), np.float64)


def geodesic_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """WGS-84 geodesic distance of one pair (geopy); for spot checks, never in a hot loop."""
    from geopy.distance import geodesic

    return float(geodesic((lat1, lon1), (lat2, lon2)).km)


def unit_vectors(lat: ArrayLike, lon: ArrayLike) -> Floats:
    """Points on the unit sphere (n × 3), so that a k-d tree's Euclidean chord orders by arc."""
    phi, lmb = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lon, float))
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lmb), cos_phi * np.sin(lmb), np.sin(phi)))


def km_to_chord(km: float) -> float:
    """Chord length on the unit sphere of an arc of ``km``."""
    return float(2.0 * np.sin(min(km / EARTH_RADIUS_KM, np.pi) / 2.0))


def chord_to_km(chord: ArrayLike) -> Floats:
    """Arc length in km of chords on the unit sphere (inverse of ``km_to_chord``)."""
    arc = np.arcsin(np.clip(np.asarray(chord, np.float64) / 2.0, 0.0, 1.0))
    return np.asarray(2.0 * EARTH_RADIUS_KM * arc, np.float64)


def in_japan(lat: float, lon: float) -> bool:
    """Whether a point lies in Japan's bounding box (with a small margin)."""
    return JAPAN_LAT[0] <= lat <= JAPAN_LAT[1] and JAPAN_LON[0] <= lon <= JAPAN_LON[1]


def coordinate_problem(lat: float | None, lon: float | None) -> str | None:
    """Why a coordinate pair cannot be used, in Japanese; ``None`` when it looks fine."""
    if lat is None or lon is None or lat != lat or lon != lon:
        return "緯度・経度がありません"
    if lat == 0 and lon == 0:
        return "緯度・経度が (0, 0) です(未設定の可能性)"
    if in_japan(lat, lon):
        return None
    if in_japan(lon, lat):
        return "緯度と経度が入れ替わっているようです"
    return f"日本国外の座標です (緯度 {lat}, 経度 {lon})"
