"""Losses: CE + soft Dice for masks, the range loss for (weak or exact) % labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = 255


def range_loss(pred: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """mean(relu(lo - y) + relu(y - hi)) in fraction units: zero inside [lo, hi].

    With lo == hi it is exactly the MAE, so exact and range labels share one loss.
    """
    if pred.numel() == 0:
        return pred.sum()
    return (F.relu(lo - pred) + F.relu(pred - hi)).mean()


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, classes: tuple[int, ...] = (1, 2)) -> torch.Tensor:
    """1 - soft Dice over the foreground classes, pixels marked IGNORE_INDEX excluded."""
    valid = (target != IGNORE_INDEX).unsqueeze(1).float()
    probs = logits.softmax(dim=1) * valid
    safe_target = target.clone()
    safe_target[target == IGNORE_INDEX] = 0
    onehot = F.one_hot(safe_target, logits.shape[1]).permute(0, 3, 1, 2).float() * valid
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    denom = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return 1 - dice[list(classes)].mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, fragment_weight: float = 1.0) -> torch.Tensor:
    """Cross-entropy + Dice; returns a zero that still carries gradients when no pixel is labelled.

    fragment_weight > 1 weighs fragment pixels up in the cross-entropy: they are a few % of a frame.
    """
    if not bool((target != IGNORE_INDEX).any()):
        return logits.sum() * 0.0
    weight = None
    if fragment_weight != 1.0:
        weight = torch.tensor([1.0, 1.0, fragment_weight], device=logits.device, dtype=logits.dtype)
    ce = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE_INDEX)
    return ce + soft_dice_loss(logits, target)
