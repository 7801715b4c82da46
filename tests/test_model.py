"""AttnRegDeepLab: shapes, value ranges, parameter prefixes, ablation switches."""

from __future__ import annotations

import pytest
import torch

from models import AttnRegDeepLab, ModelConfig
from models.network.attnregdeeplab import PARAM_PREFIXES, count_parameters


@pytest.fixture(scope="module")
def model(tiny_model_config):
    torch.manual_seed(0)
    return AttnRegDeepLab(tiny_model_config).eval()


def test_forward_shapes_and_ranges(model):
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        out = model(x)
    assert out.seg_logits.shape == (2, 3, 64, 64)
    assert out.fraction.shape == (2,)
    assert bool(((out.fraction >= 0) & (out.fraction <= 1)).all())
    assert len(out.attention) == 1
    assert out.attention[0].shape == (2, 1, 64, 64)
    assert float(out.attention[0].min()) >= 0 and float(out.attention[0].max()) <= 1
    assert out.embedding.shape == (2, model.cfg.embedding_dim)


def test_non_square_and_odd_sizes_come_back_at_input_size(model):
    with torch.no_grad():
        out = model(torch.randn(1, 1, 72, 88))
    assert out.seg_logits.shape[-2:] == (72, 88)
    assert out.attention[0].shape[-2:] == (72, 88)


def test_every_parameter_has_a_stage_prefix(model):
    names = [n for n, _ in model.named_parameters()]
    assert all(n.startswith(PARAM_PREFIXES) for n in names)
    for prefix in PARAM_PREFIXES:
        assert any(n.startswith(prefix) for n in names), prefix


def test_output_stride_is_16(model):
    feats = model.encoder(torch.randn(1, 1, 64, 64))
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 4]  # stem (stride 2), then strides 4, 8, 16, 16


def test_stride_2_stage_predicts_at_twice_the_detail(tiny_model_config):
    from dataclasses import replace

    torch.manual_seed(0)
    cfg = replace(tiny_model_config, skip_strides=(2, 4), fine_channels=8, fine_skip_channels=4)
    fine = AttnRegDeepLab(cfg).eval()
    assert fine.decoder.out_stride == 2 and fine.upscale == 2
    assert fine.seg_head.out_channels == 3 * 2 * 2  # a 2x2 sub-pixel block per stride-2 cell
    with torch.no_grad():
        dec, pooled, alphas = fine.frozen_features(torch.randn(2, 1, 64, 64))
        out = fine(torch.randn(2, 1, 72, 88))
    assert dec.shape == (2, 8, 32, 32) and pooled.shape == (2, fine.pooled_channels)
    assert [a.shape[-1] for a in alphas] == [16, 32]  # coarse to fine
    assert out.seg_logits.shape == (2, 3, 72, 88)
    assert len(out.attention) == 2 and all(a.shape[-2:] == (72, 88) for a in out.attention)
    assert all(float(a.min()) >= 0 and float(a.max()) <= 1 for a in out.attention)
    # Changing one input pixel moves the logits there: the stem's stride-2 map reaches the classifier.
    x = torch.zeros(1, 1, 64, 64)
    y = x.clone()
    y[0, 0, 40, 21] = 5.0
    with torch.no_grad():
        diff = (fine(y).seg_logits - fine(x).seg_logits).abs().sum(1)[0]
    assert diff.argmax() // 64 in range(38, 43) and diff.argmax() % 64 in range(19, 24)


def test_stride_4_only_models_keep_the_older_parameter_names(model):
    """Weight files written before the stride-2 stage existed must still load."""
    names = set(model.state_dict())
    assert not any(".reduce." in n for n in names)
    assert {"encoder.stem.0.weight", "decoder.projections.0.0.weight", "decoder.fuse.0.0.0.weight"} <= names


def test_unknown_skip_stride_is_a_clear_error(tiny_model_config):
    from dataclasses import replace

    with pytest.raises(ValueError, match="skip strides"):
        AttnRegDeepLab(replace(tiny_model_config, skip_strides=(4, 16)))


def test_ablation_switches(tiny_model_config):
    from dataclasses import replace

    plain = AttnRegDeepLab(replace(tiny_model_config, attention_gates=False, regression_head=False)).eval()
    with torch.no_grad():
        out = plain(torch.randn(1, 1, 64, 64))
    assert out.attention == []
    assert plain.reg_head is None and plain.injection is None
    assert not any(n.startswith(("reg_head.", "injection.")) for n, _ in plain.named_parameters())
    no_inj = AttnRegDeepLab(replace(tiny_model_config, feature_injection=False))
    assert no_inj.injection is None and no_inj.reg_head is not None
    assert count_parameters(plain) < count_parameters(no_inj)


