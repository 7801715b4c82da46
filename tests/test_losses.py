"""Range loss: zero inside the interval, linear outside, gradients pointing back into it; Dice/CE."""

from __future__ import annotations

import pytest
import torch

from models.training.losses import IGNORE_INDEX, range_loss, segmentation_loss, soft_dice_loss


@pytest.mark.parametrize(
    ("y", "expected", "grad"),
    [(0.05, 0.05, -1.0), (0.15, 0.0, 0.0), (0.10, 0.0, 0.0), (0.25, 0.0, 0.0), (0.40, 0.15, 1.0)],
)
def test_range_loss_below_inside_above(y, expected, grad):
    pred = torch.tensor([y], requires_grad=True)
    loss = range_loss(pred, torch.tensor([0.10]), torch.tensor([0.25]))
    loss.backward()
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert pred.grad.item() == pytest.approx(grad)


def test_range_loss_with_equal_bounds_is_mae():
    pred = torch.tensor([0.2, 0.5, 0.9])
    target = torch.tensor([0.3, 0.5, 0.6])
    assert range_loss(pred, target, target).item() == pytest.approx((pred - target).abs().mean().item())


def test_range_loss_is_a_mean_over_the_batch():
    pred = torch.tensor([0.0, 0.5])
    lo, hi = torch.tensor([0.2, 0.1]), torch.tensor([0.3, 0.3])
    assert range_loss(pred, lo, hi).item() == pytest.approx((0.2 + 0.2) / 2)


def test_dice_loss_perfect_prediction_is_near_zero():
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, 2:5, 2:5] = 1
    target[0, 6, 6] = 2
    logits = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 50
    assert soft_dice_loss(logits, target).item() < 0.05


def test_segmentation_loss_ignores_unlabelled_pixels_and_keeps_gradients():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), IGNORE_INDEX, dtype=torch.long)
    loss = segmentation_loss(logits, target)
    loss.backward()
    assert loss.item() == 0.0
    assert logits.grad is not None and float(logits.grad.abs().sum()) == 0.0


def test_soft_dice_matches_the_one_hot_definition_with_ignored_pixels():
    import torch.nn.functional as F

    torch.manual_seed(0)
    logits = torch.randn(3, 3, 20, 24, requires_grad=True)
    target = torch.randint(0, 3, (3, 20, 24))
    target[0, :5] = IGNORE_INDEX
    valid = (target != IGNORE_INDEX).unsqueeze(1).float()
    probs = logits.softmax(1) * valid
    onehot = F.one_hot(target.clamp(0, 2) * (target != IGNORE_INDEX), 3).permute(0, 3, 1, 2).float() * valid
    dice = (2 * (probs * onehot).sum((0, 2, 3)) + 1) / (probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1)
    reference = 1 - dice[[1, 2]].mean()
    loss = soft_dice_loss(logits, target)
    assert torch.allclose(loss, reference, atol=1e-6)
    (g_ref,) = torch.autograd.grad(reference, logits)
    (g,) = torch.autograd.grad(soft_dice_loss(logits, target), logits)
    assert torch.allclose(g, g_ref, atol=1e-7)
