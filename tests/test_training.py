"""Two-stage training on tiny synthetic data: loss goes down, stage 2 freezes, resume, determinism."""

from __future__ import annotations

import re

import pytest
import torch

from embryograde_app.core.training.samples import samples_from_layout
from models.inference.weights import load_model, save_model
from models.training.loop import TrainConfig, TrainingCancelled, TrainingError, train


def _cfg(model_cfg, **kw) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 4, "device": "cpu", "model": model_cfg, "val_fraction": 0.34, "seed": 3}
    base.update(kw)
    return TrainConfig(**base)


def _stage2(weights, **kw) -> TrainConfig:
    """Stage 2 over given stage-1 weights: their file fixes the architecture."""
    return TrainConfig(**{"stage": "2", "batch_size": 4, "device": "cpu", "init_weights": str(weights), **kw})


@pytest.fixture(scope="module")
def stage1_weights(tiny_dataset, tiny_model_config, tmp_path_factory):
    result = train(_cfg(tiny_model_config, stage="1", epochs=2), samples_from_layout(tiny_dataset))
    path = tmp_path_factory.mktemp("w") / "stage1.safetensors"
    save_model(path, result.model, {"version": "stage1-test"}, fp16=False)
    return path


def test_a_few_steps_lower_the_training_loss(tiny_dataset, tiny_model_config):
    samples = samples_from_layout(tiny_dataset)
    losses = []
    train(
        _cfg(tiny_model_config, stage="1", epochs=4, lr=3e-3, val_fraction=0.0),
        samples,
        progress=lambda p: losses.append(p.train_loss) if p.step == 1 else None,
    )
    first_steps = [p for p in losses[:2]]
    assert min(losses[-2:]) < max(first_steps)


def test_stage2_leaves_frozen_tensors_bit_identical(tiny_weak_dataset, stage1_weights):
    before, _ = load_model(stage1_weights)
    result = train(
        _stage2(stage1_weights, epochs=3, seed=1, stage2_views=2),
        samples_from_layout(tiny_weak_dataset),
    )
    after = result.model.state_dict()
    frozen = [k for k in after if k.startswith(("encoder.", "aspp.", "decoder."))]
    assert frozen
    for key in frozen:  # weights and BatchNorm buffers alike
        assert torch.equal(before.state_dict()[key], after[key]), key
    changed = [k for k in after if k.startswith("reg_head.") and not torch.equal(before.state_dict()[k], after[k])]
    assert changed, "stage 2 trained nothing"


def test_stage2_uses_range_labels(tiny_weak_dataset, stage1_weights):
    samples = samples_from_layout(tiny_weak_dataset)
    ranged = [s for s in samples if s.has_label and s.lo_pct != s.hi_pct]
    assert ranged and all(s.mask_path is None for s in ranged)
    result = train(
        _stage2(stage1_weights, epochs=2, stage2_views=1, val_fraction=0.0),
        ranged,  # range labels alone are enough to train the grading head
    )
    assert result.data_summary["train"]["range_labels"] == len(ranged)


def test_stage2_without_labels_is_a_clear_error(tiny_dataset, stage1_weights):
    samples = [s.__class__(s.image_path, s.embryo_id, s.frame) for s in samples_from_layout(tiny_dataset)]
    with pytest.raises(TrainingError, match="at least 2 labelled frames"):
        train(_stage2(stage1_weights), samples)


def test_same_seed_same_weights(tiny_dataset, tiny_model_config):
    samples = samples_from_layout(tiny_dataset)
    a = train(_cfg(tiny_model_config, stage="e2e", epochs=1), samples).model.state_dict()
    b = train(_cfg(tiny_model_config, stage="e2e", epochs=1), samples).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cancel_raises_and_resume_continues(tiny_dataset, tiny_model_config, tmp_path):
    samples = samples_from_layout(tiny_dataset)
    prefix = str(tmp_path / "run")
    epochs_seen = []

    def stop_after_first_epoch() -> bool:
        return len(epochs_seen) >= 1

    def progress(p) -> None:
        if p.val_loss is not None:
            epochs_seen.append(p.epoch)

    with pytest.raises(TrainingCancelled):
        train(
            _cfg(tiny_model_config, stage="1", epochs=3, checkpoint=prefix),
            samples,
            progress=progress,
            should_stop=stop_after_first_epoch,
        )
    assert (tmp_path / "run.ckpt.safetensors").exists()
    resumed = train(_cfg(tiny_model_config, stage="1", epochs=3, checkpoint=prefix), samples)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert not (tmp_path / "run.ckpt.safetensors").exists()  # removed once the run completes


def test_nan_loss_is_reported(tiny_dataset, tiny_model_config, monkeypatch):
    import models.training.loop as training

    monkeypatch.setattr(training, "segmentation_loss", lambda logits, *_: logits.sum() * float("nan"))
    with pytest.raises(TrainingError, match="loss became nan"):
        train(_cfg(tiny_model_config, stage="1", epochs=1), samples_from_layout(tiny_dataset))


def test_device_selection():
    from models.inference.device import select_device

    assert select_device("auto").type in {"cpu", "cuda", "mps"}
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            select_device("cuda")


