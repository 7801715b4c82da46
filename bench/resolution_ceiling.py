"""How much fragment Dice a mask predicted at a given output stride can reach at best, on generator frames.

Why: the decoder's finest stride bounds what the network can draw. Each true mask is area-averaged to the
stride's grid, upsampled bilinearly and thresholded (the best a coarse map followed by interpolation can do),
then scored with micro Dice against itself. It showed that a stride-4 decoder tops out near the fragment
Dice target (fragments are a median ~20 px), which is why the bundled model adds a gated stride-2 stage.
Run: python -m bench.resolution_ceiling [--quick] [--embryos 15] [--frames 8] [--seed 90210]
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np

from embryograde_app.core.domain.metrics import DiceCounter
from embryograde_app.core.synth.generator import render_embryo

STRIDES = (1, 2, 4, 8)


def coarse_then_upsampled(mask: np.ndarray, stride: int) -> np.ndarray:
    """The class map rebuilt from per-class area fractions on a grid `stride` times coarser."""
    if stride == 1:
        return mask
    h, w = mask.shape
    planes = []
    for cls in range(3):
        plane = (mask == cls).astype(np.float32)
        small = cv2.resize(plane, (w // stride, h // stride), interpolation=cv2.INTER_AREA)
        planes.append(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
    return np.argmax(np.stack(planes), axis=0).astype(np.uint8)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="best fragment Dice reachable at each output stride")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2 embryos, 2 frames")
    parser.add_argument("--embryos", type=int, default=15)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=90210, help="the bundled weights' held-out test seed")
    args = parser.parse_args(argv)
    embryos, frames = (2, 2) if args.quick else (args.embryos, args.frames)
    counters = {s: DiceCounter() for s in STRIDES}
    sizes: list[int] = []
    for index in range(embryos):
        for frame in render_embryo(index, frames, size=args.size, seed=args.seed):
            n, _, stats, _ = cv2.connectedComponentsWithStats((frame.mask == 2).astype(np.uint8), connectivity=8)
            sizes.extend(int(a) for a in stats[1:, cv2.CC_STAT_AREA])
            for stride, counter in counters.items():
                counter.add(coarse_then_upsampled(frame.mask, stride), frame.mask)
    result = {
        "frames": embryos * frames,
        "seed": args.seed,
        "size": args.size,
        "fragments": len(sizes),
        "fragment_px_median": float(np.median(sizes)) if sizes else None,
        "best_dice_fragment": {str(s): c.dice(2) for s, c in counters.items()},
        "best_dice_blastomere": {str(s): c.dice(1) for s, c in counters.items()},
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
