"""Evaluation metrics (numpy only): Dice, grade agreement, linear-weighted Cohen's kappa."""

from __future__ import annotations

import numpy as np


class DiceCounter:
    """Micro Dice over a set of frames: sums of intersections and areas, so tiny frames do not dominate."""

    def __init__(self, classes: tuple[int, ...] = (1, 2)):
        self.classes = classes
        self.inter = dict.fromkeys(classes, 0)
        self.total = dict.fromkeys(classes, 0)

    def add(self, pred: np.ndarray, target: np.ndarray) -> None:
        if pred.shape != target.shape:
            raise ValueError(f"prediction {pred.shape} and mask {target.shape} differ in size")
        for c in self.classes:
            p, t = pred == c, target == c
            self.inter[c] += int(np.count_nonzero(p & t))
            self.total[c] += int(np.count_nonzero(p)) + int(np.count_nonzero(t))

    def dice(self, cls: int) -> float | None:
        return None if self.total[cls] == 0 else 2.0 * self.inter[cls] / self.total[cls]


def confusion_matrix(truth: list[int], pred: list[int], n: int) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    for t, p in zip(truth, pred, strict=True):
        m[t, p] += 1
    return m


def weighted_kappa(confusion: np.ndarray) -> float | None:
    """Linear-weighted Cohen's kappa from a confusion matrix (rows truth, columns prediction)."""
    n = confusion.shape[0]
    total = confusion.sum()
    if total == 0:
        return None
    i, j = np.indices((n, n))
    weights = np.abs(i - j) / max(n - 1, 1)
    expected = np.outer(confusion.sum(1), confusion.sum(0)) / total
    denom = (weights * expected).sum()
    if denom == 0:
        return 1.0 if (weights * confusion).sum() == 0 else 0.0
    return float(1.0 - (weights * confusion).sum() / denom)
