"""Publishing bundled weights: the rule that decides whether they replace the current ones, and what they record."""

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


STAGE2 = {
    "stage": "2",
    "sha256": "239ea594" + "0" * 56,
    "command": "embryograde train W/stage2.safetensors --stage 2 --init W/base.safetensors",
    "train_seconds": 822.0,
    "metrics": {"validation": {"mae_pct": 2.6}},
}
TEST = {"dice_fragment": 0.743, "mae_pct": 2.28, "grade_accuracy": 0.917, "n_frames": 120, "unrelated": 1}
PREVIOUS = {"version": "bundled-r18-87b6d86d", "sha256": "87b6d86d", "metrics": {"held_out": OLD}}


def test_metadata_of_a_fresh_stage1_then_stage2():
    stage1 = {
        "command": "embryograde train W/stage1.safetensors --stage 1",
        "train_seconds": 1740.0,
        "metrics": {"validation": {"dice_fragment": 0.756}},
        "history": [{"epoch": 1}],
    }
    meta = publish_bundled.bundled_metadata([STAGE2, stage1], TEST, {"dice_fragment": 0.739}, PREVIOUS, 90210, 45)
    assert meta["version"] == "bundled-r18-239ea594" and "sha256" not in meta
    assert meta["commands"] == ["bash scripts/train_bundled.sh", stage1["command"], STAGE2["command"]]
    assert meta["total_training_minutes"] == round((1740 + 822) / 60, 1)
    assert meta["metrics"]["held_out"]["test_seed"] == 90210 and "unrelated" not in meta["metrics"]["held_out"]
    assert meta["metrics"]["held_out_stage1"]["dice_fragment"] == 0.739
    assert meta["metrics"]["stage1_validation"] == {"dice_fragment": 0.756}
    assert meta["stage1_history"] == [{"epoch": 1}]
    assert meta["parent"] == {"version": "bundled-r18-87b6d86d", "sha256": "87b6d86d", "held_out": OLD}
    assert "sha256" in STAGE2 and "held_out" not in STAGE2["metrics"]  # the input sidecar is left as it was


def test_metadata_of_stage2_over_an_earlier_bundled_model_continues_its_chain():
    earlier = {
        "version": "bundled-r18-87b6d86d",
        "commands": ["bash scripts/train_bundled.sh", "stage 1 command", "stage 2 command"],
        "total_training_minutes": 43.0,
        "metrics": {"stage1_validation": {"dice_fragment": 0.7565}, "held_out_stage1": {"dice_fragment": 0.739}},
        "stage1_history": [{"epoch": 30}],
    }
    # the evaluation of the starting network is the earlier model's, not a stage-1 figure: it must not be kept
    meta = publish_bundled.bundled_metadata([STAGE2, earlier], TEST, {"dice_fragment": 0.741}, PREVIOUS, 90210, 15)
    assert meta["commands"] == [
        *earlier["commands"],
        "STAGE2_INIT=<bundled-r18-87b6d86d> bash scripts/train_bundled.sh",
        STAGE2["command"],
    ]
    assert meta["total_training_minutes"] == round(43.0 + 822 / 60, 1)
    assert meta["metrics"]["held_out_stage1"] == {"dice_fragment": 0.739}
    assert meta["metrics"]["stage1_validation"] == {"dice_fragment": 0.7565}
    assert meta["stage1_history"] == [{"epoch": 30}]


def test_metadata_of_stage2_then_refine_over_a_stage1_file(tmp_path):
    """The refine stage's file is published: the chain is walked back through stage 2 to the stage-1 file."""
    import json

    stage1 = {
        "stage": "1",
        "command": "embryograde train W/stage1.safetensors --stage 1",
        "train_seconds": 2082.0,
        "metrics": {"validation": {"dice_fragment": 0.7565}},
        "history": [{"epoch": 30}],
        "parent": None,
    }
    (tmp_path / "base.json").write_text(json.dumps(stage1))
    (tmp_path / "base.safetensors").write_bytes(b"")
    stage2 = dict(STAGE2, parent={"path": str(tmp_path / "base.safetensors")})
    (tmp_path / "stage2.json").write_text(json.dumps(stage2))
    (tmp_path / "stage2.safetensors").write_bytes(b"")
    refined = {
        "sha256": "abcdef12" + "0" * 56,
        "stage": "refine",
        "command": "embryograde train W/refined.safetensors --stage refine --init W/stage2.safetensors",
        "train_seconds": 480.0,
        "metrics": {"validation": {"dice_fragment": 0.79}},
        "parent": {"path": str(tmp_path / "stage2.safetensors")},
    }
    chain = publish_bundled.training_chain(refined)
    assert [m.get("stage") for m in chain] == ["refine", "2", "1"]
    meta = publish_bundled.bundled_metadata(chain, TEST, None, PREVIOUS, 90210, 58)
    assert meta["commands"] == [
        "bash scripts/train_bundled.sh",
        stage1["command"],
        STAGE2["command"],
        refined["command"],
    ]
    assert meta["total_training_minutes"] == round((2082 + 822 + 480) / 60, 1)
    assert meta["metrics"]["validation"] == {"dice_fragment": 0.79}
    assert meta["metrics"]["stage2_validation"] == {"mae_pct": 2.6}
    assert meta["metrics"]["stage1_validation"] == {"dice_fragment": 0.7565}
    assert meta["version"] == "bundled-r18-abcdef12"


def test_metadata_of_the_refine_stage_alone_over_an_earlier_bundled_model():
    earlier = {
        "version": "bundled-r18-239ea594",
        "commands": ["bash scripts/train_bundled.sh", "stage 1 command", "stage 2 command"],
        "total_training_minutes": 56.7,
        "metrics": {"stage1_validation": {"dice_fragment": 0.7565}},
    }
    refined = {
        "sha256": "0123abcd" + "0" * 56,
        "stage": "refine",
        "command": "embryograde train W/refined.safetensors --stage refine --init W/stage2.safetensors",
        "train_seconds": 180.0,
    }
    meta = publish_bundled.bundled_metadata([refined, earlier], TEST, None, PREVIOUS, 90210, 5)
    assert meta["commands"][-2:] == [
        "REFINE_INIT=<bundled-r18-239ea594> bash scripts/train_bundled.sh",
        refined["command"],
    ]
    assert meta["total_training_minutes"] == 59.7
    assert publish_bundled.within_budget(meta)
    longer = dict(refined, train_seconds=400.0)  # 56.7 + 6.7 min: over the 60-minute budget
    assert not publish_bundled.within_budget(
        publish_bundled.bundled_metadata([longer, earlier], TEST, None, PREVIOUS, 90210, 8)
    )
