"""Benchmark: synthetic frames per second at 256 px on one core, against just writing the PNG files.

Why: the demo project and the training data are generated on the user's machine, so generation must stay
cheap; the PNG-writing baseline (measured in the same run, same frames) makes the number comparable
across machines.  Run: python -m bench.bench_synth [--quick] [--embryos N] [--frames N] [--size PX]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import cv2

from embryograde_app.core.io.layout import DatasetLayout
from embryograde_app.core.synth.generator import SynthFrame, render_embryo


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="synthetic frame rendering speed (one core)")
    parser.add_argument("--quick", action="store_true", help="smoke mode, about 2 s")
    parser.add_argument("--embryos", type=int, default=6)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    embryos, frames = (2, 8) if args.quick else (args.embryos, args.frames)
    cv2.setNumThreads(1)

    rendered: list[SynthFrame] = []
    start = time.perf_counter()
    for index in range(embryos):
        rendered.extend(render_embryo(index, frames, size=args.size, seed=args.seed))
    render_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        layout = DatasetLayout(tmp)
        start = time.perf_counter()
        for item in rendered:
            layout.write_frame(item.embryo_id, item.frame, item.image)
            layout.write_mask(item.embryo_id, item.frame, item.mask)
        png_s = time.perf_counter() - start

    n = len(rendered)
    result = {
        "size": args.size,
        "embryos": embryos,
        "frames": n,
        "render_s": round(render_s, 4),
        "render_fps": round(n / render_s, 2),
        "png_write_s": round(png_s, 4),
        "png_write_fps": round(n / png_s, 2),
        "render_to_png_ratio": round(render_s / png_s, 3),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
