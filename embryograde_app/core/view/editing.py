"""Mask editing without Qt: exact rasterisation of brush strokes, polygons and flood fills, and undo patches.

Coordinates are image coordinates as pyqtgraph shows them: pixel (row r, column c) covers
[c, c+1) x [r, r+1), so its centre is (c + 0.5, r + 0.5). A brush is snapped to the pixel under the
cursor and paints every pixel whose centre lies within size/2 of that pixel's centre, so size 1 paints
exactly the pixel under the cursor at any zoom. A drag paints the capsule swept between consecutive
cursor pixels, so fast strokes leave no gaps.

An edit is stored as a ``MaskPatch``: the bounding box of the pixels that changed with their values
before and after. Undo and redo copy one of the two back; a 500x500 stroke costs a few kB, not a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_EPS = 1e-9


@dataclass(frozen=True)
class MaskPatch:
    """The changed region of one edit: rows y0:y0+h, columns x0:x0+w, before and after."""

    y0: int
    x0: int
    before: np.ndarray
    after: np.ndarray

    @property
    def region(self) -> tuple[slice, slice]:
        h, w = self.before.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    @property
    def changed_pixels(self) -> int:
        return int(np.count_nonzero(self.before != self.after))

    def apply(self, mask: np.ndarray) -> None:
        mask[self.region] = self.after

    def revert(self, mask: np.ndarray) -> None:
        mask[self.region] = self.before

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes


def diff_patch(before: np.ndarray, after: np.ndarray) -> MaskPatch | None:
    """The bounding-box patch between two masks of one frame; None when nothing changed."""
    if before.shape != after.shape:
        raise ValueError(f"masks of different shapes: {before.shape} and {after.shape}")
    changed = before != after
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(changed.any(axis=0))
    region = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    return MaskPatch(int(rows[0]), int(cols[0]), before[region].copy(), after[region].copy())


def pixel_under(x: float, y: float) -> tuple[int, int]:
    """(row, column) of the pixel that contains image point (x, y)."""
    return int(np.floor(y)), int(np.floor(x))


def paint_segment(
    mask: np.ndarray, start: tuple[int, int], end: tuple[int, int], size: int, value: int
) -> tuple[slice, slice] | None:
    """Paint every pixel whose centre is within size/2 of the segment between two pixel centres.

    ``start`` and ``end`` are (row, column); a single click passes the same pixel twice. Returns the
    region that may have changed (clipped to the mask), or None when the stroke lies outside the image.
    """
    radius = max(float(size), 1.0) / 2.0
    (r0, c0), (r1, c1) = start, end
    reach = int(np.ceil(radius))
    top, bottom = max(min(r0, r1) - reach, 0), min(max(r0, r1) + reach + 1, mask.shape[0])
    left, right = max(min(c0, c1) - reach, 0), min(max(c0, c1) + reach + 1, mask.shape[1])
    if top >= bottom or left >= right:
        return None
    rows = np.arange(top, bottom, dtype=np.float64)[:, None]
    cols = np.arange(left, right, dtype=np.float64)[None, :]
    dr, dc = float(r1 - r0), float(c1 - c0)
    length2 = dr * dr + dc * dc
    if length2 == 0:
        t = 0.0
    else:
        t = np.clip(((rows - r0) * dr + (cols - c0) * dc) / length2, 0.0, 1.0)
    dist2 = (rows - (r0 + t * dr)) ** 2 + (cols - (c0 + t * dc)) ** 2
    region = slice(top, bottom), slice(left, right)
    mask[region][dist2 <= radius * radius + _EPS] = value
    return region


def brush_footprint(size: int) -> np.ndarray:
    """The boolean stamp a click of this size paints (what the round cursor of that size stands for)."""
    reach = int(np.ceil(max(size, 1) / 2.0))
    canvas = np.zeros((2 * reach + 1, 2 * reach + 1), np.uint8)
    paint_segment(canvas, (reach, reach), (reach, reach), size, 1)
    return canvas.astype(bool)


def polygon_mask(shape: tuple[int, int], points: list[tuple[float, float]]) -> np.ndarray:
    """Pixels whose centre lies inside the polygon (even-odd rule); points are image (x, y)."""
    inside = np.zeros(shape, bool)
    if len(points) < 3:
        return inside
    pts = np.asarray(points, np.float64)
    xa, ya = pts[:, 0], pts[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    lo_row = max(int(np.floor(ya.min() - 0.5)), 0)
    hi_row = min(int(np.ceil(ya.max() - 0.5)), shape[0] - 1)
    centres_x = np.arange(shape[1]) + 0.5
    for row in range(lo_row, hi_row + 1):
        yc = row + 0.5
        crossing = (ya <= yc) != (yb <= yc)  # half-open, so a vertex on the scan line counts once
        if not crossing.any():
            continue
        xs = xa[crossing] + (yc - ya[crossing]) * (xb[crossing] - xa[crossing]) / (yb[crossing] - ya[crossing])
        count = (xs[None, :] > centres_x[:, None]).sum(axis=1)
        inside[row] = (count % 2) == 1
    return inside


def fill_polygon(mask: np.ndarray, points: list[tuple[float, float]], value: int) -> None:
    mask[polygon_mask(mask.shape, points)] = value


def flood_fill(mask: np.ndarray, row: int, col: int, value: int) -> bool:
    """Give the 4-connected region of equal class around (row, col) the class ``value``."""
    if not (0 <= row < mask.shape[0] and 0 <= col < mask.shape[1]) or mask[row, col] == value:
        return False
    region = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    cv2.floodFill(np.ascontiguousarray(mask), region, (int(col), int(row)), 0, 0, 0, flags)
    mask[region[1:-1, 1:-1] > 0] = value
    return True
