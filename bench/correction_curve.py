"""The correction curve: how much a person's corrected masks improve the model, as a number.

A project starts from the generator-only model. K real labelled frames of other embryos are imported as
frames and their masks saved as a person's corrections (human mask revisions, through the same
``Corrections`` the window's mask editor saves with). The project is retrained through the window's own code
path (``core.training.retraining.retrain``: *Segmentation + grading*, then *Mask edges* on its result) and the
result is measured on an embryo left out of the project. K = 0 is the generator-only model as it is.

Run:   python -m bench.correction_curve [--test-embryo E] [--ks 0 2 4 all]
Writes bench/results/correction_curve.json and docs/correction-curve.png (fragment Dice and regression MAE
against K, with each point's retrain time on this machine's CPU threads).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from bench.real_eval import REAL_LABELLED, RESULTS, has_real_data, predict_pairs, summarise, write_result
from embryograde_app.paths import GENERATOR_WEIGHTS, REPO_ROOT

DEFAULT_TEST_EMBRYO = "20230306-2559-5"


def pick_frames(samples: list, k: int) -> list:
    """K frames spread over the embryos (round-robin in sorted order), so K = 2 is two embryos, not one."""
    by_embryo: dict[str, list] = {}
    for s in sorted(samples, key=lambda s: (s.embryo_id, s.frame)):
        by_embryo.setdefault(s.embryo_id, []).append(s)
    picked, round_ = [], 0
    while len(picked) < k and any(round_ < len(v) for v in by_embryo.values()):
        picked += [v[round_] for v in by_embryo.values() if round_ < len(v)]
        round_ += 1
    return picked[:k]


def build_project(root: Path, frames: list, init: str) -> int:
    """A project with the frames imported and their masks saved as a person's corrections; returns how many."""
    from embryograde_app.core.io.layout import read_mask
    from embryograde_app.core.project.corrections import Corrections
    from embryograde_app.core.project.frame_import import import_into_project
    from embryograde_app.core.project.registry import ensure_active_model
    from embryograde_app.core.project.store import ProjectStore

    staging = root.parent / (root.name + "-frames")
    shutil.rmtree(staging, ignore_errors=True)
    for s in frames:  # a layout-v1 folder of the frames alone: their masks arrive as corrections below
        dest = staging / "frames" / s.embryo_id / f"{s.frame:04d}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s.image_path, dest)
    import_into_project(root, [staging])
    shutil.rmtree(staging, ignore_errors=True)
    truth = {(s.embryo_id, s.frame): s for s in frames}
    saved = 0
    with ProjectStore(root) as store:
        ensure_active_model(store, init)
        corrections = Corrections(store, author="correction-curve")
        for record in store.frames():
            sample = truth.get((record.embryo_key, record.frame_number))
            if sample is None:
                continue
            doc = corrections.document(record.id)
            doc.mask[...] = read_mask(sample.mask_path)
            if not corrections.save(doc):
                raise RuntimeError(f"{root}: could not save the correction of {sample.image_path}: {doc.last_error}")
            saved += 1
    return saved


def retrain_project(root: Path, args: argparse.Namespace) -> tuple[str, float, list[str]]:
    """Segmentation + grading, then Mask edges on its result, as the window runs them; (weights, seconds, stages)."""
    from embryograde_app.core.training.retraining import RetrainSettings, retrain

    common = {"project": str(root), "device": args.device, "val_fraction": 0.0, "views": args.views}
    t = time.monotonic()
    seg = retrain(
        RetrainSettings(
            stage="1",
            stage1_epochs=args.stage1_epochs,
            epochs=args.stage2_epochs,
            max_minutes=args.stage1_minutes,
            generator_frames=args.generator_frames,
            **common,
        )
    )
    weights, stages = seg.weights, ["1", "2"]
    if not args.no_edges:
        edges = retrain(RetrainSettings(stage="refine", epochs=args.edge_epochs, init_weights=seg.weights, **common))
        weights, stages = edges.weights, stages + ["refine"]
    return weights, time.monotonic() - t, stages


def run(args: argparse.Namespace) -> dict:
    import torch

    from embryograde_app.core.training.samples import samples_from_layout
    from models.inference.predictor import Predictor

    torch.set_num_threads(args.threads)
    real = samples_from_layout(args.data)
    test = [s for s in real if s.embryo_id == args.test_embryo]
    pool = [s for s in real if s.embryo_id != args.test_embryo and s.mask_path]
    if not test:
        raise SystemExit(f"{args.data}: no frames of the test embryo {args.test_embryo}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ks = sorted({len(pool) if k == "all" else min(int(k), len(pool)) for k in args.ks})
    points = []
    for k in ks:
        if k == 0:
            weights, seconds, stages = str(args.init), 0.0, []
        else:
            root = work / f"k{k}"
            shutil.rmtree(root, ignore_errors=True)
            frames = pick_frames(pool, k)
            assert args.test_embryo not in {s.embryo_id for s in frames}
            build_project(root, frames, str(args.init))
            weights, seconds, stages = retrain_project(root, args)
        metrics = summarise(predict_pairs(Predictor.from_file(weights, args.device), test), by_embryo=False)["pooled"]
        point = {"k": k, "retrain_minutes": round(seconds / 60, 2), "stages": stages, **metrics}
        points.append(point)
        print(json.dumps(point), flush=True)
    return {
        "test_embryo": args.test_embryo,
        "test_frames": len(test),
        "pool_frames": len(pool),
        "init": str(args.init),
        "threads": args.threads,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "png")},
        "points": points,
    }


