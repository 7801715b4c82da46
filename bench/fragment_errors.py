"""Where a weights file loses fragment Dice on a labelled set: at class edges, or whole fragments missed.

Why: it decides what to improve. Wrong fragment pixels are split into those within 2 px of a true class edge
and the rest; and by object, into fragments missed outright (or false ones, under 30 % overlap) versus the
edges of fragments that were found. Two what-ifs bound the gain: Dice with the found fragments' edges made
perfect, and Dice with the missed and false fragments fixed but the edges left as they are. And how hard the
metric is on these masks: the true fragment mask scored against itself moved by one pixel (shifted, grown,
shrunk), with the sizes of the true fragments. And which classes are confused: what the truth is under the
false fragment pixels, what the model called the missed ones. And what any "fragments only inside the zona"
rule could gain at most: the false fragment pixels outside the convex hull of the true embryo (the zona lies
outside that hull, so no zona bound removes more) and Dice with them removed.
With --loeo DIR each embryo is predicted by the model that never saw it (DIR/loeo_<embryo>.safetensors, as
bench.real_eval leaves them): the errors of the leave-one-embryo-out validation, per embryo and pooled.
Run: python -m bench.fragment_errors [--weights W | --loeo DIR] [--data DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np

from embryograde_app.core.io.layout import read_mask
from embryograde_app.core.training.evaluate import mask_at_label_size, predictions
from embryograde_app.core.training.samples import samples_from_layout
from embryograde_app.paths import BUNDLED_WEIGHTS

FOUND = 0.3  # a true fragment counts as found (a predicted one as true) above this overlap


def edge_band(truth: np.ndarray, radius: int = 2) -> np.ndarray:
    """Pixels within `radius` of a boundary between any two classes of the true mask."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    band = np.zeros(truth.shape, bool)
    for cls in range(3):
        plane = (truth == cls).astype(np.uint8)
        band |= cv2.dilate(plane, kernel) != cv2.erode(plane, kernel)
    return band


def embryo_hull(truth_mask: np.ndarray) -> np.ndarray:
    """The convex hull of the true embryo (blastomeres and fragments), as a boolean mask."""
    hull = np.zeros(truth_mask.shape, np.uint8)
    points = cv2.findNonZero((truth_mask > 0).astype(np.uint8))
    if points is not None:
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
    return hull.astype(bool)


