"""Survey of weights files on the real EmbryoScope sequences (no labels): what would an embryologist be shown?

There is no ground truth for the real frames, so this compares candidates side by side on every k-th frame
of each sequence: mean regression %, mean fragment-mask %, their mean disagreement, and the grade spread.
The two sequences are day 2-3 embryos with little fragmentation, so a model that reads them as heavily
fragmented is implausible whatever its synthetic scores (that is how an earlier candidate was rejected).
Run: python -m bench.real_frames_survey [--every 10] WEIGHTS [WEIGHTS ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench.make_real_overlays import REAL
from embryograde_app.core.domain.schemes import frag_pct, get_scheme
from embryograde_app.core.io.frames import open_frames
from embryograde_app.core.view.readouts import readings_disagree
from embryograde_app.paths import BUNDLED_WEIGHTS


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
        pairs = list(zip(regression, area, strict=True))
        out["sequences"][folder.name] = {
            "frames": len(indices),
            "mean_regression_pct": round(float(regression_a.mean()), 2),
            "mean_mask_pct": round(float(area_a.mean()), 2),
            "mean_abs_disagreement_pct": round(float(np.abs(regression_a - area_a).mean()), 2),
            # the window's red flag (core/view/readouts.py): the two readings give different grades
            "flag_rate": round(float(np.mean([readings_disagree(scheme, r, a) for r, a in pairs])), 3),
            # the flag's old rule, kept for comparison: more than 5 points apart
            "far_apart_rate": round(float((np.abs(regression_a - area_a) > 5.0).mean()), 3),
            "grade_counts": {g: grades.count(g) for g in sorted(set(grades))},
        }
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description="weights compared on the unlabelled real sequences")
    parser.add_argument("weights", nargs="*", default=[str(BUNDLED_WEIGHTS)])
    parser.add_argument("--every", type=int, default=10, help="take every k-th frame")
    args = parser.parse_args(argv)
    if not REAL.is_dir():
        print(f"{REAL}: real sequences not found (they live next to the repository)", file=sys.stderr)
        return []
    results = [survey(str(Path(w)), args.every) for w in args.weights]
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