def test_injection_changes_segmentation_once_trained(model):
    """FiLM starts as identity; a non-zero injection makes the embedding reach the masks."""
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        before = model(x).seg_logits.clone()
        model.injection.film.bias.fill_(0.5)
        after = model(x).seg_logits
        model.injection.film.bias.zero_()
    assert not torch.allclose(before, after)


def test_unknown_encoder_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown encoder"):
        AttnRegDeepLab(ModelConfig(encoder="vgg11"))


def test_config_round_trip(tiny_model_config):
    assert ModelConfig.from_dict(tiny_model_config.to_dict()) == tiny_model_config


def test_argmax3_matches_torch_argmax_including_ties():
    from models.network.attnregdeeplab import argmax3

    logits = torch.randn(3, 40, 50)
    logits[1, :5] = logits[0, :5]  # ties resolve to the lower class, like argmax
    logits[2, 5:10] = torch.maximum(logits[0, 5:10], logits[1, 5:10])
    assert torch.equal(argmax3(logits), logits.argmax(0).to(torch.uint8))
    batch = torch.stack([logits, torch.randn(3, 40, 50)])  # (N, 3, H, W), as validation counts it
    assert torch.equal(argmax3(batch), batch.argmax(1).to(torch.uint8))


def test_area_input_feeds_the_seg_heads_own_area_estimate(tiny_model_config):
    from dataclasses import replace

    from models.network.attnregdeeplab import AREA_FEATURES, AREA_SCALE, area_features

    torch.manual_seed(0)
    plain = AttnRegDeepLab(tiny_model_config).eval()
    model = AttnRegDeepLab(replace(tiny_model_config, area_input=True)).eval()
    assert model.pooled_channels == plain.pooled_channels + AREA_FEATURES
    assert "seg_head." in model.frozen_prefixes and "seg_head." not in plain.frozen_prefixes
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        dec, pooled, _ = model.frozen_features(x)
        out = model(x)  # injection is identity at init, so the area features describe these very masks
    area = pooled[:, -AREA_FEATURES:] / AREA_SCALE
    assert torch.allclose(area, area_features(out.seg_logits), atol=1e-5)
    hard = area[:, 4:7]
    mask = out.seg_logits.argmax(1)
    for c in range(3):
        assert torch.allclose(hard[:, c], (mask == c).float().mean((1, 2)))
    share = (mask == 2).sum((1, 2)).float() / ((mask > 0).sum((1, 2)).float().clamp_min(1))
    assert torch.allclose(area[:, 7], share, atol=1e-5)
    assert out.fraction.shape == (2,)
    assert not ModelConfig().area_input  # the default keeps older weight files loadable


def test_boundary_refiner_starts_as_identity_and_keeps_the_seg_head_names(tiny_model_config):
    """An untrained refiner leaves the logits exactly as the decoder drew them; old weights files still load
    (the classifier keeps seg_head.weight/.bias, the refiner adds seg_head.refine.*)."""
    from dataclasses import replace

    torch.manual_seed(0)
    plain = AttnRegDeepLab(tiny_model_config).eval()
    refined = AttnRegDeepLab(replace(tiny_model_config, refine_width=8, refine_dilations=(1, 2))).eval()
    names = set(refined.state_dict())
    assert set(plain.state_dict()) <= names
    assert {n for n in names - set(plain.state_dict())} == {n for n in names if n.startswith("seg_head.refine.")}
    refined.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(plain(x).seg_logits, refined(x).seg_logits)
        torch.nn.init.normal_(refined.seg_head.refine.out.weight, std=0.1)
        assert not torch.equal(plain(x).seg_logits, refined(x).seg_logits)


@pytest.mark.parametrize("size", [(64, 64), (63, 50)])
def test_boundary_refiner_keeps_any_frame_size(tiny_model_config, size):
    from dataclasses import replace

    model = AttnRegDeepLab(replace(tiny_model_config, refine_width=8)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, *size))
    assert out.seg_logits.shape == (1, 3, *size)


def test_refiner_config_round_trip(tiny_model_config):
    from dataclasses import replace

    cfg = replace(tiny_model_config, refine_width=12, refine_dilations=(1, 3))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_channels_last_runs_frozen_passes_in_nhwc_and_gives_the_weights_back_unchanged(tiny_model_config):
    from models.inference.device import channels_last

    model = AttnRegDeepLab(tiny_model_config).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        reference = model.frozen_features(x)[0]
        with channels_last(model, torch.device("cpu")):
            assert model.encoder.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
            nhwc = model.frozen_features(x)[0]
    assert torch.allclose(nhwc, reference, atol=1e-4)
    for name, tensor in model.state_dict().items():  # safetensors stores contiguous tensors only
        assert tensor.is_contiguous() and torch.equal(tensor, before[name]), name
