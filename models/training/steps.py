"""Pieces every training stage shares: progress reports, one optimiser step, the regression loss over labelled
frames, and the validation tally that every stage's metrics come from.

Kept apart from models/training/loop.py so that stage modules (models/training/stage2.py,
models/training/refine_stage.py) can use them without importing the training loop that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from models.inference.device import is_distributed
from models.network.attnregdeeplab import argmax3
from models.training.losses import IGNORE_INDEX, range_loss


class TrainingError(RuntimeError):
    """A run that cannot go on (NaN loss, no usable samples, out of memory); the message says why."""


@dataclass(frozen=True)
class TrainProgress:
    stage: str
    epoch: int
    epochs: int
    step: int
    steps: int
    train_loss: float
    val_loss: float | None = None
    val_metrics: dict = field(default_factory=dict)
    done: bool = False


ProgressFn = Callable[[TrainProgress], None]


def check_finite(loss: torch.Tensor, epoch: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingError(f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; the run was stopped")


def optimiser_step(loss: torch.Tensor, opt, sched, epoch: int, step: int) -> float:
    """Backward pass and one step of the optimiser and schedule on a loss checked to be finite; its value."""
    check_finite(loss, epoch, step)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return float(loss.detach())


def report_every(
    progress: ProgressFn | None,
    every: int,
    stage: str,
    epoch: int,
    epochs: int,
    step: int,
    steps: int,
    mean_loss: float,
) -> None:
    """A progress report every `every` steps (the GUI's bar needs no more)."""
    if progress is not None and (step + 1) % every == 0:
        progress(TrainProgress(stage, epoch + 1, epochs, step + 1, steps, mean_loss))


def seg_counts(logits: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Per-class (intersection, pred, target) pixel counts for micro Dice over a set."""
    pred = argmax3(logits)
    valid = target != IGNORE_INDEX
    out = np.zeros((3, 3), np.int64)
    for c in (1, 2):
        p, t = (pred == c) & valid, (target == c) & valid
        out[c] = [int((p & t).sum()), int(p.sum()), int(t.sum())]
    return out


def dice_from_counts(counts: np.ndarray, cls: int) -> float | None:
    inter, p, t = counts[cls]
    return None if p + t == 0 else 2.0 * inter / (p + t)


def reg_loss(fraction: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Range loss over the frames of a batch that have a label (lo is NaN for the others); 0 when none has."""
    labelled = ~torch.isnan(lo)
    if not bool(labelled.any()):
        return fraction.sum() * 0.0
    return range_loss(fraction[labelled], lo[labelled], hi[labelled])


def reg_stats(fraction: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> tuple[float, int, int, int]:
    """(absolute error summed over exact labels, exact labels, range violations, range labels) of a batch."""
    labelled = ~torch.isnan(lo)
    exact = labelled & (lo == hi)
    ranged = labelled & (lo != hi)
    abs_err = float((fraction[exact] - lo[exact]).abs().sum())
    viol = int(((fraction[ranged] < lo[ranged]) | (fraction[ranged] > hi[ranged])).sum())
    return abs_err, int(exact.sum()), viol, int(ranged.sum())


class ValTally:
    """Validation counts over a set, batch by batch; the one place its metrics are computed from them."""

    def __init__(self) -> None:
        self.counts = np.zeros((3, 3), np.int64)
        self.abs_err, self.n_exact, self.violations, self.n_range = 0.0, 0, 0, 0

    def add_seg(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        self.counts += seg_counts(logits, target)

    def add_reg(self, fraction: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> None:
        e, x, v, r = reg_stats(fraction, lo, hi)
        self.abs_err, self.n_exact = self.abs_err + e, self.n_exact + x
        self.violations, self.n_range = self.violations + v, self.n_range + r

    def seg_metrics(self) -> dict:
        """Micro Dice of fragments and blastomeres over the set (None for a class absent from both)."""
        return {
            "dice_fragment": dice_from_counts(self.counts, 2),
            "dice_blastomere": dice_from_counts(self.counts, 1),
        }

    def metrics(self) -> dict:
        """seg_metrics, plus the MAE (%) over exact labels and the share of range labels missed."""
        return {
            **self.seg_metrics(),
            "mae_pct": 100 * self.abs_err / self.n_exact if self.n_exact else None,
            "range_violation_rate": self.violations / self.n_range if self.n_range else None,
        }


def wrap_ddp(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)
