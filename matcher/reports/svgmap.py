"""Inline SVG maps from coordinates (no tiles): outlines, place names, points, lines, a scale."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

import numpy as np

KM_PER_DEG_LAT = 111.195
_NICE_KM = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)


@dataclass(frozen=True)
class Point:
    """A marker: ``shape`` is ``circle`` (facility) or ``square`` (institution)."""

    lat: float
    lon: float
    color: str
    shape: str = "circle"
    label: str = ""
    title: str = ""
    size: float = 4.0
    hollow: bool = False  # an approximate location (the municipality's point)


@dataclass(frozen=True)
class Place:
    """A place name written at a point (e.g. a municipality at its representative point)."""

    lat: float
    lon: float
    name: str


@dataclass(frozen=True)
class Line:
    lat1: float
    lon1: float
    lat2: float
    lon2: float
    color: str = "#1565c0"
    dashed: bool = False


@dataclass
class SvgMap:
    """An equirectangular map fitted to its points (aspect kept by cos(latitude)).

    With ``clip_outliers`` the extent leaves out points far from the bulk (e.g. 東京都's
    islands, 100–1,000 km off) so the mainland stays readable; points left out are counted in
    ``outside`` after ``render``.
    """

    width: int = 320
    height: int = 240
    points: list[Point] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    clip_outliers: bool = False
    outside: int = 0
    outlines: list[np.ndarray] = field(default_factory=list)  # lon/lat rings drawn first
    places: list[Place] = field(default_factory=list)

    def _extent(self) -> tuple[float, float, float, float]:
        lats = np.array([p.lat for p in self.points] or [35.0])
        lons = np.array([p.lon for p in self.points] or [135.0])
        if self.clip_outliers and len(lats) >= 20:
            # Far from where most points are: more than 4 × the 75th-percentile distance to the
            # median point (keeps a long coast like 高知県 whole, drops 伊豆・小笠原).
            lat_m, lon_m = np.median(lats), np.median(lons)
            d = np.hypot((lats - lat_m), (lons - lon_m) * math.cos(math.radians(lat_m)))
            keep = d <= max(4 * np.quantile(d, 0.75), 0.05)
            lats, lons = lats[keep], lons[keep]
        lat0, lat1 = lats.min(), lats.max()
        lon0, lon1 = lons.min(), lons.max()
        # At least ~2 km across, and a margin so markers at the edge stay whole.
        pad_lat = max((lat1 - lat0) * 0.08, 1.0 / KM_PER_DEG_LAT)
        pad_lon = max((lon1 - lon0) * 0.08, 1.0 / KM_PER_DEG_LAT)
        return (
            float(lat0 - pad_lat),
            float(lat1 + pad_lat),
            float(lon0 - pad_lon),
            float(lon1 + pad_lon),
        )

    def render(self) -> str:
        """The map as an ``<svg>`` element string (escaped, ready to inline)."""
        lat0, lat1, lon0, lon1 = self._extent()
        kx = math.cos(math.radians((lat0 + lat1) / 2))
        span_x = (lon1 - lon0) * kx
        span_y = lat1 - lat0
        scale = min(self.width / span_x, self.height / span_y)  # px per degree of latitude
        ox = (self.width - span_x * scale) / 2
        oy = (self.height - span_y * scale) / 2

        def xy(lat: float, lon: float) -> tuple[float, float]:
            return ox + (lon - lon0) * kx * scale, oy + (lat1 - lat) * scale

        def inside(lat: float, lon: float) -> bool:
            return lat0 <= lat <= lat1 and lon0 <= lon <= lon1

        out = [
            (
                f'<svg xmlns="http://www.w3.org/2000/svg" class="map" width="{self.width}" '
                f'height="{self.height}" viewBox="0 0 {self.width} {self.height}">'
            ),
            f'<rect width="{self.width}" height="{self.height}" fill="#eef4f8" stroke="#b0bec5"/>',
        ]
        for ring in self.outlines:
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(lat, lon) for lon, lat in ring))
            out.append(
                f'<polygon points="{pts}" fill="#ffffff" stroke="#78909c" stroke-width="0.8"/>'
            )
        for ln in self.lines:
            if not (inside(ln.lat1, ln.lon1) and inside(ln.lat2, ln.lon2)):
                continue
            (x1, y1), (x2, y2) = xy(ln.lat1, ln.lon1), xy(ln.lat2, ln.lon2)
            dash = ' stroke-dasharray="3 2"' if ln.dashed else ""
            out.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                f'stroke="{ln.color}" stroke-width="1" stroke-opacity="0.7"{dash}/>'
            )
        self.outside = 0
        for p in self.points:
            if not inside(p.lat, p.lon):
                self.outside += 1
                continue
            x, y = xy(p.lat, p.lon)
            title = f"<title>{escape(p.title)}</title>" if p.title else ""
            paint = (
                f'fill="#ffffff" stroke="{p.color}" stroke-width="1.2" stroke-dasharray="2 1"'
                if p.hollow
                else f'fill="{p.color}" stroke="#fff" stroke-width="0.7"'
            )
            if p.shape == "square":
                s = p.size
                out.append(
                    f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{2 * s:.1f}" '
                    f'height="{2 * s:.1f}" {paint}>{title}</rect>'
                )
            else:
                out.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{p.size:.1f}" {paint}>{title}</circle>'
                )
            if p.label:
                out.append(
                    f'<text x="{x + p.size + 1:.1f}" y="{y + 3:.1f}" font-size="9" '
                    f'fill="#263238">{escape(p.label)}</text>'
                )
        for pl in self.places:
            if inside(pl.lat, pl.lon):
                x, y = xy(pl.lat, pl.lon)
                out.append(
                    f'<text class="place" x="{x:.1f}" y="{y - 2:.1f}" font-size="8" fill="#455a64" '
                    f'text-anchor="middle">{escape(pl.name)}</text>'
                )
        out.append(self._scale_bar(scale / KM_PER_DEG_LAT))
        out.append("</svg>")
        return "".join(out)

    def _scale_bar(self, px_per_km: float) -> str:
        target = self.width / 4 / px_per_km
        km = max([k for k in _NICE_KM if k <= target] or [_NICE_KM[0]])
        length = km * px_per_km
        x, y = 8, self.height - 10
        label = f"{km:g} km"
        return (
            f'<g class="scale"><line x1="{x}" y1="{y}" x2="{x + length:.1f}" y2="{y}" '
            f'stroke="#263238" stroke-width="2"/>'
            f'<text x="{x}" y="{y - 4}" font-size="9" fill="#263238">{label}</text></g>'
        )
