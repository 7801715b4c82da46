"""Stored masks are read through a per-embryo LRU: a frame switch decodes nothing twice, and a new mask
(a file rewritten, a new revision in a project) is seen after `invalidate_mask`."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from embryograde_app.core.io.layout import DatasetLayout
from embryograde_app.core.project.collection import open_collection
from embryograde_app.core.project.store import ProjectStore


@pytest.fixture
def layout_dataset(tmp_path):
    from embryograde_app.core.synth.generator import generate_dataset

    generate_dataset(tmp_path / "ds", embryos=1, frames=2, size=32, seed=3)
    return tmp_path / "ds"


def _count_reads(entry, monkeypatch) -> list[int]:
    calls: list[int] = []
    read = entry._read_mask
    monkeypatch.setattr(entry, "_read_mask", lambda index: calls.append(index) or read(index))
    return calls


def test_layout_masks_are_cached_read_only_and_invalidated(layout_dataset, monkeypatch):
    entry = open_collection(layout_dataset).embryos[0]
    reads = _count_reads(entry, monkeypatch)
    first = entry.mask(0)
    assert first is not None and entry.mask(0) is first and reads == [0]
    with pytest.raises(ValueError):
        first[0, 0] = 1  # shared with the cache: editors copy

    new = np.full(first.shape, 2, np.uint8)
    DatasetLayout(layout_dataset).write_mask(entry.embryo_id, entry.frame_number(0), new)
    assert entry.mask(0) is first  # the cache does not watch the disk ...
    entry.invalidate_mask(0)  # ... the writer says so
    assert np.array_equal(entry.mask(0), new) and reads == [0, 0]
    assert entry.mask(1) is not None and reads == [0, 0, 1]
    entry.invalidate_mask()
    entry.mask(0), entry.mask(1)
    assert reads == [0, 0, 1, 0, 1]


def test_missing_masks_are_cached_too(tmp_path, monkeypatch):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "frame_0000.png"), np.zeros((16, 16), np.uint8))
    entry = open_collection(folder).embryos[0]
    reads = _count_reads(entry, monkeypatch)
    assert entry.mask(0) is None and entry.mask(0) is None and reads == [0]


def test_project_mask_new_revision_after_invalidate(tmp_path):
    from embryograde_app.core.project.collection import open_project_collection

    store = ProjectStore.create(tmp_path / "p")
    try:
        png = cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes()
        fid, _ = store.add_frame(store.ensure_embryo("E1"), 0, png, ".png", (8, 8), "a.png")
        store.add_mask_revision(fid, np.ones((8, 8), np.uint8), "import", "dataset")
        entry = open_project_collection(store).embryos[0]
        assert entry.mask(0).max() == 1
        edited = np.full((8, 8), 2, np.uint8)
        store.add_mask_revision(fid, edited, "human", "ann")
        assert entry.mask(0).max() == 1  # cached until told
        entry.invalidate_mask(0)
        assert np.array_equal(entry.mask(0), edited)
    finally:
        store.close()
