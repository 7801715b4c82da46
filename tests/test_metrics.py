"""Dice counters: plain micro Dice and the 1-pixel-tolerant Dice that tells edge slips from wrong regions."""

import numpy as np
import pytest

from embryograde_app.core.domain.metrics import DiceCounter, dilate8


def test_dilate8_grows_by_one_pixel_in_all_eight_directions():
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    assert dilate8(mask).sum() == 9 and dilate8(mask)[1:4, 1:4].all()
    edge = np.zeros((3, 3), bool)
    edge[0, 0] = True  # no wrap-around at the border
    assert dilate8(edge).sum() == 4


def test_within_1px_dice_forgives_a_one_pixel_slip_but_not_a_wrong_region():
    truth = np.zeros((30, 30), np.uint8)
    truth[5:10, 5:10] = 2
    shifted = DiceCounter()
    shifted.add(np.roll(truth, 1, axis=1), truth)
    assert shifted.dice(2) == pytest.approx(0.8)
    assert shifted.dice_within_1px(2) == 1.0
    invented = truth.copy()
    invented[20:23, 20:23] = 2  # a false fragment far from any true one
    counter = DiceCounter()
    counter.add(invented, truth)
    assert counter.dice_within_1px(2) == pytest.approx(counter.dice(2)) == pytest.approx(50 / 59)
    assert DiceCounter().dice_within_1px(2) is None