def test_stage2_area_input_over_plain_stage1_weights(tiny_weak_dataset, stage1_weights):
    """init_overrides widens the regression head's input; the seg head joins the frozen half."""
    from models.network.attnregdeeplab import AREA_FEATURES

    before, _ = load_model(stage1_weights)
    result = train(
        _stage2(stage1_weights, epochs=2, init_overrides={"area_input": True}, seed=1, stage2_views=1),
        samples_from_layout(tiny_weak_dataset),
    )
    model = result.model
    assert model.cfg.area_input
    assert model.reg_head.mlp[0].in_features == before.pooled_channels + AREA_FEATURES
    after = model.state_dict()
    for key, value in before.state_dict().items():
        if key.startswith(("encoder.", "aspp.", "decoder.", "seg_head.")):
            assert torch.equal(value, after[key]), key


def test_init_overrides_that_touch_frozen_tensors_are_refused(tiny_weak_dataset, stage1_weights):
    cfg = _stage2(stage1_weights, init_overrides={"skip_strides": (4, 8)})
    with pytest.raises(TrainingError, match="keeps frozen"):
        train(cfg, samples_from_layout(tiny_weak_dataset))


def test_stage1_validation_loss_ignores_the_untrained_regression_head(tiny_dataset, stage1_weights):
    """Stage 1 picks its best epoch by the segmentation loss alone; e2e also counts the regression."""
    from models.training.data import SegRegDataset
    from models.training.loop import _evaluate_images

    model, _ = load_model(stage1_weights)
    loader = torch.utils.data.DataLoader(SegRegDataset(samples_from_layout(tiny_dataset), 64), batch_size=4)
    seg_only, metrics = _evaluate_images(model, loader, torch.device("cpu"), use_reg=False)
    with torch.no_grad():
        model.reg_head.out.bias.fill_(-5.0)  # the head now says ~0 % everywhere: a different regression error
    assert _evaluate_images(model, loader, torch.device("cpu"), use_reg=False)[0] == pytest.approx(seg_only)
    with_reg, metrics_after = _evaluate_images(model, loader, torch.device("cpu"), use_reg=True)
    assert with_reg > seg_only and metrics_after["mae_pct"] != metrics["mae_pct"]


def test_refine_stage_trains_only_the_refiner_and_improves_its_validation_loss(tiny_dataset, stage1_weights):
    """--stage refine over a finished network: a fresh refiner is added, every other tensor stays bit-identical,
    and the refined validation loss ends below where the identity refiner started."""
    before, _ = load_model(stage1_weights)
    cfg = TrainConfig(
        stage="refine",
        init_weights=str(stage1_weights),
        init_overrides={"refine_width": 8},
        epochs=6,
        batch_size=4,
        lr=1e-2,
        crop=48,
        val_fraction=0.34,
        device="cpu",
        seed=2,
    )
    result = train(cfg, samples_from_layout(tiny_dataset))
    after = result.model.state_dict()
    for key, value in before.state_dict().items():
        assert torch.equal(value, after[key]), key
    refined = [k for k in after if k.startswith("seg_head.refine.") and k.endswith("weight")]
    assert refined and result.model.cfg.refine_width == 8
    history = result.history
    assert history[0]["dice_fragment_unrefined"] == history[-1]["dice_fragment_unrefined"]
    assert result.best_val < history[0]["val_loss"] or result.best_epoch == 1
    assert min(h["train_loss"] for h in history[1:]) < history[0]["train_loss"]


def test_stage2_leaves_the_refiner_alone(tiny_weak_dataset, tiny_model_config, tiny_dataset):
    from dataclasses import replace

    model_cfg = replace(tiny_model_config, refine_width=8)
    stage1 = train(_cfg(model_cfg, stage="1", epochs=1), samples_from_layout(tiny_dataset)).model
    refine_before = {k: v.clone() for k, v in stage1.state_dict().items() if k.startswith("seg_head.refine.")}
    assert refine_before
    from models.training.loop import set_trainable

    set_trainable(stage1, "2")
    assert not any(p.requires_grad for n, p in stage1.named_parameters() if n.startswith("seg_head.refine."))
    assert stage1.seg_head.weight.requires_grad


def test_refine_stage_without_a_refiner_is_a_clear_error(tiny_dataset, stage1_weights):
    cfg = TrainConfig(stage="refine", init_weights=str(stage1_weights), device="cpu", batch_size=4)
    with pytest.raises(TrainingError, match="no boundary refiner"):
        train(cfg, samples_from_layout(tiny_dataset))


def test_an_undecodable_training_frame_says_why(tmp_path):
    """train and evaluate stop on a bad frame: the message must say what is wrong with which file."""
    import cv2
    import numpy as np

    from models.network.inputs import read_grey_uint8

    good = cv2.imencode(".png", np.zeros((16, 16), np.uint8))[1].tobytes()
    cases = {"empty.png": (b"", "empty file"), "cut.png": (good[:40], "corrupt or truncated PNG (40 bytes)")}
    cases["text.png"] = (b"embryo_id,frame\n", "not an image file")
    for name, (data, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=rf"{name}: {re.escape(reason)}"):
            read_grey_uint8(tmp_path / name)
