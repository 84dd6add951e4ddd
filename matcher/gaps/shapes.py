"""Prefecture outlines for the national map: the bundled file and how it was made.

``prefectures.json`` (next to this module, shipped as package data) holds one simplified outline
per prefecture — the main area containing the prefectural office, as in ``japanmap``'s data —
as lon/lat rings keyed by prefecture name in code order. It is generated from the boundary
data of the ``japanmap`` package (Apache License 2.0, © 2022 Saito Tsutomu) by
``python -m matcher.gaps.shapes PATH/TO/japanmap/japan.json``; drawing it needs nothing but
matplotlib and no network. Smaller islands (佐渡, 対馬, 奄美, 先島 …) are not in the source.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

OUTLINES_FILE = "prefectures.json"
SOURCE = "japanmap 0.6.0 (PyPI), japanmap/japan.json — https://github.com/SaitoTsutomu/japanmap"
LICENCE = (
    "Apache License 2.0, Copyright 2022 Saito Tsutomu (https://www.apache.org/licenses/LICENSE-2.0)"
)
CHANGES = (
    "Rings of each prefecture's main area assembled from the shared border arcs; every arc "
    "simplified (Douglas–Peucker, tolerance {tolerance}°, endpoints kept so neighbours still "
    "meet); coordinates rounded to {digits} decimals; keyed by prefecture name."
)


def _simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas–Peucker on an open polyline, first and last point kept."""
    if len(points) < 3:
        return points
    keep = np.zeros(len(points), bool)
    keep[[0, -1]] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        a, b = points[i], points[j]
        seg = b - a
        rel = points[i + 1 : j] - a
        norm = np.hypot(*seg)
        dist = (
            np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm
            if norm > 0
            else np.hypot(rel[:, 0], rel[:, 1])
        )
        k = int(np.argmax(dist))
        if dist[k] > tolerance:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return points[keep]


def build_outlines(
    points: list[Any],
    arcs: list[Any],
    names: tuple[str, ...],
    tolerance: float = 0.02,
    digits: int = 3,
) -> dict[str, object]:
    """Simplified rings per prefecture from ``japanmap``'s ``(points, arcs)`` pair.

    Parameters
    ----------
    points
        ``japanmap``'s point list: ``[[lon, lat], count]`` per point.
    arcs
        Per prefecture (code order), its border as ``[neighbour code, point indices]`` arcs
        (neighbour 0: the sea), each arc shared with the neighbour in reverse.
    names
        The 47 prefecture names in code order.
    tolerance
        Largest deviation (degrees) an arc may move by when simplified.
    digits
        Decimals kept per coordinate.
    """
    if len(arcs) != len(names):
        raise ValueError(f"{len(arcs)} prefectures in the outline data, {len(names)} names")
    xy = np.array([p[0] for p in points], float)
    done: dict[tuple[int, ...], np.ndarray] = {}
    rings = {}
    for name, border in zip(names, arcs, strict=True):  # lengths checked above
        ring = []
        for _, idx in border:
            # Simplify each arc once, in one orientation, so both neighbours get the same line.
            key = tuple(idx) if idx[0] <= idx[-1] else tuple(reversed(idx))
            if key not in done:
                done[key] = _simplify(xy[list(key)], tolerance)
            line = done[key] if key == tuple(idx) else done[key][::-1]
            ring.extend(line[:-1].tolist())
        rings[name] = [[round(x, digits), round(y, digits)] for x, y in ring]
    return {
        "source": SOURCE,
        "licence": LICENCE,
        "changes": CHANGES.format(tolerance=tolerance, digits=digits),
        "prefectures": rings,
    }


def write_outlines(
    japan_json: str | Path, out: str | Path | None = None, tolerance: float = 0.02
) -> Path:
    """Build the bundled outline file from ``japanmap``'s ``japan.json``; the path written.

    The licence text of the ``japanmap`` distribution next to it (``…dist-info/licenses/LICENSE``
    in an unpacked wheel) goes into the file, as the Apache License asks of a redistribution.
    """
    from ..reference import prefectures

    japan_json = Path(japan_json)
    points, arcs = json.loads(japan_json.read_text("utf-8"))
    data = build_outlines(points, arcs, prefectures(), tolerance)
    licence = sorted(japan_json.parent.parent.glob("japanmap-*.dist-info/licenses/LICENSE"))
    if not licence:
        raise FileNotFoundError(f"japanmap's LICENSE not found beside {japan_json.parent}")
    data["licence_text"] = licence[-1].read_text("utf-8")
    out = Path(out) if out is not None else Path(__file__).with_name(OUTLINES_FILE)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    out.write_text(text.replace('],"', '],\n"') + "\n", "utf-8")
    return out


def load_outlines() -> dict[str, np.ndarray]:
    """The bundled rings, prefecture name → ``(n, 2)`` lon/lat array, in code order.

    Raises ``FileNotFoundError`` when the package was installed without its data file.
    """
    text = resources.files(__package__).joinpath(OUTLINES_FILE).read_text("utf-8")
    return {name: np.array(ring, float) for name, ring in json.loads(text)["prefectures"].items()}


if __name__ == "__main__":  # pragma: no cover - data build step
    print(write_outlines(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
