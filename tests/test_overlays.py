"""Overlays: the fast uint32 lookup gives exactly the (N, 4) table lookup it replaces; display settings reach
the output; the heat table is built once and cannot be changed by a caller."""

from __future__ import annotations

import numpy as np
import pytest

from embryograde_app.core.view.overlays import (
    CLASS_COLOURS,
    apply_lut,
    attention_index,
    heat_lut,
    heat_rgba,
    mask_lut,
    mask_outline,
    mask_rgba,
)


@pytest.fixture
def mask():
    m = np.zeros((40, 50), np.uint8)
    m[5:20, 5:30] = 1
    m[10:15, 10:18] = 2
    m[25:35, 30:45] = 2
    return m


def test_apply_lut_matches_table_indexing():
    rng = np.random.default_rng(0)
    lut = rng.integers(0, 256, (256, 4), dtype=np.uint8)
    index = rng.integers(0, 256, (17, 23), dtype=np.uint8)
    out = apply_lut(lut, index)
    assert out.shape == (17, 23, 4) and out.dtype == np.uint8
    assert np.array_equal(out, lut[index])


def test_mask_fill_uses_class_colours_and_opacity(mask):
    rgba = mask_rgba(mask, 0.5)
    assert tuple(rgba[0, 0]) == (0, 0, 0, 0)
    assert tuple(rgba[6, 6]) == (*CLASS_COLOURS[1], 128)
    assert tuple(rgba[12, 12]) == (*CLASS_COLOURS[2], 128)
    assert np.array_equal(rgba, mask_lut(0.5)[mask])


def test_mask_settings_change_the_overlay(mask):
    """Opacity, colours and outline each give a different overlay of the same mask (nothing is stale)."""
    base = mask_rgba(mask, 0.45)
    assert not np.array_equal(mask_rgba(mask, 0.9), base)
    assert np.all(mask_rgba(mask, 0.9)[mask > 0, 3] == 230)
    recoloured = mask_rgba(mask, 0.45, colours={1: (1, 2, 3), 2: (4, 5, 6)})
    assert tuple(recoloured[6, 6, :3]) == (1, 2, 3) and tuple(recoloured[12, 12, :3]) == (4, 5, 6)
    outlined = mask_rgba(mask, 0.45, outline=True)
    assert outlined[mask > 0, 3].min() == 0 and np.count_nonzero(outlined[..., 3]) < np.count_nonzero(base[..., 3])


def test_outline_keeps_only_class_boundaries(mask):
    edges = mask_outline(mask)
    assert edges.dtype == mask.dtype
    assert edges[12, 12] == 0  # inside the fragment
    assert edges[10, 12] == 2 and edges[5, 6] == 1  # on its border, on the blastomere's border
    assert set(np.unique(edges)) <= {0, 1, 2}
    assert np.all((edges == 0) | (edges == mask))


def test_heat_lut_is_built_once_and_read_only():
    lut = heat_lut()
    assert lut is heat_lut() and lut.shape == (256, 4)
    with pytest.raises(ValueError):
        lut[0, 0] = 1
    assert lut[0, 3] < lut[-1, 3] and tuple(lut[-1]) == (255, 255, 255, 255)


def test_heat_rgba_of_floats_and_of_an_index():
    attention = np.linspace(-0.5, 1.5, 60, dtype=np.float32).reshape(6, 10)
    expected = heat_lut()[np.clip(attention * 255, 0, 255).astype(np.uint8)]
    assert np.array_equal(heat_rgba(attention), expected)
    assert np.array_equal(heat_rgba(attention_index(attention)), expected)


def test_frame_prediction_is_display_ready_and_shared_read_only():
    """Built on the worker thread: attention quantised once to the heat table's index, arrays frozen for the
    cache and the views that share them."""
    from embryograde_app.workers import FramePrediction

    attention = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    pred = FramePrediction("k", np.zeros((3, 4), np.uint8), attention, 10.0, 0.0, "v")
    assert pred.attention.dtype == np.uint8 and pred.attention[0, 0] == 0 and pred.attention[-1, -1] == 255
    assert np.array_equal(heat_rgba(pred.attention), heat_rgba(attention))
    with pytest.raises(ValueError):
        pred.mask[0, 0] = 1
    with pytest.raises(ValueError):
        pred.attention[0, 0] = 1


def test_embryo_box_frames_the_embryo_not_a_speck_in_the_well():
    from embryograde_app.core.view.overlays import embryo_box

    mask = np.zeros((500, 500), np.uint8)
    mask[200:300, 180:300] = 1  # cells, 120 x 100 px
    mask[305:310, 240:245] = 2  # a fragment just below: part of the embryo
    mask[5:8, 5:8] = 1  # a speck the model called near the well's edge
    x0, y0, x1, y1 = embryo_box(mask, margin=0.2)
    assert x1 - x0 == y1 - y0 == pytest.approx(120 * 1.4)  # square, the larger side plus 20 % each way
    assert (x0 + x1) / 2 == pytest.approx(240) and (y0 + y1) / 2 == pytest.approx(255)
    assert embryo_box(np.zeros((50, 50), np.uint8)) is None
    corner = np.zeros((100, 100), np.uint8)
    corner[0:30, 70:100] = 1  # an embryo at the edge: the box stays inside the frame
    x0, y0, x1, y1 = embryo_box(corner)
    assert x0 >= 0 and y0 == 0 and x1 == 100 and y1 <= 100
