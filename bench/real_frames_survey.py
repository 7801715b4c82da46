"""Survey of weights files on the real EmbryoScope sequences (no labels): what would an embryologist be shown?

There is no ground truth for the real frames, so this compares candidates side by side on every k-th frame
of each sequence: mean regression %, mean fragment-mask %, their mean disagreement, the red flag's rate and
the grade spread, over the whole sequence and over each tenth of it. The sequences run from the zygote to
compaction (day 1 to day 4), so the tenths show where along development a model's reading drifts: a
fragmentation % that climbs steadily as the cells divide and shrink is the model reading small cells as
fragments, not an embryo fragmenting (that is how an earlier candidate was rejected).
Run: python -m bench.real_frames_survey [--every 10] [--png docs/real-timecourse.png] WEIGHTS [WEIGHTS ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from bench.make_real_overlays import REAL
from embryograde_app.core.domain.schemes import frag_pct, get_scheme
from embryograde_app.core.io.frames import open_frames
from embryograde_app.core.view.readouts import readings_disagree
from embryograde_app.paths import BUNDLED_WEIGHTS


def _summary(regression: np.ndarray, area: np.ndarray, flags: np.ndarray) -> dict:
    return {
        "mean_regression_pct": round(float(regression.mean()), 2),
        "mean_mask_pct": round(float(area.mean()), 2),
        "mean_abs_disagreement_pct": round(float(np.abs(regression - area).mean()), 2),
        # the window's red flag (core/view/readouts.py): the two readings give different grades
        "flag_rate": round(float(flags.mean()), 3),
        # the flag's old rule, kept for comparison: more than 5 points apart
        "far_apart_rate": round(float((np.abs(regression - area) > 5.0).mean()), 3),
    }


def survey(weights: str, every: int, batch: int = 8) -> dict:
    from models.inference.predictor import Predictor

    predictor = Predictor.from_file(weights, "cpu")
    scheme = get_scheme()
    out: dict = {"weights": weights, "version": predictor.version, "sequences": {}}
    for folder in sorted(p for p in REAL.iterdir() if p.is_dir()):
        source = open_frames(folder)
        indices = list(range(0, len(source), every))
        regression, area, grades = [], [], []
        for start in range(0, len(indices), batch):
            frames = [source.read_uint8(i) for i in indices[start : start + batch]]
            for pred in predictor.predict(frames):
                regression.append(pred.regression_pct)
                area.append(frag_pct(pred.mask))
                grades.append(scheme.grade(pred.regression_pct))
        regression_a, area_a = np.array(regression), np.array(area)
        flags = np.array([readings_disagree(scheme, r, a) for r, a in zip(regression, area, strict=True)])
        tenths = []
        for part in np.array_split(np.arange(len(indices)), min(10, len(indices))):
            row = {"frames": [indices[part[0]] + 1, indices[part[-1]] + 1]}  # 1-based, as the window numbers them
            tenths.append(row | _summary(regression_a[part], area_a[part], flags[part]))
        out["sequences"][folder.name] = {
            "frames": len(indices),
            **_summary(regression_a, area_a, flags),
            "grade_counts": {g: grades.count(g) for g in sorted(set(grades))},
            "tenths": tenths,
            "series": {
                "frame": [i + 1 for i in indices],
                "regression_pct": [round(float(v), 2) for v in regression_a],
                "mask_pct": [round(float(v), 2) for v in area_a],
                "flagged": [bool(f) for f in flags],
            },
        }
    return out


def plot_timecourse(result: dict, path: str | Path) -> None:
    """One panel per sequence: regression % and mask % against the frame, flagged frames ticked in red."""
    seqs = result["sequences"]
    w, panel, left, right, top = 1000, 260, 60, 20, 40
    img = np.full((top + panel * len(seqs) + 30, w, 3), 255, np.uint8)
    font, black, grey, red = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0), (215, 215, 215), (40, 40, 220)
    colours = {"regression_pct": (160, 80, 0), "mask_pct": (0, 140, 255)}
    title = f"{result['version']} on the unlabelled EmbryoScope sequences: regression and mask fragmentation %"
    cv2.putText(img, title, (left, 24), font, 0.5, black, 1, cv2.LINE_AA)
    for n, (name, seq) in enumerate(seqs.items()):
        y0, y1 = top + n * panel + 20, top + (n + 1) * panel - 30
        frames = seq["series"]["frame"]
        span = max(frames[-1] - frames[0], 1)

        def xy(frame: float, pct: float, y0: int = y0, y1: int = y1, first: int = frames[0], span: int = span):
            return int(left + (w - left - right) * (frame - first) / span), int(y1 - (y1 - y0) * pct / 100)

        for pct in range(0, 101, 20):
            y = xy(frames[0], pct)[1]
            cv2.line(img, (left, y), (w - right, y), grey, 1)
            cv2.putText(img, f"{pct}", (left - 32, y + 4), font, 0.4, black, 1, cv2.LINE_AA)
        for key, colour in colours.items():
            pts = np.array([xy(f, v) for f, v in zip(frames, seq["series"][key], strict=True)], np.int32)
            cv2.polylines(img, [pts], False, colour, 1, cv2.LINE_AA)
        for f, flagged in zip(frames, seq["series"]["flagged"], strict=True):
            if flagged:
                x = xy(f, 0)[0]
                cv2.line(img, (x, y1 + 2), (x, y1 + 8), red, 1)
        label = f"{name}: {seq['frames']} frames, flag up on {100 * seq['flag_rate']:.1f} %"
        cv2.putText(img, label, (left, y0 - 6), font, 0.45, black, 1, cv2.LINE_AA)
        cv2.putText(img, f"frame {frames[0]}", (left, y1 + 22), font, 0.4, black, 1, cv2.LINE_AA)
        cv2.putText(img, f"frame {frames[-1]}", (w - right - 80, y1 + 22), font, 0.4, black, 1, cv2.LINE_AA)
    legend = "blue: regression %   orange: fragment-mask %   red ticks: frames with the red flag up"
    cv2.putText(img, legend, (left, img.shape[0] - 10), font, 0.45, black, 1, cv2.LINE_AA)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def _without_series(result: dict) -> dict:
    """The result as printed: every frame's readings are for the plot and the --json file."""
    seqs = {name: {k: v for k, v in seq.items() if k != "series"} for name, seq in result["sequences"].items()}
    return {**result, "sequences": seqs}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description="weights compared on the unlabelled real sequences")
    parser.add_argument("weights", nargs="*", default=[str(BUNDLED_WEIGHTS)])
    parser.add_argument("--every", type=int, default=10, help="take every k-th frame")
    parser.add_argument("--png", default=None, help="the first weights' readings along both sequences")
    parser.add_argument("--json", default=None, help="write the results (with every frame's readings) here")
    args = parser.parse_args(argv)
    if not REAL.is_dir():
        print(f"{REAL}: real sequences not found (they live next to the repository)", file=sys.stderr)
        return []
    results = [survey(str(Path(w)), args.every) for w in args.weights]
    print(json.dumps([_without_series(r) for r in results], indent=2))
    if args.json:
        command = "python -m bench.real_frames_survey " + " ".join(sys.argv[1:] if argv is None else argv)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"command": command, "results": results}, indent=1))
    if args.png and results:
        plot_timecourse(results[0], args.png)
    return results


if __name__ == "__main__":
    main()
