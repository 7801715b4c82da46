"""docs/real-overlays.png: the bundled model on 4 real EmbryoScope frames (image | masks | attention).

The real frames live in ../shared/data/real (development data, never copied into the repository).
Run: python -m bench.make_real_overlays [--weights W] [--out docs/real-overlays.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from embryograde_app.core.frames import open_frames
from embryograde_app.core.overlays import heat_lut, mask_rgba
from embryograde_app.core.schemes import frag_pct, get_scheme
from embryograde_app.paths import BUNDLED_WEIGHTS, REPO_ROOT

REAL = REPO_ROOT.parent / "shared" / "data" / "real"
PICKS = [("gomez-AA83-7", 150), ("gomez-AA83-7", 230), ("gomez-AAL839-6", 180), ("gomez-AAL839-6", 240)]


def blend(image: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    base = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR).astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    colour = rgba[..., 2::-1].astype(np.float32)  # RGB -> BGR
    return (base * (1 - alpha) + colour * alpha).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default=str(BUNDLED_WEIGHTS))
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "real-overlays.png"))
    args = parser.parse_args(argv)
    if not REAL.is_dir():
        print(f"{REAL}: real sequences not found (they live next to the repository)", file=sys.stderr)
        return 1
    from models.predictor import Predictor

    predictor = Predictor.from_file(args.weights, "cpu")
    scheme = get_scheme()
    rows = []
    for folder, frame_number in PICKS:
        seq = open_frames(REAL / folder)
        index = seq.index_of(frame_number)
        image = seq.read_uint8(index)
        pred = predictor.predict([image])[0]
        mask_view = blend(image, mask_rgba(pred.mask, 0.5))
        heat = blend(image, heat_lut()[np.clip(pred.attention * 255, 0, 255).astype(np.uint8)])
        area = frag_pct(pred.mask)
        text = (
            f"{folder} RUN{frame_number}: regression {pred.regression_pct:.1f} %, mask area {area:.1f} %, "
            f"grade {scheme.grade(pred.regression_pct)}"
        )
        tiles = [cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), mask_view, heat]
        row = np.hstack([cv2.resize(t, (360, 360), interpolation=cv2.INTER_AREA) for t in tiles])
        bar = np.full((28, row.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, text, (8, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.vstack([bar, row]))
    header = np.full((30, rows[0].shape[1], 3), 255, np.uint8)
    for i, title in enumerate(["real frame", "masks: blastomere blue, fragment orange", "attention gate (stride 4)"]):
        cv2.putText(header, title, (8 + 360 * i, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack([header, *rows]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
