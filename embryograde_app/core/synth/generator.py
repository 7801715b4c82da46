"""Synthetic EmbryoScope-like time-lapses with exact class masks (the embedded default data).

The demo project, the tests and the bundled model's training all use these frames, so they imitate the
real 500x500 grey EmbryoScope images: a dark field with the bright micro-well disk and its crescent, a
grainy zona pellucida, blastomeres with Hoffman-like relief that cleave over time, fragments, debris,
defocus, noise, illumination drift and JPEG artefacts.

Everything is drawn from an optical "height" map (relief = its directional derivative) and a tone map
that are painted with the same ellipse test, in the same z-order, as the class mask, so the mask is the
exact geometry of what is drawn.  Randomness comes only from numpy Generators seeded per
(seed, embryo index), so an embryo looks the same however many embryos are generated.

This module paints the frames (`render_embryo`) and writes datasets (`generate_dataset`); the fixed plan of
each embryo (geometry, cleavage schedule, fragment pool, static scene) comes from `scene.plan_embryo`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from embryograde_app.core.domain.schemes import BLASTOMERE, FRAGMENT, frag_pct, get_scheme
from embryograde_app.core.io.layout import DatasetLayout, LabelRow, write_labels
from embryograde_app.core.synth.scene import MAX_CELLS, EmbryoPlan, _relief, plan_embryo

FRAME_INTERVAL_H = 0.25  # EmbryoScope takes one frame about every 15 minutes
MAX_DRIFT = 0.02  # the dish moves at most this fraction of the frame from its home position
# Optical heights in grey levels of relief per pixel: the step at a cell's edge, the dome and the grain.
EDGE_STEP, DOME_SLOPE, GRAIN_RELIEF = 55.0, 12.0, 30.0
_PCT_TOLERANCE = 0.7  # how far the realised % may overshoot the target; it stops once within this below


@dataclass(frozen=True)
class SynthFrame:
    embryo_id: str
    frame: int
    time_h: float
    image: np.ndarray  # (size, size) uint8
    mask: np.ndarray  # (size, size) uint8 class ids 0/1/2
    frag_pct: float  # computed from mask with schemes.frag_pct


def _ellipse_patch(
    cx: float, cy: float, a: float, b: float, angle: float, size: int
) -> tuple[slice, slice, np.ndarray] | None:
    """Normalised radius^2 of an ellipse over its bounding box (<= 1 inside); None when off-frame."""
    reach = a + 1.5
    x0, x1 = max(int(math.floor(cx - reach)), 0), min(int(math.ceil(cx + reach)) + 1, size)
    y0, y1 = max(int(math.floor(cy - reach)), 0), min(int(math.ceil(cy + reach)) + 1, size)
    if x0 >= x1 or y0 >= y1:
        return None
    xs = np.arange(x0, x1, dtype=np.float32) - np.float32(cx)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    u = (xs * c + ys * s) / np.float32(a)
    v = (ys * c - xs * s) / np.float32(b)
    return slice(y0, y1), slice(x0, x1), u * u + v * v


class _FramePainter:
    """Paints the dynamic part (blastomeres, fragments) of a frame into height, tone and class maps."""

    def __init__(self, plan: EmbryoPlan):
        self.plan = plan
        size = plan.size
        self.height = np.zeros((size, size), np.float32)
        self.tone = np.zeros((size, size), np.float32)
        self.labels = np.zeros((size, size), np.uint8)

    def paint(self, time_h: float, shift: tuple[float, float]) -> None:
        plan = self.plan
        self.height.fill(0)
        self.tone.fill(0)
        self.labels.fill(0)
        stage = min(plan.cell_count(time_h), MAX_CELLS) - 1
        layout = plan.layouts[stage]
        cx0, cy0 = plan.centre[0] + shift[0], plan.centre[1] + shift[1]
        grain = plan.grain
        for rank, i in enumerate(np.argsort(layout.depth, kind="stable")):
            amp, speed, phase = plan.wobble[i]
            cx = cx0 + layout.centres[i, 0] + amp * math.sin(speed * time_h + phase)
            cy = cy0 + layout.centres[i, 1] + amp * math.cos(speed * time_h + phase)
            a = float(layout.radii[i])
            patch = _ellipse_patch(cx, cy, a, a * float(layout.aspects[i]), float(layout.angles[i]), plan.size)
            if patch is None:
                continue
            rows, cols, r2 = patch
            inside = r2 <= 1.0
            gy = int(layout.grain_anchor[i, 1]) + rows.start - round(cy)
            gx = int(layout.grain_anchor[i, 0]) + cols.start - round(cx)
            gy, gx = (
                min(max(gy, 0), grain.shape[0] - r2.shape[0]),
                min(max(gx, 0), grain.shape[1] - r2.shape[1]),
            )
            texture = grain[gy : gy + r2.shape[0], gx : gx + r2.shape[1]]
            dome = np.sqrt(np.clip(1.0 - r2, 0.0, None))
            surface = (EDGE_STEP + 12.0 * rank) + (DOME_SLOPE * a) * dome + GRAIN_RELIEF * texture
            np.copyto(self.height[rows, cols], surface, where=inside)
            np.copyto(self.tone[rows, cols], plan.cell_tone + 4.0 * texture - 3.0 * dome, where=inside)
            self.labels[rows, cols][inside] = BLASTOMERE
        self._paint_fragments(time_h, stage, cx0, cy0, 12.0 * (len(layout.radii) + 1))

    def _paint_fragments(self, time_h: float, stage: int, cx0: float, cy0: float, base: float) -> None:
        plan = self.plan
        target = plan.frag_target(time_h)
        if target <= 0 or len(plan.frag_radii) == 0:
            return
        cells = int(np.count_nonzero(self.labels == BLASTOMERE))
        frags = 0
        positions = plan.fragment_positions(stage)
        # Extra passes re-use the pool turned about the centre, for the rare embryo whose first pass piles
        # up on itself before reaching the target.
        for turn in range(4):
            c, s = math.cos(2.4 * turn), math.sin(2.4 * turn)
            squeeze = 1.0 - 0.12 * turn
            for j in range(len(plan.frag_radii)):
                a = float(plan.frag_radii[j])
                px, py = positions[j]
                patch = _ellipse_patch(
                    cx0 + squeeze * (c * px - s * py),
                    cy0 + squeeze * (s * px + c * py),
                    a,
                    a * float(plan.frag_aspects[j]),
                    float(plan.frag_angles[j]) + turn,
                    plan.size,
                )
                if patch is None:
                    continue
                rows, cols, r2 = patch
                inside = r2 <= 1.0
                current = self.labels[rows, cols]
                gained_frag = int(np.count_nonzero(inside & (current != FRAGMENT)))
                if gained_frag == 0:
                    continue
                lost_cell = int(np.count_nonzero(inside & (current == BLASTOMERE)))
                new_frags, new_cells = frags + gained_frag, cells - lost_cell
                new_pct = 100.0 * new_frags / (new_frags + new_cells)
                if new_pct > target + _PCT_TOLERANCE:
                    continue
                dome = np.sqrt(np.clip(1.0 - r2, 0.0, None))
                texture = plan.grain[rows, cols]
                surface = base + EDGE_STEP + (1.6 * DOME_SLOPE * a) * dome + 0.8 * GRAIN_RELIEF * texture
                np.copyto(self.height[rows, cols], surface, where=inside)
                np.copyto(self.tone[rows, cols], plan.frag_tone + 4.0 * texture, where=inside)
                current[inside] = FRAGMENT
                frags, cells = new_frags, new_cells
                if new_pct >= target - _PCT_TOLERANCE:
                    return


def render_embryo(embryo_index: int, n_frames: int, size: int = 256, seed: int = 0) -> Iterator[SynthFrame]:
    """Frames 0..n_frames-1 of one embryo, 15 minutes apart; frame k is the same whatever n_frames is."""
    plan = plan_embryo(embryo_index, size, seed)
    rng = np.random.default_rng([seed, embryo_index, 1])
    unit = size / 500.0
    painter = _FramePainter(plan)
    psf = max(0.55 * unit, 0.4)
    drift = np.zeros(2)
    focus = rng.uniform(0.0, 0.6)
    gain = 1.0
    noise_sigma = rng.uniform(1.2, 2.6)
    for frame in range(n_frames):
        time_h = plan.start_h + FRAME_INTERVAL_H * frame
        drift = np.clip(0.85 * drift + rng.normal(0.0, 0.0025 * size, 2), -MAX_DRIFT * size, MAX_DRIFT * size)
        focus = float(np.clip(focus + rng.normal(0.0, 0.12) + (0.8 if rng.random() < 0.04 else 0.0), 0, 1.6))
        gain = float(np.clip(gain + rng.normal(0.0, 0.015), 0.88, 1.12))
        quality = int(rng.integers(55, 93))
        noise = rng.standard_normal((size, size), dtype=np.float32)

        painter.paint(time_h, (float(drift[0]), float(drift[1])))
        move = np.float32([[1, 0, drift[0]], [0, 1, drift[1]]])
        image = cv2.warpAffine(plan.static, move, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        image += cv2.GaussianBlur(painter.tone, (0, 0), psf)
        image += plan.relief_gain * _relief(painter.height, plan.relief_dir, psf)
        blur = focus * 1.1 * unit
        if blur > 0.3:
            image = cv2.GaussianBlur(image, (0, 0), blur)
        image *= gain
        image += noise * noise_sigma
        pixels = np.clip(image, 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            pixels = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
        mask = painter.labels.copy()
        yield SynthFrame(
            embryo_id=f"E{embryo_index:03d}",
            frame=frame,
            time_h=round(time_h, 4),
            image=pixels,
            mask=mask,
            frag_pct=frag_pct(mask),
        )


def _range_rows(seed: int, total: int, fraction: float) -> set[int]:
    """Which frames (by running number) get only a range label; a fixed choice for a given seed."""
    count = int(round(min(max(fraction, 0.0), 1.0) * total))
    if count == 0:
        return set()
    order = np.random.default_rng([seed, 2**31 - 1]).permutation(total)
    return {int(i) for i in order[:count]}


def generate_dataset(
    out: str | Path,
    embryos: int,
    frames: int,
    size: int = 256,
    seed: int = 0,
    range_label_fraction: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write a layout-v1 dataset of synthetic time-lapses; some frames may get only a range label."""
    layout = DatasetLayout(out)
    scheme = get_scheme("istanbul2011")
    total = embryos * frames
    range_only = _range_rows(seed, total, range_label_fraction)
    rows: list[LabelRow] = []
    grade_counts = {b.grade: 0 for b in scheme.bins}
    pcts: list[float] = []
    done = 0
    for index in range(embryos):
        for item in render_embryo(index, frames, size, seed):
            layout.write_frame(item.embryo_id, item.frame, item.image)
            pct = round(item.frag_pct, 3)
            grade = scheme.grade(pct)
            grade_counts[grade] = grade_counts.get(grade, 0) + 1
            pcts.append(pct)
            if done in range_only:
                bin_ = scheme.bin_of(grade)
                rows.append(LabelRow(item.embryo_id, item.frame, item.time_h, None, bin_.lo, bin_.hi, grade))
            else:
                layout.write_mask(item.embryo_id, item.frame, item.mask)
                rows.append(LabelRow(item.embryo_id, item.frame, item.time_h, pct, None, None, grade))
            done += 1
            if progress is not None:
                progress(done, total)
    write_labels(layout.labels_csv, rows)
    return {
        "embryos": embryos,
        "frames": total,
        "grade_counts": grade_counts,
        "frag_pct_min": min(pcts) if pcts else 0.0,
        "frag_pct_max": max(pcts) if pcts else 0.0,
    }
