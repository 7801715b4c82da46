"""Pieces every training stage shares: progress reports, one optimiser step, segmentation counts.

Kept apart from models/training/loop.py so that stage modules (models/training/refine_stage.py) can use them without
importing the training loop that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from models.inference.device import is_distributed
from models.network.attnregdeeplab import argmax3
from models.training.losses import IGNORE_INDEX


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


def wrap_ddp(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)
