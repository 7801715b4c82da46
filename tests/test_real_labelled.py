"""The canonical view and the bundled model on the real labelled frames (skipped without ../shared)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.make_real_overlays import REAL
from bench.real_eval import REAL_LABELLED

pytestmark = pytest.mark.skipif(
    not (REAL_LABELLED / "labels.csv").exists(), reason="real labelled frames live in ../shared (absent)"
)


@pytest.fixture(scope="module")
def real_samples():
    from embryograde_app.core.training.samples import samples_from_layout

    return samples_from_layout(REAL_LABELLED)


def test_the_view_holds_every_labelled_embryo_whole(real_samples):
    """The detector's square contains every blastomere and fragment pixel the person drew, on every frame."""
    from embryograde_app.core.io.layout import read_mask
    from models.network.canonical import canonical_view
    from models.network.inputs import read_grey_uint8

    for s in real_samples:
        image, mask = read_grey_uint8(s.image_path), read_mask(s.mask_path)
        view = canonical_view(image, 1.4)
        assert not view.is_whole, s.image_path
        ys, xs = np.nonzero(mask)
        assert view.x0 <= xs.min() and xs.max() < view.x0 + view.width, s.image_path
        assert view.y0 <= ys.min() and ys.max() < view.y0 + view.height, s.image_path
        assert view.width < 0.8 * image.shape[1]  # the embryo, not the dish


@pytest.mark.skipif(not REAL.is_dir(), reason="real sequences live in ../shared (absent)")
def test_the_view_finds_the_embryo_in_embryoscope_wells():
    from embryograde_app.core.io.frames import open_frames
    from models.network.canonical import canonical_view

    for folder in sorted(p for p in REAL.iterdir() if p.is_dir()):
        seq = open_frames(folder)
        for index in range(0, len(seq), max(1, len(seq) // 6)):
            image = seq.read_uint8(index)
            view = canonical_view(image, 1.4)
            h, w = image.shape
            cx, cy = view.x0 + view.width / 2, view.y0 + view.height / 2
            # the embryo sits in the well's middle third, and the square is a fraction of the frame
            assert w / 4 < cx < 3 * w / 4 and h / 4 < cy < 3 * h / 4, (folder.name, index, view)
            assert 0.25 * w < view.width < 0.8 * w, (folder.name, index, view)
