"""AttnRegDeepLab: shapes, value ranges, parameter prefixes, ablation switches."""

from __future__ import annotations

import pytest
import torch

from models import AttnRegDeepLab, ModelConfig
from models.attnregdeeplab import PARAM_PREFIXES, count_parameters


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
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 4]


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
    from models.predictor import argmax3

    logits = torch.randn(3, 40, 50)
    logits[1, :5] = logits[0, :5]  # ties resolve to the lower class, like argmax
    logits[2, 5:10] = torch.maximum(logits[0, 5:10], logits[1, 5:10])
    assert torch.equal(argmax3(logits), logits.argmax(0).to(torch.uint8))


def test_area_input_feeds_the_seg_heads_own_area_estimate(tiny_model_config):
    from dataclasses import replace

    from models.attnregdeeplab import AREA_FEATURES, AREA_SCALE, area_features

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