def plot(result: dict, path: str | Path) -> None:
    """Fragment Dice (left axis) and regression MAE (right axis) against K, retrain minutes under each point."""
    w, h, left, right, top, bottom = 900, 520, 80, 80, 60, 90
    img = np.full((h, w, 3), 255, np.uint8)
    pts = result["points"]
    ks = [p["k"] for p in pts]
    kmax = max(max(ks), 1)
    mae_max = max([p["mae_pct"] or 0 for p in pts] + [5.0])
    mae_top = float(np.ceil(mae_max / 5) * 5)

    def x_of(k: float) -> int:
        return int(left + (w - left - right) * k / kmax)

    def y_of(v: float, top_value: float) -> int:
        return int(h - bottom - (h - top - bottom) * v / top_value)

    font, black, grey = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0), (200, 200, 200)
    for i in range(6):  # grid and left axis (Dice 0..1)
        y = y_of(i / 5, 1.0)
        cv2.line(img, (left, y), (w - right, y), grey, 1)
        cv2.putText(img, f"{i / 5:.1f}", (left - 45, y + 5), font, 0.5, (160, 80, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{mae_top * i / 5:.0f}", (w - right + 10, y + 5), font, 0.5, (0, 100, 220), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (w - right, h - bottom), black, 1)
    dice_pts = [(x_of(p["k"]), y_of(p["dice_fragment"] or 0, 1.0)) for p in pts]
    mae_pts = [(x_of(p["k"]), y_of(p["mae_pct"] or 0, mae_top)) for p in pts]
    for a, b in zip(dice_pts, dice_pts[1:], strict=False):
        cv2.line(img, a, b, (160, 80, 0), 2, cv2.LINE_AA)
    for a, b in zip(mae_pts, mae_pts[1:], strict=False):
        cv2.line(img, a, b, (0, 100, 220), 2, cv2.LINE_AA)
    for p, d, m in zip(pts, dice_pts, mae_pts, strict=True):
        cv2.circle(img, d, 5, (160, 80, 0), -1, cv2.LINE_AA)
        cv2.circle(img, m, 5, (0, 100, 220), -1, cv2.LINE_AA)
        cv2.putText(img, f"{p['dice_fragment']:.2f}", (d[0] + 6, d[1] - 8), font, 0.45, (160, 80, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{p['mae_pct']:.1f}", (m[0] + 6, m[1] + 16), font, 0.45, (0, 100, 220), 1, cv2.LINE_AA)
        x = d[0]
        cv2.putText(img, f"K={p['k']}", (x - 18, h - bottom + 22), font, 0.5, black, 1, cv2.LINE_AA)
        minutes = f"{p['retrain_minutes']:.1f} min"
        cv2.putText(img, minutes, (x - 26, h - bottom + 42), font, 0.45, black, 1, cv2.LINE_AA)
    title = (f"Correction curve: left-out embryo {result['test_embryo']} ({result['test_frames']} frames), "
             f"retrain on {result['threads']} CPU threads")
    cv2.putText(img, title, (left, 30), font, 0.55, black, 1, cv2.LINE_AA)
    cv2.putText(img, "fragment Dice", (left, top - 8), font, 0.5, (160, 80, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "regression MAE (points)", (w - right - 190, top - 8), font, 0.5, (0, 100, 220), 1, cv2.LINE_AA)
    cv2.putText(img, "K = corrected real frames in the project (time: Segmentation + grading, then Mask edges)",
                (left, h - 20), font, 0.5, black, 1, cv2.LINE_AA)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def main(argv: list[str] | None = None) -> dict | int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REAL_LABELLED))
    parser.add_argument("--init", default=str(GENERATOR_WEIGHTS), help="the project's starting model")
    parser.add_argument("--test-embryo", default=DEFAULT_TEST_EMBRYO)
    parser.add_argument("--ks", nargs="+", default=["0", "2", "4", "all"])
    parser.add_argument("--work", default="/tmp/embryograde_correction_curve")
    parser.add_argument("--stage1-epochs", type=int, default=40)
    parser.add_argument("--stage1-minutes", type=float, default=3.0)
    parser.add_argument("--stage2-epochs", type=int, default=20)
    parser.add_argument("--edge-epochs", type=int, default=20)
    parser.add_argument("--generator-frames", type=int, default=64)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--no-edges", action="store_true", help="skip Mask edges")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=str(RESULTS / "correction_curve.json"))
    parser.add_argument("--png", default=str(REPO_ROOT / "docs" / "correction-curve.png"))
    args = parser.parse_args(argv)
    if not has_real_data(args.data):
        return 1
    result = run(args)
    write_result(result, args.json, "bench.correction_curve", argv)
    plot(result, args.png)
    return result


if __name__ == "__main__":
    sys.exit(0 if isinstance(main(), dict) else 1)
