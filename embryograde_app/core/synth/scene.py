"""The fixed part of a synthetic embryo: its plan, geometry and textures (`plan_embryo`).

Everything here is decided once per (seed, embryo index) and does not change from frame to frame: the well
and zona placement, the fragmentation targets and cleavage schedule, the blastomere layout of every
cleavage stage, the fragment pool, the cytoplasm grain and the static class-0 scene (well, crescent, zona
pellucida, debris, fibres).  `generator` paints frames from an `EmbryoPlan`; keeping the geometry here
keeps the per-frame painting short and lets the tests inspect a plan without rendering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

MAX_CELLS = 16
# Target fragmentation ranges per istanbul2011 bin (good [0,10), fair [10,25], poor (25,100]); kept clear
# of the bin edges so the realised % (which lands within ~0.5 % of the target) stays in the bin.
BIN_TARGETS: tuple[tuple[float, float], ...] = ((0.0, 8.8), (11.2, 23.8), (26.5, 60.0))
# Mean hours post insemination at which the embryo reaches 2, 3, ... 16 cells.
_CLEAVAGE_HPI = (26.0, 36.5, 38.5, 48.0, 50.0, 52.5, 55.5, 61.0, 62.5, 64.0, 65.5, 67.0, 68.5, 70.0, 72.0)


@dataclass
class CellLayout:
    """Blastomeres of one cleavage stage, relative to the embryo centre (pixels at the render size)."""

    centres: np.ndarray  # (k, 2) x, y
    radii: np.ndarray  # (k,) semi-major axis
    aspects: np.ndarray  # (k,) minor/major
    angles: np.ndarray  # (k,) radians
    depth: np.ndarray  # (k,) larger is on top
    grain_anchor: np.ndarray  # (k, 2) where each cell samples the grain texture


@dataclass
class EmbryoPlan:
    """Everything about one embryo that does not change from frame to frame."""

    index: int
    size: int
    well_centre: tuple[float, float]
    well_radius: float
    centre: tuple[float, float]  # embryo centre before drift
    zona_outer: float
    zona_inner: float
    start_h: float
    cleavage_h: np.ndarray  # time at which the cell count goes from k+1 to k+2 (k = index)
    start_cells: int
    frag_start: float
    frag_end: float
    frag_ramp_h: float
    debris: list[tuple[float, float, float]]  # (x, y, radius) outside the zona, class 0
    layouts: list[CellLayout]
    frag_offsets: np.ndarray  # (n, 2) base positions relative to the centre, pool order
    frag_radii: np.ndarray
    frag_aspects: np.ndarray
    frag_angles: np.ndarray
    static: np.ndarray  # float32 image of everything that is class 0 (well, zona, debris)
    grain: np.ndarray  # float32 unit-variance cytoplasm grain, padded
    grain_pad: int
    relief_dir: tuple[float, float]
    relief_gain: float
    cell_tone: float
    frag_tone: float
    wobble: np.ndarray  # (MAX_CELLS, 3) amplitude, angular speed, phase of each cell's slow motion
    _frag_cache: dict[int, np.ndarray] = field(default_factory=dict)

    def cell_count(self, time_h: float) -> int:
        return self.start_cells + int(np.count_nonzero(self.cleavage_h <= time_h))

    def frag_target(self, time_h: float) -> float:
        """Target % at a time: fragmentation grows from frag_start to frag_end, then stays."""
        progress = min(max((time_h - self.start_h) / self.frag_ramp_h, 0.0), 1.0)
        return self.frag_start + (self.frag_end - self.frag_start) * progress

    def fragment_positions(self, stage: int) -> np.ndarray:
        """Fragment centres for a stage: the base positions pushed out of the blastomeres' interiors."""
        cached = self._frag_cache.get(stage)
        if cached is None:
            cached = _push_out_of_cells(self.frag_offsets, self.frag_radii, self.layouts[stage], self.zona_inner)
            self._frag_cache[stage] = cached
        return cached


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def _blurred_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Unit-variance Gaussian noise with a correlation length of about sigma pixels."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    if sigma > 0.3:
        noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    return noise / max(float(noise.std()), 1e-6)


def _relief(height: np.ndarray, direction: tuple[float, float], psf_sigma: float) -> np.ndarray:
    """Hoffman-like modulation contrast: the derivative of the optical path along one direction."""
    blurred = cv2.GaussianBlur(height, (0, 0), psf_sigma)
    gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3)
    return (direction[0] * gx + direction[1] * gy) * 0.125