class FragmentErrors:
    """Accumulates pixel and object counts of fragment errors over frames."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(
            (
                "truth", "pred", "tp", "fn_band", "fp_band", "fn_missed", "fp_false", "fn_edge", "fp_edge",
                "fp_outside",
            ),
            0,
        )  # fmt: skip
        # class ids 0 background, 1 blastomere: the truth under false fragment px, the call on missed ones
        self.false_on = [0, 0]
        self.missed_as = [0, 0]

    def add(self, pred_mask: np.ndarray, truth_mask: np.ndarray) -> None:
        c = self.counts
        truth, pred = truth_mask == 2, pred_mask == 2
        band = edge_band(truth_mask)
        c["truth"] += int(truth.sum())
        c["pred"] += int(pred.sum())
        c["tp"] += int((truth & pred).sum())
        c["fn_band"] += int((truth & ~pred & band).sum())
        c["fp_band"] += int((pred & ~truth & band).sum())
        c["fp_outside"] += int((pred & ~embryo_hull(truth_mask)).sum())
        for cls in (0, 1):
            self.false_on[cls] += int((pred & (truth_mask == cls)).sum())
            self.missed_as[cls] += int((truth & (pred_mask == cls)).sum())
        for mine, other, missed_key, edge_key in (
            (truth, pred, "fn_missed", "fn_edge"),
            (pred, truth, "fp_false", "fp_edge"),
        ):
            n, labels = cv2.connectedComponents(mine.astype(np.uint8), connectivity=8)
            for k in range(1, n):
                part = labels == k
                wrong = int((part & ~other).sum())
                c[missed_key if other[part].mean() < FOUND else edge_key] += wrong

    def result(self) -> dict:
        c = self.counts
        fn, fp = c["truth"] - c["tp"], c["pred"] - c["tp"]

        def dice(tp: int, fn_: int, fp_: int) -> float | None:
            return 2 * tp / (2 * tp + fn_ + fp_) if tp + fn_ + fp_ else None

        return {
            "dice_fragment": dice(c["tp"], fn, fp),
            "wrong_fragment_px": {"missed": fn, "false": fp},
            "share_within_2px_of_an_edge": {
                "missed": c["fn_band"] / fn if fn else None,
                "false": c["fp_band"] / fp if fp else None,
            },
            "share_whole_objects": {
                "missed": c["fn_missed"] / fn if fn else None,
                "false": c["fp_false"] / fp if fp else None,
            },
            "dice_if_found_fragments_had_perfect_edges": dice(
                c["truth"] - c["fn_missed"], c["fn_missed"], c["fp_false"]
            ),
            "dice_if_missed_and_false_fragments_were_fixed": dice(c["tp"], c["fn_edge"], c["fp_edge"]),
            "share_of_false_px_outside_the_embryo_hull": c["fp_outside"] / fp if fp else None,
            "dice_if_false_fragments_outside_the_embryo_hull_were_removed": dice(c["tp"], fn, fp - c["fp_outside"]),
            "false_fragment_px_truly": _shares(self.false_on, fp),
            "missed_fragment_px_called": _shares(self.missed_as, fn),
        }


def _shares(by_class: list[int], total: int) -> dict:
    return {name: by_class[cls] / total if total else None for cls, name in ((0, "background"), (1, "blastomere"))}


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
ONE_PIXEL_MOVES = {
    "shifted_1px_along_an_axis": lambda m: [np.roll(m, k, axis) for k in (-1, 1) for axis in (0, 1)],
    "shifted_1px_diagonally": lambda m: [np.roll(m, (a, b), (0, 1)) for a in (-1, 1) for b in (-1, 1)],
    "grown_1px": lambda m: [cv2.dilate(m, _CROSS)],
    "shrunk_1px": lambda m: [cv2.erode(m, _CROSS)],
}


class TruthSensitivity:
    """Fragment Dice of the true mask against itself moved by one pixel, and the true fragments' sizes.

    Why: it says how exactly edges must sit for a Dice target. Where half the fragments are a few pixels across,
    a one-pixel slip costs more than a wrong fragment here and there.
    """

    def __init__(self) -> None:
        self.tp = dict.fromkeys(ONE_PIXEL_MOVES, 0)
        self.total = dict.fromkeys(ONE_PIXEL_MOVES, 0)
        self.sizes: list[int] = []

    def add(self, truth_mask: np.ndarray) -> None:
        truth = (truth_mask == 2).astype(np.uint8)
        for name, move in ONE_PIXEL_MOVES.items():
            for moved in move(truth):
                self.tp[name] += int((truth & moved).sum())
                self.total[name] += int(truth.sum()) + int(moved.sum())
        _, _, stats, _ = cv2.connectedComponentsWithStats(truth, connectivity=8)
        self.sizes += stats[1:, cv2.CC_STAT_AREA].tolist()

    def result(self) -> dict:
        sizes = np.array(self.sizes)
        moved = {k: 2 * tp / self.total[k] if self.total[k] else None for k, tp in self.tp.items()}
        return {
            "truth_dice_against_itself": moved,
            "true_fragments": len(sizes),
            "true_fragment_median_px": float(np.median(sizes)) if len(sizes) else None,
            "share_of_fragment_px_in_fragments_under_100px": float(sizes[sizes < 100].sum() / sizes.sum())
            if len(sizes)
            else None,
        }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="where fragment Dice is lost")
    parser.add_argument("--weights", default=str(BUNDLED_WEIGHTS))
    parser.add_argument("--loeo", help="folder of leave-one-embryo-out fold models (loeo_<embryo>.safetensors)")
    parser.add_argument("--data", help="layout-v1 set with masks (default: the test seed, generated in a temp dir)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2 embryos x 2 frames")
    args = parser.parse_args(argv)
    if args.data:
        samples = [s for s in samples_from_layout(args.data) if s.mask_path]
    else:
        from bench.workdir import scratch_dir
        from embryograde_app.core.synth.generator import generate_dataset

        tmp = scratch_dir("fragment-errors-")
        embryos, frames = (2, 2) if args.quick else (15, 8)
        generate_dataset(tmp, embryos, frames, size=256, seed=90210)
        samples = samples_from_layout(tmp)
    pooled, sensitivity = FragmentErrors(), TruthSensitivity()
    per_embryo: dict[str, FragmentErrors] = {}
    for sample, pred in _predictions(args, samples):
        truth = read_mask(sample.mask_path)
        mask = mask_at_label_size(pred.mask, truth)
        pooled.add(mask, truth)
        per_embryo.setdefault(sample.embryo_id, FragmentErrors()).add(mask, truth)
        sensitivity.add(truth)
    result = {
        "weights": f"leave-one-embryo-out models in {args.loeo}" if args.loeo else args.weights,
        "frames": len(samples),
        **pooled.result(),
        **sensitivity.result(),
    }
    if args.loeo:
        result["per_embryo"] = {e: errors.result() for e, errors in sorted(per_embryo.items())}
    print(json.dumps(result, indent=2))
    return result


def _predictions(args, samples: list):
    """(sample, prediction) pairs: by one weights file, or each embryo by its own fold model."""
    from pathlib import Path

    from models.inference.predictor import Predictor

    if not args.loeo:
        yield from predictions(Predictor.from_file(args.weights, "cpu"), samples)
        return
    for embryo in sorted({s.embryo_id for s in samples}):
        path = Path(args.loeo) / f"loeo_{embryo}.safetensors"
        if not path.exists():
            raise SystemExit(f"{path}: no fold model for embryo {embryo} (run python -m bench.real_eval first)")
        yield from predictions(Predictor.from_file(path, "cpu"), [s for s in samples if s.embryo_id == embryo])


if __name__ == "__main__":
    main()
