"""Self-training on the unlabelled EmbryoScope sequences: the recipe with pseudo-labelled real frames added.

A teacher model labels every k-th frame of each unlabelled sequence; pixels where its softmax is below a
confidence threshold are left out of the loss (IGNORE_INDEX); those frames join stage 1 next to the
generator frames (stage 2 has no % for them). The candidate is then judged by `bench.real_frames_survey`
on the sequences and, with ``--hold EMBRYO`` and that fold's model as teacher, by leave-one-embryo-out.
Measured once and not kept (docs/MODEL.md, "What did not help"): the teacher's confident fragment calls
on granular cells come back stronger.
Run: python -m bench.self_training --out W.safetensors [--teacher T] [--hold EMBRYO] [--every 15]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from bench.make_real_overlays import REAL
from bench.real_eval import REAL_LABELLED, ensure_synth
from embryograde_app.core.io.frames import open_frames
from embryograde_app.paths import BUNDLED_WEIGHTS, GENERATOR_WEIGHTS


def pseudo_mask(probs: np.ndarray, threshold: float) -> np.ndarray:
    """(3, H, W) class probabilities -> uint8 class mask, IGNORE_INDEX where the teacher is unsure."""
    from models.training.losses import IGNORE_INDEX

    mask = probs.argmax(axis=0).astype(np.uint8)
    mask[probs.max(axis=0) < threshold] = IGNORE_INDEX
    return mask


def pseudo_label(teacher, folders: list[Path], every: int, threshold: float, out: Path) -> tuple[list, float]:
    """Samples of every k-th frame of each folder, written as PNG frame + pseudo mask under ``out``, and the
    share of their pixels left out of the loss."""
    from models.training.data import Sample
    from models.training.losses import IGNORE_INDEX

    out.mkdir(parents=True, exist_ok=True)
    samples, ignored = [], []
    for folder in folders:
        source = open_frames(folder)
        for i in range(0, len(source), every):
            frame = source.read_uint8(i)
            batch, views = teacher.preprocess([frame])
            logits = teacher.frame_logits(teacher.forward(batch), 0, views[0])
            mask = pseudo_mask(logits[0].softmax(dim=0).cpu().numpy(), threshold)
            ignored.append(float((mask == IGNORE_INDEX).mean()))
            stem = out / f"{folder.name}_{i + 1:04d}"
            cv2.imwrite(f"{stem}.png", frame)
            cv2.imwrite(f"{stem}_mask.png", mask)
            samples.append(Sample(f"{stem}.png", folder.name, i + 1, f"{stem}_mask.png"))
    return samples, float(np.mean(ignored)) if ignored else 0.0


def run(args: argparse.Namespace) -> dict:
    from embryograde_app.core.training.samples import samples_from_layout
    from models.inference.predictor import Predictor
    from models.inference.weights import save_model
    from models.training.real_recipe import QUICK_RECIPE, RealRecipe, train_on_real

    work = Path(args.work)
    teacher = Predictor.from_file(args.teacher, args.device)
    folders = [Path(f) for f in args.sequences] if args.sequences else sorted(p for p in REAL.iterdir() if p.is_dir())
    pseudo, ignored = pseudo_label(teacher, folders, args.every, args.threshold, work / "pseudo")
    real = [s for s in samples_from_layout(args.data) if s.embryo_id != args.hold]
    synth = ensure_synth(work / f"synth_{args.synth_embryos}_1003", args.synth_embryos, 1003)
    recipe = replace(QUICK_RECIPE if args.quick else RealRecipe(), device=args.device)
    recipe = replace(recipe, synth_frames=recipe.synth_frames + len(pseudo))  # the generator share stays as it is
    t0 = time.monotonic()
    fit = train_on_real(str(args.init), real, pseudo + synth, recipe, work_dir=str(work))
    train_embryos = sorted({s.embryo_id for s in real})
    meta = {"version": f"selftrain-{args.hold or 'all'}", "teacher": str(args.teacher), "train_embryos": train_embryos}
    save_model(args.out, fit.model, meta)
    return {
        "out": str(args.out),
        "teacher": str(args.teacher),
        "pseudo_frames": len(pseudo),
        "ignored_px_share": round(ignored, 4),
        "held_out": args.hold,
        "train_embryos": train_embryos,
        "minutes": round((time.monotonic() - t0) / 60, 2),
    }


def main(argv: list[str] | None = None) -> dict | int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the self-trained weights")
    parser.add_argument("--teacher", default=str(BUNDLED_WEIGHTS), help="labels the unlabelled frames")
    parser.add_argument("--init", default=str(GENERATOR_WEIGHTS), help="the generator-only model (start)")
    parser.add_argument("--data", default=str(REAL_LABELLED))
    parser.add_argument("--hold", default=None, help="leave this labelled embryo out (its fold's model teaches)")
    parser.add_argument("--sequences", nargs="*", default=None, help="unlabelled frame folders (default: both real)")
    parser.add_argument("--every", type=int, default=15, help="pseudo-label every k-th frame")
    parser.add_argument("--threshold", type=float, default=0.9, help="softmax below this: left out of the loss")
    parser.add_argument("--synth-embryos", type=int, default=160)
    parser.add_argument("--work", default="/tmp/embryograde_self_training")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few steps per stage (tests)")
    args = parser.parse_args(argv)
    if not Path(args.data).is_dir() or (not args.sequences and not REAL.is_dir()):
        print(f"{args.data} or {REAL}: real data not found (it lives next to the repository)", file=sys.stderr)
        return 2
    result = run(args)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
