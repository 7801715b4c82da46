"""safetensors + sidecar: round trip, fp16 storage, tampering and truncation caught, nothing unpickled."""

from __future__ import annotations

import json

import pytest
import torch

from models import AttnRegDeepLab
from models.inference.weights import WeightsError, load_model, save_model


@pytest.fixture
def model(tiny_model_config):
    torch.manual_seed(1)
    return AttnRegDeepLab(tiny_model_config).eval()


def test_round_trip_fp32_is_exact(model, tmp_path):
    path = tmp_path / "m.safetensors"
    meta = save_model(path, model, {"version": "v1"}, fp16=False)
    loaded, meta2 = load_model(path)
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.equal(a.seg_logits, b.seg_logits) and torch.equal(a.fraction, b.fraction)
    assert meta2["version"] == "v1" and meta2["sha256"] == meta["sha256"]
    assert meta2["classes"] == ["background", "blastomere", "fragment"]
    assert set(meta2["normalisation"]) == {"mean", "std", "scale"}


def test_fp16_storage_is_close_and_half_the_size(model, tmp_path):
    save_model(tmp_path / "a.safetensors", model, fp16=False)
    save_model(tmp_path / "b.safetensors", model, fp16=True)
    assert (tmp_path / "b.safetensors").stat().st_size < 0.6 * (tmp_path / "a.safetensors").stat().st_size
    loaded, _ = load_model(tmp_path / "b.safetensors")
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x).fraction, loaded(x).fraction, atol=2e-2)


def test_truncated_or_tampered_file_is_refused(model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, model)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="sha256 does not match"):
        load_model(path)
    with pytest.raises(WeightsError, match="not a valid safetensors"):
        load_model(path, verify=False)


def test_missing_sidecar_or_wrong_architecture(model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, model)
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    meta["config"]["decoder_channels"] = 32
    side.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="has shape"):
        load_model(path)
    side.unlink()
    with pytest.raises(WeightsError, match="sidecar JSON is missing"):
        load_model(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda meta: [1, 2, 3], "must be a JSON object, not list"),
        (lambda meta: {**meta, "config": "oops"}, "config must be a JSON object"),
        (lambda meta: {**meta, "config": {**meta["config"], "input_size": "big"}}, "'input_size' must be like"),
        (lambda meta: {**meta, "config": {**meta["config"], "attention_gates": 1}}, "'attention_gates' must be like"),
        (lambda meta: {**meta, "config": {**meta["config"], "skip_strides": [4.5]}}, "'skip_strides' must be like"),
        (lambda meta: {**meta, "config": {**meta["config"], "encoder": "resnet999"}}, "unknown encoder 'resnet999'"),
    ],
)
def test_an_edited_sidecar_is_refused_naming_it(model, tmp_path, edit, message):
    path = tmp_path / "m.safetensors"
    save_model(path, model)
    side = path.with_suffix(".json")
    side.write_text(json.dumps(edit(json.loads(side.read_text()))))
    with pytest.raises(WeightsError, match=message) as caught:
        load_model(path, verify=False)
    assert str(caught.value).startswith(str(side))


def test_config_keeps_whole_floats_and_ignores_unknown_keys(tiny_model_config):
    from models.network.attnregdeeplab import ModelConfig

    d = {**tiny_model_config.to_dict(), "input_size": 64.0, "from_the_future": True}
    assert ModelConfig.from_dict(d) == tiny_model_config


def test_pickle_file_is_not_loaded(tmp_path):
    path = tmp_path / "evil.safetensors"
    torch.save({"x": torch.zeros(1)}, path)  # a pickle in disguise
    path.with_suffix(".json").write_text(json.dumps({"config": {}}))
    with pytest.raises(WeightsError, match="not a valid safetensors"):
        load_model(path)


def test_a_sidecar_without_its_config_is_refused(model, tmp_path):
    """Without the config the default network would be built silently (issue: an edited sidecar)."""
    path = tmp_path / "m.safetensors"
    save_model(path, model)
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    del meta["config"]
    side.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="no 'config' block") as caught:
        load_model(path)
    assert str(caught.value).startswith(str(side))


def test_tensors_the_network_does_not_use_are_refused(model, tmp_path):
    """Weights saved from a bigger network (a refiner, say) under a config without it."""
    from safetensors.torch import save_file

    from models.inference.weights import sha256_of

    path = tmp_path / "m.safetensors"
    save_model(path, model)
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    tensors["seg_head.refine.0.weight"] = torch.zeros(4, 4)
    save_file(tensors, str(path))
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    meta["sha256"] = sha256_of(path)  # the sha256 is right: only the config is wrong
    side.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="does not use, e.g. seg_head.refine.0.weight"):
        load_model(path)