def _relax(
    centres: np.ndarray, radii: np.ndarray, limit: float, overlap: float = 0.7, iterations: int = 60
) -> np.ndarray:
    """Push cells apart (allowing the projected overlap of a 3-D cluster) and keep them inside the zona."""
    centres = centres.copy()
    k = len(radii)
    for _ in range(iterations):
        if k > 1:
            diff = centres[:, None, :] - centres[None, :, :]
            dist = np.maximum(np.sqrt((diff**2).sum(axis=2)), 1e-6)
            np.fill_diagonal(dist, np.inf)
            push = np.clip(overlap * (radii[:, None] + radii[None, :]) - dist, 0.0, None) * 0.5
            centres += 0.6 * (diff / dist[..., None] * push[..., None]).sum(axis=1)
        room = np.maximum(limit - 0.97 * radii, 0.0)
        reach = np.maximum(np.sqrt((centres**2).sum(axis=1)), 1e-6)
        over = reach > room
        centres[over] *= (room[over] / reach[over])[:, None]
    return centres


def _cleavage_layouts(
    rng: np.random.Generator, zona_inner: float, shrink: float, grain_span: tuple[int, int]
) -> list[CellLayout]:
    """Cell layouts from the zygote (stage 0 = 1 cell) to MAX_CELLS cells, each made by one division."""
    radius = 0.92 * zona_inner * shrink
    aspect = rng.uniform(0.9, 1.0)
    cells = {
        "centres": np.array([[rng.uniform(-1, 1), rng.uniform(-1, 1)]]) * 0.04 * zona_inner,
        "radii": np.array([radius]),
        "aspects": np.array([aspect]),
        "angles": np.array([rng.uniform(0, np.pi)]),
        "depth": np.array([0.5]),
        "grain_anchor": rng.integers(grain_span[0], grain_span[1], size=(1, 2)),
    }
    layouts = [CellLayout(**{k: v.copy() for k, v in cells.items()})]
    for _ in range(MAX_CELLS - 1):
        radii = cells["radii"]
        parent = int(np.argmax(radii + rng.uniform(0, 0.02, len(radii)) * radii))
        axis = rng.uniform(0, np.pi)
        daughter = radii[parent] * 0.76
        step = 0.62 * daughter * np.array([math.cos(axis), math.sin(axis)])
        centre = cells["centres"][parent]
        new = {
            "centres": np.stack([centre + step, centre - step]),
            "radii": np.array([daughter, daughter * rng.uniform(0.93, 1.0)]),
            "aspects": rng.uniform(0.84, 1.0, 2),
            "angles": np.array([axis, axis]) + rng.uniform(-0.3, 0.3, 2),
            "depth": cells["depth"][parent] + rng.uniform(-0.3, 0.3, 2),
            "grain_anchor": rng.integers(grain_span[0], grain_span[1], size=(2, 2)),
        }
        for key, value in new.items():
            cells[key] = np.concatenate([np.delete(cells[key], parent, axis=0), value])
        cells["centres"] = _relax(cells["centres"], cells["radii"], zona_inner)
        layouts.append(CellLayout(**{k: v.copy() for k, v in cells.items()}))
    return layouts


