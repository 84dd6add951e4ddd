"""Inline SVG maps from coordinates (no tiles): outlines, place names, points, lines, a scale.

Labels never overlap: they are placed greedily (markers' own labels first, then place names)
at the first free spot around their point, each taking a box that later labels avoid. A marker's
label that finds no spot next to it is moved further out with a leader line; a place name that
finds none is left out (``SvgMap.dropped`` counts them).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from html import escape

import numpy as np

KM_PER_DEG_LAT = 111.195
_NICE_KM = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
POINT_LABEL_PX = 9
PLACE_LABEL_PX = 8
OBSTACLE_MIN_SIZE = 3.0  # markers at least this large keep labels off them (not the area dots)
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def text_width(text: str, size: float) -> float:
    """Approximate drawn width of ``text`` at ``size`` px: full-width characters one em, others
    0.6 em (measured against IPAexGothic; a little wide, so boxes err on the safe side)."""
    return sum(size if unicodedata.east_asian_width(ch) in "WFA" else 0.6 * size for ch in text)


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class _Placer:
    """Free space of a map: taken boxes, and the frame every label must stay inside."""

    def __init__(self, width: float, height: float, taken: list[Box]) -> None:
        self.frame: Box = (1.0, 1.0, width - 1.0, height - 1.0)
        self.taken = list(taken)

    def fits(self, box: Box) -> bool:
        f = self.frame
        inside = f[0] <= box[0] and box[2] <= f[2] and f[1] <= box[1] and box[3] <= f[3]
        return inside and not any(overlaps(box, t) for t in self.taken)

    def place(
        self, x: float, y: float, text: str, size: float, gap: float, above_first: bool = False
    ) -> Box | None:
        """The first free box for ``text`` around (x, y), ``gap`` px away and taken: right,
        left, above, below, then the diagonals (above and below first for ``above_first``)."""
        w, h = text_width(text, size), size
        sides = [(gap, -h / 2), (-gap - w, -h / 2), (-w / 2, -gap - h), (-w / 2, gap)]
        if above_first:
            sides = sides[2:] + sides[:2]
        for dx, dy in (
            *sides,
            (gap, -gap - h),
            (-gap - w, -gap - h),
            (gap, gap),
            (-gap - w, gap),
        ):
            box = (x + dx, y + dy, x + dx + w, y + dy + h)
            if self.fits(box):
                self.taken.append(box)
                return box
        return None


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
    dropped: int = 0  # place names left out for lack of room (after ``render``)

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
            # The frame inside the drawing, so its stroke is never cut at the edge.
            f'<rect x="0.5" y="0.5" width="{self.width - 1}" height="{self.height - 1}" '
            'fill="#eef4f8" stroke="#b0bec5"/>',
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
        shown: list[tuple[float, float, Point]] = []
        for p in self.points:
            if not inside(p.lat, p.lon):
                self.outside += 1
                continue
            x, y = xy(p.lat, p.lon)
            shown.append((x, y, p))
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
        scale_bar, scale_box = self._scale_bar(scale / KM_PER_DEG_LAT)
        placer = _Placer(
            self.width,
            self.height,
            [
                (x - p.size, y - p.size, x + p.size, y + p.size)
                for x, y, p in shown
                if p.size >= OBSTACLE_MIN_SIZE
            ]
            + [scale_box],
        )
        out += self._point_labels(shown, placer)
        self.dropped = 0
        for pl in self.places:
            if not inside(pl.lat, pl.lon):
                continue
            x, y = xy(pl.lat, pl.lon)
            box = placer.place(x, y, pl.name, PLACE_LABEL_PX, 2, above_first=True)
            if box is None:
                self.dropped += 1
                continue
            # A light box behind the name keeps it readable over dense markers (a stroked halo
            # would turn the glyphs into Type 3 fonts in the PDF).
            out.append(
                f'<rect class="label-bg" x="{box[0] - 0.5:.1f}" y="{box[1]:.1f}" '
                f'width="{box[2] - box[0] + 1:.1f}" height="{box[3] - box[1]:.1f}" '
                'fill="#ffffff" fill-opacity="0.75"/>'
                f'<text class="place" x="{box[0]:.1f}" y="{_baseline(box, PLACE_LABEL_PX):.1f}" '
                f'font-size="{PLACE_LABEL_PX}" fill="#37474f">{escape(pl.name)}</text>'
            )
        out.append(scale_bar)
        out.append("</svg>")
        return "".join(out)

    @staticmethod
    def _point_labels(shown: list[tuple[float, float, Point]], placer: _Placer) -> list[str]:
        """The markers' labels (numbers that the letter's table refers to): never dropped; moved
        out with a leader line when there is no room next to the marker."""
        out = []
        for x, y, p in shown:
            if not p.label:
                continue
            gap = p.size + 1
            box = placer.place(x, y, p.label, POINT_LABEL_PX, gap)
            leader = False
            for ring in (1.5, 2.5, 4.0, 6.0):
                if box is not None:
                    break
                box = placer.place(x, y, p.label, POINT_LABEL_PX, gap + ring * POINT_LABEL_PX)
                leader = box is not None
            if box is None:  # a crowded map: beside the marker, even if it touches another
                w = text_width(p.label, POINT_LABEL_PX)
                bx = min(x + gap, placer.frame[2] - w)
                box = (bx, y - POINT_LABEL_PX / 2, bx + w, y + POINT_LABEL_PX / 2)
                placer.taken.append(box)
            if leader:
                lx = min(max(x, box[0]), box[2])
                ly = min(max(y, box[1]), box[3])
                out.append(
                    f'<line class="leader" x1="{x:.1f}" y1="{y:.1f}" x2="{lx:.1f}" y2="{ly:.1f}" '
                    'stroke="#607d8b" stroke-width="0.6"/>'
                )
            out.append(
                f'<text x="{box[0]:.1f}" y="{_baseline(box, POINT_LABEL_PX):.1f}" '
                f'font-size="{POINT_LABEL_PX}" fill="#263238">{escape(p.label)}</text>'
            )
        return out

    def _scale_bar(self, px_per_km: float) -> tuple[str, Box]:
        """The scale bar and the box it takes (kept free of labels)."""
        target = self.width / 4 / px_per_km
        km = max([k for k in _NICE_KM if k <= target] or [_NICE_KM[0]])
        length = km * px_per_km
        x, y = 8, self.height - 10
        label = f"{km:g} km"
        svg = (
            f'<g class="scale"><line x1="{x}" y1="{y}" x2="{x + length:.1f}" y2="{y}" '
            f'stroke="#263238" stroke-width="2"/>'
            f'<text x="{x}" y="{y - 4}" font-size="9" fill="#263238">{label}</text></g>'
        )
        box = (x - 2, y - 14, x + max(length, text_width(label, 9)) + 2, y + 2)
        return svg, box


def _baseline(box: Box, size: float) -> float:
    """The text baseline that puts a ``size`` px line of text in ``box`` (descent ~12 %)."""
    return box[3] - 0.12 * size
