"""`evaluate`: grade a labelled layout-v1 set with a weights file and compare with the truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from embryograde_app.core.domain.metrics import DiceCounter, confusion_matrix, weighted_kappa
from embryograde_app.core.domain.schemes import DEFAULT_SCHEME, frag_pct, get_scheme
from embryograde_app.core.io.layout import read_mask
from embryograde_app.core.training.samples import samples_from_layout


def predictions(predictor, samples: list, batch_size: int = 8, progress: Callable[[int, int], None] | None = None):
    """(sample, prediction) for every sample in order, the frames read and predicted in batches."""
    from models.network.inputs import read_grey_uint8

    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        yield from zip(chunk, predictor.predict([read_grey_uint8(s.image_path) for s in chunk]), strict=True)
        if progress is not None:
            progress(min(start + batch_size, len(samples)), len(samples))


def mask_at_label_size(mask: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The predicted mask at the label's resolution (nearest neighbour keeps class ids)."""
    if mask.shape == truth.shape:
        return mask
    import cv2

    return cv2.resize(mask, truth.shape[::-1], interpolation=cv2.INTER_NEAREST)


def evaluate_predictor(
    predictor,
    samples: list,
    scheme_name: str = DEFAULT_SCHEME,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Metrics of a models.inference.predictor.Predictor on samples; masks compared at the label's resolution."""
    return evaluate_predictions(predictions(predictor, samples, batch_size, progress), scheme_name)


def evaluate_predictions(pairs, scheme_name: str = DEFAULT_SCHEME) -> dict:
    """Metrics of (sample, prediction) pairs, e.g. pooled over the folds of a cross-validation."""
    scheme = get_scheme(scheme_name)
    dice = DiceCounter()
    abs_errors, area_errors, truth_bins, pred_bins, area_bins = [], [], [], [], []
    violations = n_range = 0
    samples = []
    for s, p in pairs:
        samples.append(s)
        reg_pct = p.regression_pct
        if s.mask_path:
            truth = read_mask(s.mask_path)
            mask = mask_at_label_size(p.mask, truth)
            dice.add(mask, truth)
            area_errors.append(abs(frag_pct(mask) - frag_pct(truth)))
            area_bins.append((scheme.bin_index(frag_pct(truth)), scheme.bin_index(frag_pct(mask))))
        if s.has_label and s.lo_pct == s.hi_pct:
            abs_errors.append(abs(reg_pct - s.lo_pct))
            truth_bins.append(scheme.bin_index(s.lo_pct))
            pred_bins.append(scheme.bin_index(reg_pct))
        elif s.has_label:
            n_range += 1
            violations += not (s.lo_pct <= reg_pct <= s.hi_pct)
    conf = confusion_matrix(truth_bins, pred_bins, len(scheme.bins))
    return {
        "dice_fragment": dice.dice(2),
        "dice_blastomere": dice.dice(1),
        "dice_fragment_within_1px": dice.dice_within_1px(2),
        "mae_pct": float(np.mean(abs_errors)) if abs_errors else None,
        "area_mae_pct": float(np.mean(area_errors)) if area_errors else None,
        "area_grade_accuracy": float(np.mean([t == p for t, p in area_bins])) if area_bins else None,
        "grade_accuracy": float(np.trace(conf) / conf.sum()) if conf.sum() else None,
        "kappa_linear": weighted_kappa(conf),
        "grade_confusion": conf.tolist(),
        "grades": [b.grade for b in scheme.bins],
        "scheme": scheme.key,
        "range_violation_rate": violations / n_range if n_range else None,
        "n_frames": len(samples),
        "n_masks": sum(1 for s in samples if s.mask_path),
        "n_range_labels": n_range,
    }


def evaluate_dataset(weights: str | Path, data: str | Path, device: str = "auto", **kwargs) -> dict:
    from models.inference.predictor import Predictor

    predictor = Predictor.from_file(weights, device)
    result = evaluate_predictor(predictor, samples_from_layout(data), **kwargs)
    result["weights"] = str(weights)
    result["model_version"] = predictor.version
    return result