def _fragment_pool(
    rng: np.random.Generator, zona_inner: float, ref_cell_diameter: float, needed_area: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fragments in the order they appear: clustered or scattered, mostly near the zona and between cells."""
    if needed_area <= 0:
        empty = np.zeros((0,))
        return np.zeros((0, 2)), empty, empty, empty
    r_min, r_max = 0.018 * zona_inner, 0.125 * ref_cell_diameter
    radii_list: list[float] = []
    total = 0.0
    while total < 4.0 * needed_area and len(radii_list) < 1500:
        r = float(np.exp(rng.uniform(math.log(r_min), math.log(r_max))))
        radii_list.append(r)
        total += math.pi * r * r
    radii = np.array(radii_list)
    n = len(radii)
    n_clusters = int(rng.integers(1, 5))
    cluster_angle = rng.uniform(0, 2 * np.pi, n_clusters)
    cluster_reach = rng.uniform(0.45, 0.9, n_clusters) * zona_inner
    cluster_of = rng.integers(0, n_clusters, n)
    clustered = rng.random(n) < rng.uniform(0.4, 0.9)
    spread = rng.normal(0, 0.13 * zona_inner, (n, 2))
    cluster_xy = np.stack([cluster_reach * np.cos(cluster_angle), cluster_reach * np.sin(cluster_angle)], axis=1)[
        cluster_of
    ]
    scatter_angle = rng.uniform(0, 2 * np.pi, n)
    scatter_reach = np.sqrt(rng.uniform(0.15, 1.0, n)) * zona_inner
    scattered_xy = np.stack([scatter_reach * np.cos(scatter_angle), scatter_reach * np.sin(scatter_angle)], 1)
    offsets = np.where(clustered[:, None], cluster_xy + spread, scattered_xy)
    # Appearance order: clusters grow from their core outwards, scattered ones come at random times.
    order_key = np.where(clustered, np.hypot(*spread.T) / zona_inner, rng.uniform(0, 0.4, n))
    order = np.argsort(order_key + rng.uniform(0, 0.08, n), kind="stable")
    return offsets[order], radii[order], rng.uniform(0.7, 1.0, n)[order], rng.uniform(0, np.pi, n)[order]


def _push_out_of_cells(offsets: np.ndarray, radii: np.ndarray, layout: CellLayout, zona_inner: float) -> np.ndarray:
    """Fragments sit between blastomeres and in the perivitelline space rather than on top of cells."""
    pos = offsets.copy()
    if len(pos) == 0:
        return pos
    cell_r = layout.radii * (0.5 + 0.5 * layout.aspects)
    for _ in range(3):
        diff = pos[:, None, :] - layout.centres[None, :, :]
        dist = np.maximum(np.sqrt((diff**2).sum(axis=2)), 1e-6)
        depth = cell_r[None, :] * 0.92 - dist
        deepest = np.argmax(depth / cell_r[None, :], axis=1)
        rows = np.arange(len(pos))
        inside = depth[rows, deepest] > 0
        unit = diff[rows, deepest] / dist[rows, deepest][:, None]
        target = layout.centres[deepest] + unit * (cell_r[deepest] * 0.92 + 0.3 * radii)[:, None]
        pos[inside] = target[inside]
        reach = np.maximum(np.sqrt((pos**2).sum(axis=1)), 1e-6)
        room = np.maximum(zona_inner - 1.05 * radii - 0.5, 0.0)
        over = reach > room
        pos[over] *= (room[over] / reach[over])[:, None]
    return pos


def _static_scene(
    rng: np.random.Generator,
    size: int,
    well: tuple[float, float, float],
    embryo: tuple[float, float, float, float],
) -> tuple[np.ndarray, list[tuple[float, float, float]], tuple[float, float]]:
    """The class-0 part of a frame: well, crescent, ripples, vignette, zona pellucida and debris."""
    unit = size / 500.0
    wx, wy, wr = well
    ex, ey, ro, ri = embryo
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = xx - wx, yy - wy
    dist = np.sqrt(dx * dx + dy * dy) / wr
    crescent_angle = -np.pi / 2 + rng.uniform(-0.35, 0.35)
    towards = 0.5 * (1.0 + (dx * math.cos(crescent_angle) + dy * math.sin(crescent_angle)) / (dist * wr + 1e-3))
    medium = rng.uniform(56, 80)
    edge_width = 0.006 + 0.07 * (1.0 - towards) ** 2
    inside = _sigmoid((1.0 - dist) / edge_width)
    outside_level = (6 + rng.uniform(25, 50) * towards**2.5) * _sigmoid((wy + 0.3 * wr - yy) / (0.15 * wr))
    tilt = 1.0 + 0.08 * (dx * math.cos(crescent_angle + 2.4) + dy * math.sin(crescent_angle + 2.4)) / wr
    image = outside_level + (medium * tilt - outside_level) * inside
    rim = dist - 1.0
    crescent_width = rng.uniform(0.08, 0.13)
    inward = np.clip(-rim, 0, None)
    profile = np.where(
        rim < 0,
        0.55 * np.exp(-inward / crescent_width) + 0.45 * np.exp(-((inward / 0.045) ** 2)),
        np.exp(-((rim / 0.025) ** 2)),
    )
    image += rng.uniform(160, 230) * towards**1.1 * profile
    # the wall beyond the rim: faint concentric ripples, strongest near the crescent
    period = rng.uniform(0.022, 0.032) * size / wr
    phase = rng.uniform(0, 2 * np.pi)
    ripples = (0.5 + 0.5 * np.cos(2 * np.pi * rim / period + phase)) ** 4
    image += rng.uniform(18, 34) * ripples * np.exp(-np.clip(rim, 0, None) / 0.4) * towards * (rim > 0.015)
    image += 2.5 * _blurred_noise(rng, (size, size), 18 * unit)  # slow mottling of the medium

    height = np.zeros((size, size), np.float32)
    tone = np.zeros((size, size), np.float32)
    # zona pellucida: a finely grainy ring with a crisp inner edge and a soft outer one
    de = np.sqrt((xx - ex) ** 2 + (yy - ey) ** 2)
    ring = _sigmoid((de - ri) / max(0.6 * unit, 0.35)) * _sigmoid((ro - de) / max(2.0 * unit, 0.5))
    zona_grain = _blurred_noise(rng, (size, size), max(1.0 * unit, 0.45))
    zona_coarse = _blurred_noise(rng, (size, size), 4.0 * unit)
    height += ring * (rng.uniform(25, 40) + rng.uniform(14, 22) * zona_grain + 8.0 * zona_coarse)
    tone += ring * (rng.uniform(-14, -8) + 5.0 * zona_grain + 2.0 * zona_coarse)
    # the inner zona layer: a thin dark line just inside the ring, as in real frames
    inner_line = np.exp(-(((de - ri + 1.0 * unit) / (1.3 * unit + 0.3)) ** 2))
    tone += -7.0 * inner_line
    tone += -3.0 * _sigmoid((ri - de) / max(unit, 0.5))  # perivitelline space a little darker
    debris = _draw_debris(rng, size, well, embryo, height, tone)
    if rng.random() < 0.35:
        _draw_fibre(rng, size, height, tone)
    relief_angle = crescent_angle + rng.uniform(-0.9, -0.3)  # shear direction of the Hoffman optics
    direction = (math.cos(relief_angle), math.sin(relief_angle))
    image += tone * inside + _relief(height, direction, max(0.7 * unit, 0.45))
    return image.astype(np.float32), debris, direction


def _draw_debris(
    rng: np.random.Generator,
    size: int,
    well: tuple[float, float, float],
    embryo: tuple[float, float, float, float],
    height: np.ndarray,
    tone: np.ndarray,
) -> list[tuple[float, float, float]]:
    """Small particles in the medium outside the zona: they look like fragments but are class 0."""
    unit = size / 500.0
    wx, wy, wr = well
    ex, ey, ro, _ = embryo
    debris: list[tuple[float, float, float]] = []
    n = int(rng.integers(2, 14))
    centre = None
    for _ in range(n * 6):
        if len(debris) >= n:
            break
        if centre is not None and rng.random() < 0.5:
            x, y = centre + rng.normal(0, 9 * unit, 2)
        else:
            a, r = rng.uniform(0, 2 * np.pi), wr * math.sqrt(rng.uniform(0.05, 0.8))
            x, y = wx + r * math.cos(a), wy + r * math.sin(a)
        radius = max(float(rng.uniform(1.0, 5.0)) * unit, 0.8)
        if math.hypot(x - ex, y - ey) < ro + radius + 3 * unit + 1 or math.hypot(x - wx, y - wy) > 0.9 * wr:
            continue
        debris.append((float(x), float(y), radius))
        if centre is None or rng.random() < 0.3:
            centre = np.array([x, y])
    for x, y, radius in debris:
        x0, x1 = max(int(x - radius - 2), 0), min(int(x + radius + 3), size)
        y0, y1 = max(int(y - radius - 2), 0), min(int(y + radius + 3), size)
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        r2 = ((gx - x) ** 2 + (gy - y) ** 2) / (radius * radius)
        dome = np.sqrt(np.clip(1.0 - r2, 0.0, None))
        height[y0:y1, x0:x1] += (r2 <= 1) * (40.0 + 12.0 * radius * dome)
        tone[y0:y1, x0:x1] += -12.0 * (r2 <= 1)
    return debris


def _draw_fibre(rng: np.random.Generator, size: int, height: np.ndarray, tone: np.ndarray) -> None:
    """A thin curved strand (lint, a scratch) like the ones that sometimes cross real wells."""
    p = rng.uniform(0, size, (3, 2))
    p[0, 1] = rng.uniform(0, 0.2) * size
    t = np.linspace(0, 1, 40)[:, None]
    curve = (1 - t) ** 2 * p[0] + 2 * (1 - t) * t * p[1] + t**2 * p[2]
    layer = np.zeros_like(height)
    thickness = max(1, round(size / 400))
    cv2.polylines(layer, [np.round(curve).astype(np.int32)], False, 1.0, thickness, cv2.LINE_AA)
    height += layer * 35.0
    tone -= layer * 6.0


def plan_embryo(embryo_index: int, size: int = 256, seed: int = 0) -> EmbryoPlan:
    """The fixed part of one embryo; independent of how many embryos or frames are rendered."""
    rng = np.random.default_rng([seed, embryo_index, 0])
    unit = size / 500.0
    well_r = rng.uniform(0.38, 0.43) * size
    wx = size * (0.5 + rng.uniform(-0.05, 0.05))
    wy = size * (0.5 + rng.uniform(-0.1, 0.02))
    zona_outer = rng.uniform(0.235, 0.275) * size
    zona_inner = zona_outer * (1.0 - rng.uniform(0.17, 0.22))
    slack = max(well_r - zona_outer - 0.03 * size, 0.0)
    off_a, off_r = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.55) * slack
    ex, ey = wx + off_r * math.cos(off_a), wy + off_r * math.sin(off_a) + 0.02 * size

    grade_bin = embryo_index % len(BIN_TARGETS)
    lo, hi = BIN_TARGETS[grade_bin]
    if grade_bin == 0 and rng.random() < 0.25:
        frag_start = frag_end = 0.0
    else:
        frag_end = rng.uniform(lo + 0.3 * (hi - lo), hi)
        frag_start = rng.uniform(lo if grade_bin else 0.3, frag_end)
    shrink = math.sqrt(1.0 - 0.9 * frag_end / 100.0)  # fragmented embryos have less cytoplasm in cells

    start_h = float(rng.uniform(22.0, 64.0))
    cleavage_h = np.sort(np.array(_CLEAVAGE_HPI) * rng.uniform(0.92, 1.08) + rng.normal(0, 0.8, 15))
    start_cells = 1

    grain_pad = int(math.ceil(0.6 * size)) + 8
    grain = _blurred_noise(rng, (size + grain_pad, size + grain_pad), max(0.9 * unit, 0.45))
    layouts = _cleavage_layouts(rng, zona_inner, shrink, (grain_pad // 2, size + grain_pad // 2 - 1))

    ref_cell_diameter = 2 * layouts[3].radii.mean()  # a 4-cell blastomere
    cells_area = 0.72 * math.pi * (0.92 * zona_inner * shrink) ** 2
    needed = frag_end / max(100.0 - frag_end, 1.0) * cells_area
    frag_offsets, frag_radii, frag_aspects, frag_angles = _fragment_pool(rng, zona_inner, ref_cell_diameter, needed)

    static, debris, relief_dir = _static_scene(rng, size, (wx, wy, well_r), (ex, ey, zona_outer, zona_inner))
    wobble = np.stack(
        [
            rng.uniform(0.004, 0.018, MAX_CELLS) * zona_inner,
            rng.uniform(0.2, 0.7, MAX_CELLS),
            rng.uniform(0, 2 * np.pi, MAX_CELLS),
        ],
        axis=1,
    )
    return EmbryoPlan(
        index=embryo_index,
        size=size,
        well_centre=(wx, wy),
        well_radius=well_r,
        centre=(ex, ey),
        zona_outer=zona_outer,
        zona_inner=zona_inner,
        start_h=start_h,
        cleavage_h=cleavage_h,
        start_cells=start_cells,
        frag_start=frag_start,
        frag_end=frag_end,
        frag_ramp_h=float(rng.uniform(6.0, 30.0)),
        debris=debris,
        layouts=layouts,
        frag_offsets=frag_offsets,
        frag_radii=frag_radii,
        frag_aspects=frag_aspects,
        frag_angles=frag_angles,
        static=static,
        grain=grain,
        grain_pad=grain_pad,
        relief_dir=relief_dir,
        relief_gain=rng.uniform(0.8, 1.2),
        cell_tone=rng.uniform(-8.0, -2.0),
        frag_tone=rng.uniform(-6.0, 0.0),
        wobble=wobble,
    )
