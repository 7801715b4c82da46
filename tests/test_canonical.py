"""The embryo-centred canonical view: the detector, the crop and the paste back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from models.network.canonical import EmbryoView, canonical_view, locate_embryo


def _dish(size: int = 400, centre=(250, 170), radius: int = 60, seed: int = 0, light: bool = True) -> np.ndarray:
    """A smooth dish (rim crescent, burnt-in corner text) with one textured embryo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    base = 170.0 if light else 60.0
    img = np.full((size, size), base, np.float32)
    img += 40 * np.exp(-((np.hypot(xx - size / 2, yy - size / 2) - 0.45 * size) ** 2) / (2 * 8.0**2))  # rim
    inside = np.hypot(xx - centre[0], yy - centre[1]) < radius
    img[inside] += cv2.GaussianBlur(rng.normal(0, 25, (size, size)).astype(np.float32), (0, 0), 1.2)[inside]
    out = np.clip(img, 0, 255).astype(np.uint8)
    cv2.putText(out, "43.1 h", (size - 70, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1)
    return out


@pytest.mark.parametrize("light", [True, False])
def test_detector_finds_the_textured_embryo_not_the_rim_or_text(light):
    img = _dish(light=light)
    cx, cy, extent = locate_embryo(img)
    assert abs(cx - 250) < 12 and abs(cy - 170) < 12
    assert 90 < extent < 170  # the embryo is 120 px across


def test_flat_frame_falls_back_to_the_whole_frame():
    view = canonical_view(np.full((300, 200), 90, np.uint8), 1.4)
    assert view.is_whole and (view.width, view.height) == (200, 300)


def test_view_is_a_square_around_the_embryo_scaled_by_margin():
    img = _dish()
    view = canonical_view(img, 1.5)
    assert view.width == view.height
    assert view.x0 < 250 - 60 and view.x0 + view.width > 250 + 60
    assert view.y0 < 170 - 60 and view.y0 + view.height > 170 + 60


def _block_mask(rng: np.random.Generator, shape: tuple[int, int], block: int) -> np.ndarray:
    coarse = rng.integers(0, 3, (shape[0] // block + 1, shape[1] // block + 1), dtype=np.uint8)
    return np.kron(coarse, np.ones((block, block), np.uint8))[: shape[0], : shape[1]]


@pytest.mark.parametrize(
    "view",
    [
        EmbryoView((300, 300), 40, 60, 200, 200),  # inside the frame, canonical finer than the frame
        EmbryoView((300, 260), -30, 150, 180, 180),  # reaching past two edges
        EmbryoView((256, 256), 0, 0, 256, 256),  # the whole frame at the input size
    ],
)
def test_mask_round_trips_exactly_when_the_input_is_at_least_as_fine(view):
    mask = np.random.default_rng(1).integers(0, 3, view.frame_shape, dtype=np.uint8)
    back = view.mask_to_frame(view.mask_to_input(mask, 256))
    h, w = view.frame_shape
    ys, ye = max(0, view.y0), min(h, view.y0 + view.height)
    xs, xe = max(0, view.x0), min(w, view.x0 + view.width)
    assert np.array_equal(back[ys:ye, xs:xe], mask[ys:ye, xs:xe])
    outside = np.ones((h, w), bool)
    outside[ys:ye, xs:xe] = False
    assert not back[outside].any()  # outside the view: background


def test_mask_round_trips_exactly_at_an_integer_shrink():
    """An 800-px frame whose view is 512 px shown at 256: masks made of 2x2 blocks come back exactly."""
    view = EmbryoView((800, 800), 144, 100, 512, 512)
    mask = _block_mask(np.random.default_rng(2), (800, 800), 2)
    back = view.mask_to_frame(view.mask_to_input(mask, 256))
    assert np.array_equal(back[100:612, 144:656], mask[100:612, 144:656])


def test_logits_paste_back_with_background_outside():
    view = EmbryoView((120, 100), 10, 20, 64, 64)
    logits = torch.zeros(1, 3, 32, 32)
    logits[:, 1] = 5.0  # "blastomere" everywhere in the view
    frame = view.tensor_to_frame(logits, [0.0, -20.0, -20.0])
    assert frame.shape == (1, 3, 120, 100)
    cls = frame[0].argmax(0)
    assert (cls[20:84, 10:74] == 1).all()
    assert int((cls == 1).sum()) == 64 * 64


def test_jitter_stays_square_and_near():
    view = EmbryoView((400, 400), 100, 100, 200, 200)
    for seed in range(20):
        j = view.jittered(np.random.default_rng(seed))
        assert j.width == j.height
        assert 170 <= j.width <= 230
        assert abs(j.x0 + j.width / 2 - 200) <= 0.07 * 200 + 1


def test_predictor_reads_a_canonical_model_and_answers_at_frame_size():
    from models.inference.predictor import Predictor
    from models.network.attnregdeeplab import AttnRegDeepLab, ModelConfig

    cfg = ModelConfig(input_size=64, aspp_channels=8, decoder_channels=8, skip_channels=4, embedding_dim=8,
                      canonical_crop=True, input_norm="per_image")
    predictor = Predictor(AttnRegDeepLab(cfg), {}, "cpu")
    frame = _dish(300, centre=(180, 120), radius=45)
    pred = predictor.predict([frame])[0]
    assert pred.mask.shape == frame.shape and pred.attention.shape == frame.shape
    view = canonical_view(frame, cfg.crop_margin)
    outside = np.ones(frame.shape, bool)
    outside[max(0, view.y0) : view.y0 + view.height, max(0, view.x0) : view.x0 + view.width] = False
    assert not pred.mask[outside].any()


def test_model_config_round_trips_the_input_convention():
    from models.network.attnregdeeplab import ModelConfig

    cfg = ModelConfig(canonical_crop=True, crop_margin=1.6, input_norm="per_image")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict({"crop_margin": 2}).crop_margin == 2.0
    with pytest.raises(ValueError, match="input_norm"):
        ModelConfig.from_dict({"input_norm": "magic"})
