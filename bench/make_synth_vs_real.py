"""Figure docs/synthetic-vs-real.png: 4 synthetic frames (500 px) above 4 real EmbryoScope frames.

Why: the synthetic data is only useful if it looks like the real thing; this figure is the check.
Real frames are read from ../shared/data/real (relative to the repository) and never copied into it.
Run: python -m bench.make_synth_vs_real [--out docs/synthetic-vs-real.png] [--masks /tmp/synth-masks.png]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import cv2
import numpy as np

from embryograde_app.core.synth.generator import render_embryo

REPO = Path(__file__).resolve().parents[1]
REAL_DIR = REPO.parent / "shared" / "data" / "real"
# (embryo index, frame) of the synthetic examples; chosen to show 1/2-cell to 8+ cell stages and all grades
SYNTH_PICKS = ((6, 0), (4, 0), (3, 0), (5, 0))
REAL_PICKS = (("gomez-AA83-7", 1), ("gomez-AAL839-6", 145), ("gomez-AA83-7", 190), ("gomez-AAL839-6", 431))
SIZE = 500


def _real_frame(folder: str, run: int) -> np.ndarray:
    hits = [p for p in (REAL_DIR / folder).glob("*.jp*g") if re.search(rf"_RUN{run}\.jpe?g$", p.name)]
    if not hits:
        raise FileNotFoundError(f"no real frame RUN{run} in {REAL_DIR / folder}")
    image = cv2.imread(str(hits[0]), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise OSError(f"{hits[0]}: not a readable image")
    return cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def _synthetic(index: int, frame: int) -> tuple[np.ndarray, np.ndarray, float]:
    for item in render_embryo(index, frame + 1, size=SIZE, seed=0):
        if item.frame == frame:
            return item.image, item.mask, item.frag_pct
    raise AssertionError("unreachable")


def _label(row: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((36, row.shape[1]), 255, np.uint8)
    cv2.putText(bar, text, (10, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 0, 2, cv2.LINE_AA)
    return np.vstack([bar, row])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "synthetic-vs-real.png"))
    parser.add_argument("--masks", default="/tmp/synth-masks.png", help="where to put the synthetic masks")
    args = parser.parse_args(argv)
    if not REAL_DIR.is_dir():
        print(f"error: real frames not found at {REAL_DIR} (needed for the comparison figure)", file=sys.stderr)
        return 2
    gap = np.full((SIZE, 8), 255, np.uint8)
    synth = [_synthetic(i, f) for i, f in SYNTH_PICKS]
    real = [_real_frame(folder, run) for folder, run in REAL_PICKS]

    def row(images: list[np.ndarray]) -> np.ndarray:
        parts: list[np.ndarray] = []
        for image in images:
            parts += [image, gap]
        return np.hstack(parts[:-1])

    figure = np.vstack([_label(row([s[0] for s in synth]), "synthetic"), _label(row(real), "real")])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.resize(figure, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
    lut = np.array([[0, 0, 0], [0, 200, 0], [0, 0, 255]], np.uint8)
    overlays = []
    for image, mask, pct in synth:
        colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        blend = np.where(mask[..., None] > 0, (0.5 * colour + 0.5 * lut[mask]).astype(np.uint8), colour)
        cv2.putText(blend, f"{pct:.1f}%", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
        overlays += [np.hstack([colour, lut[mask]]), blend]
    cv2.imwrite(args.masks, np.vstack([np.hstack(overlays[i : i + 2]) for i in range(0, len(overlays), 2)]))
    print(f"wrote {args.out} and {args.masks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
