"""docs/real-overlays.png: the model on real frames of both looks (image | masks | attention).

Rows: EmbryoScope frames of the two unlabelled sequences in ../shared/data/real (the bundled model), then
bright-field frames of the labelled set in ../shared/data/real-labelled, each graded by the model of the
leave-one-embryo-out fold that never saw its embryo (``--loeo-dir``, written by bench.real_eval), with the
person's fragment outline in green. The real frames are development data, never copied into the repository.
Run: python -m bench.make_real_overlays [--weights W] [--loeo-dir DIR] [--out docs/real-overlays.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from embryograde_app.core.domain.schemes import frag_pct, get_scheme
from embryograde_app.core.io.frames import open_frames
from embryograde_app.core.view.overlays import heat_lut, mask_rgba
from embryograde_app.paths import BUNDLED_WEIGHTS, REPO_ROOT

REAL = REPO_ROOT.parent / "shared" / "data" / "real"
PICKS = [("gomez-AA83-7", 150), ("gomez-AA83-7", 230), ("gomez-AAL839-6", 240)]
LABELLED_PICKS = [("20230304-17097-3", 378), ("20230306-2559-5", 334)]
TILE = 360


def blend(image: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    base = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR).astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    colour = rgba[..., 2::-1].astype(np.float32)  # RGB -> BGR
    return (base * (1 - alpha) + colour * alpha).astype(np.uint8)


def row_for(image: np.ndarray, pred, caption: str, truth: np.ndarray | None = None) -> np.ndarray:
    """One figure row: the frame, its masks (and the person's fragment outline), the attention map."""
    from embryograde_app.core.view.overlays import mask_outline

    mask_view = blend(image, mask_rgba(pred.mask, 0.5))
    if truth is not None:
        mask_view[mask_outline((truth == 2).astype(np.uint8)) > 0] = (0, 200, 0)
    heat = blend(image, heat_lut()[np.clip(pred.attention * 255, 0, 255).astype(np.uint8)])
    box = embryo_window(pred.mask, image.shape)
    tiles = [cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), mask_view, heat]
    tiles = [t[box[1] : box[3], box[0] : box[2]] for t in tiles]
    row = np.hstack([cv2.resize(t, (TILE, TILE), interpolation=cv2.INTER_AREA) for t in tiles])
    bar = np.full((28, row.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, caption, (8, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.48, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, row])


def embryo_window(mask: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A square around the embryo's mask (1.5x its extent), so the figure shows the embryo, not the dish."""
    ys, xs = np.nonzero(mask)
    h, w = shape
    if not len(ys):
        return 0, 0, w, h
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    half = max(xs.max() - xs.min(), ys.max() - ys.min()) * 0.75
    half = min(half, min(h, w) / 2)
    x0, y0 = int(np.clip(cx - half, 0, w - 2 * half)), int(np.clip(cy - half, 0, h - 2 * half))
    return x0, y0, int(x0 + 2 * half), int(y0 + 2 * half)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default=str(BUNDLED_WEIGHTS))
    parser.add_argument("--loeo-dir", default="/tmp/embryograde_real_eval", help="bench.real_eval's fold models")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "real-overlays.png"))
    args = parser.parse_args(argv)
    if not REAL.is_dir():
        print(f"{REAL}: real sequences not found (they live next to the repository)", file=sys.stderr)
        return 1
    from bench.real_eval import REAL_LABELLED
    from embryograde_app.core.io.layout import read_mask
    from models.inference.predictor import Predictor
    from models.network.inputs import read_grey_uint8

    predictor = Predictor.from_file(args.weights, "cpu")
    scheme = get_scheme()
    rows = []
    for folder, frame_number in PICKS:
        seq = open_frames(REAL / folder)
        image = seq.read_uint8(seq.index_of(frame_number))
        pred = predictor.predict([image])[0]
        area = frag_pct(pred.mask)
        rows.append(row_for(image, pred, (
            f"EmbryoScope {folder} RUN{frame_number} ({predictor.version}): regression {pred.regression_pct:.1f} %, "
            f"mask area {area:.1f} %, grade {scheme.grade(pred.regression_pct)}"
        )))
    for embryo, frame_number in LABELLED_PICKS:
        fold = Path(args.loeo_dir) / f"loeo_{embryo}.safetensors"
        frame_path = REAL_LABELLED / "frames" / embryo / f"{frame_number:04d}.png"
        if not fold.exists() or not frame_path.exists():
            print(f"skipped {embryo}/{frame_number}: no fold model {fold} or frame", file=sys.stderr)
            continue
        image = read_grey_uint8(frame_path)
        truth = read_mask(REAL_LABELLED / "masks" / embryo / f"{frame_number:04d}.png")
        pred = Predictor.from_file(fold, "cpu").predict([image])[0]
        rows.append(row_for(image, pred, (
            f"bright-field {embryo}/{frame_number}, embryo held out: regression {pred.regression_pct:.1f} %, "
            f"mask {frag_pct(pred.mask):.1f} %, truth {frag_pct(truth):.1f} % (green: person's fragments)"
        ), truth))
    header = np.full((30, rows[0].shape[1], 3), 255, np.uint8)
    titles = [
        "real frame (around the embryo)",
        "masks: blastomere blue, fragment orange",
        "attention (contrast per frame)",
    ]
    for i, title in enumerate(titles):
        cv2.putText(header, title, (8 + TILE * i, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack([header, *rows]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
