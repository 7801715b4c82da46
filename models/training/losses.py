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
    """1 - soft Dice over the foreground classes, pixels marked IGNORE_INDEX excluded.

    The overlap is summed by gathering each pixel's probability of its true class, never building the
    (N, C, H, W) one-hot target: half the time of the one-hot form, with the same value and gradients.
    """
    valid = target != IGNORE_INDEX
    probs = logits.softmax(dim=1)
    weight = valid.to(probs.dtype)
    safe_target = torch.where(valid, target, torch.zeros_like(target))
    p_true = probs.gather(1, safe_target.unsqueeze(1)).squeeze(1) * weight
    n_classes = logits.shape[1]
    inter = p_true.new_zeros(n_classes).scatter_add(0, safe_target.flatten(), p_true.flatten())
    target_px = torch.bincount(safe_target.flatten(), weights=weight.flatten(), minlength=n_classes)
    denom = (probs * weight.unsqueeze(1)).sum((0, 2, 3)) + target_px.to(probs.dtype)
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
