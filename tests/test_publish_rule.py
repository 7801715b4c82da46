"""The rule that decides whether freshly trained weights may replace the bundled ones."""

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "publish_bundled", Path(__file__).resolve().parents[1] / "scripts" / "publish_bundled.py"
)
publish_bundled = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(publish_bundled)

OLD = {"dice_fragment": 0.741, "mae_pct": 3.46, "grade_accuracy": 0.900}


@pytest.mark.parametrize(
    "new, expected",
    [
        # better grading, Dice the same within stage 2's seg-refinement noise
        ({"dice_fragment": 0.7406, "mae_pct": 2.20, "grade_accuracy": 0.967}, True),
        # session 3's stride-2 candidate: better masks, worse grading
        ({"dice_fragment": 0.769, "mae_pct": 4.46, "grade_accuracy": 0.692}, False),
        # better grading bought with a real Dice loss
        ({"dice_fragment": 0.731, "mae_pct": 2.20, "grade_accuracy": 0.967}, False),
        # one frame more misgraded, whatever else improves
        ({"dice_fragment": 0.760, "mae_pct": 3.00, "grade_accuracy": 0.8917}, False),
        # nothing better beyond noise
        ({"dice_fragment": 0.742, "mae_pct": 3.43, "grade_accuracy": 0.900}, False),
        # a metric that was not measured is never a gain
        ({"dice_fragment": 0.760, "grade_accuracy": 0.967}, False),
    ],
)
def test_beats_needs_a_gain_beyond_noise_and_no_loss_beyond_it(new, expected):
    assert publish_bundled.beats(new, OLD) is expected
