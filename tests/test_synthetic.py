"""Synthetic time-lapses: exact masks, labels that agree with them, determinism, balanced grades."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embryograde_app.core.domain.schemes import BLASTOMERE, FRAGMENT, frag_pct, get_scheme
from embryograde_app.core.io.layout import DatasetLayout, read_labels, read_mask
from embryograde_app.core.synth.generator import MAX_DRIFT, generate_dataset, render_embryo
from embryograde_app.core.synth.scene import plan_embryo

SIZE = 96


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth")
    calls: list[tuple[int, int]] = []
    summary = generate_dataset(root, embryos=9, frames=4, size=SIZE, seed=3, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (36, 36) and len(calls) == 36
    return root, summary


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_frames_are_grey_uint8_with_class_masks() -> None:
    for item in render_embryo(0, 2, size=64, seed=1):
        assert item.image.shape == item.mask.shape == (64, 64)
        assert item.image.dtype == item.mask.dtype == np.uint8
        assert set(np.unique(item.mask)) <= {0, 1, 2}
        assert item.embryo_id == "E000" and item.frag_pct == frag_pct(item.mask)


def test_labels_agree_with_written_masks(dataset: tuple[Path, dict]) -> None:
    root, summary = dataset
    rows = read_labels(root / "labels.csv")
    assert len(rows) == summary["frames"] == 36
    scheme = get_scheme("istanbul2011")
    times: dict[str, list[float]] = {}
    for row in rows:
        mask = read_mask(DatasetLayout(root).mask_path(row.embryo_id, row.frame))
        assert set(np.unique(mask)) <= {0, 1, 2}
        assert row.frag_pct is not None and abs(row.frag_pct - frag_pct(mask)) <= 0.05
        assert row.grade == scheme.grade(row.frag_pct) and not row.has_range
        times.setdefault(row.embryo_id, []).append(row.time_h)
    for series in times.values():  # one frame about every 15 minutes
        assert np.allclose(np.diff(series), 0.25)


def test_every_grade_is_well_represented(dataset: tuple[Path, dict]) -> None:
    _, summary = dataset
    counts = summary["grade_counts"]
    assert set(counts) == {"1", "2", "3"} and all(n >= 8 for n in counts.values()), counts
    assert summary["frag_pct_min"] < 5 and summary["frag_pct_max"] > 40


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    kwargs = dict(embryos=3, frames=2, size=64, range_label_fraction=0.3)
    generate_dataset(tmp_path / "a", seed=5, **kwargs)
    generate_dataset(tmp_path / "b", seed=5, **kwargs)
    generate_dataset(tmp_path / "c", seed=6, **kwargs)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    frames = [name for name in a if name.startswith("frames")]
    assert all(a[name] != c.get(name) for name in frames)


def test_an_embryo_does_not_depend_on_how_much_is_generated() -> None:
    short = list(render_embryo(4, 2, size=64, seed=2))
    long = list(render_embryo(4, 5, size=64, seed=2))
    for x, y in zip(short, long, strict=False):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask)


def test_range_labels_have_no_mask_and_contain_the_true_pct(tmp_path: Path) -> None:
    summary = generate_dataset(tmp_path, embryos=6, frames=3, size=64, seed=1, range_label_fraction=0.4)
    truth = {(f.embryo_id, f.frame): f.frag_pct for i in range(6) for f in render_embryo(i, 3, size=64, seed=1)}
    rows = read_labels(tmp_path / "labels.csv")
    ranged = [r for r in rows if r.has_range]
    assert len(ranged) == round(0.4 * summary["frames"])
    scheme = get_scheme("istanbul2011")
    layout = DatasetLayout(tmp_path)
    for row in rows:
        has_mask = layout.mask_path(row.embryo_id, row.frame).exists()
        assert has_mask != row.has_range
        pct = truth[(row.embryo_id, row.frame)]
        assert row.grade == scheme.grade(pct)
        if row.has_range:
            assert row.frag_pct is None and (row.range_lo, row.range_hi) in {(b.lo, b.hi) for b in scheme.bins}
            assert row.range_lo <= pct <= row.range_hi


def test_debris_and_fragments_respect_the_zona() -> None:
    """Debris lies outside the zona and stays class 0; every cell and fragment pixel is inside the zona."""
    size = 128
    debris_seen = 0
    for index in range(6):
        plan = plan_embryo(index, size, seed=0)
        slack = MAX_DRIFT * size * 1.5 + 1.0
        yy, xx = np.mgrid[0:size, 0:size]
        for item in render_embryo(index, 3, size=size, seed=0):
            dist = np.hypot(xx - plan.centre[0], yy - plan.centre[1])
            assert dist[item.mask > 0].max(initial=0) <= plan.zona_inner * 1.02 + slack
            for x, y, r in plan.debris:
                near = np.hypot(xx - x, yy - y) <= r + slack
                assert not item.mask[near].any()
                debris_seen += 1
    assert debris_seen > 0


def test_poor_embryos_have_fragments_good_ones_few() -> None:
    for index, (lo, hi) in ((0, (0.0, 10.0)), (1, (10.0, 25.0)), (2, (25.0, 100.0))):
        for item in render_embryo(index, 2, size=128, seed=4):
            assert lo <= item.frag_pct <= hi
            assert np.count_nonzero(item.mask == BLASTOMERE) > 0
    poor = next(render_embryo(2, 1, size=128, seed=4))
    assert np.count_nonzero(poor.mask == FRAGMENT) > 50


def test_image_statistics_look_like_embryoscope_frames() -> None:
    """Dark bottom corners, a bright well with a brighter crescent, mid-grey overall (real: mean 37-55)."""
    for index in range(3):
        plan = plan_embryo(index, 128, seed=0)
        image = next(render_embryo(index, 1, size=128, seed=0)).image.astype(float)
        assert 25 < image.mean() < 90
        assert image[-12:, :12].mean() < 30 and image[-12:, -12:].mean() < 30
        wx, wy = plan.well_centre
        ring_r = (plan.zona_outer + plan.well_radius * 0.85) / 2
        yy, xx = np.mgrid[0:128, 0:128]
        well = np.abs(np.hypot(xx - wx, yy - wy) - ring_r) < 3
        assert image[well].mean() > 45
        rim = np.abs(np.hypot(xx - wx, yy - wy) - plan.well_radius * 0.97) < 3
        assert np.percentile(image[rim], 95) > 130
