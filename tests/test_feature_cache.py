"""The stage-2 feature cache on disk: two writers of one entry, and the temp files of a killed writer."""

from __future__ import annotations

import os
import time

import torch

from models.inference import weights
from models.training import features
from models.training.features import FeatureCache


def _cache_at(folder) -> FeatureCache:
    """A cache on a folder without building a network (the fingerprint is not what is tested here)."""
    cache = FeatureCache.__new__(FeatureCache)
    cache.directory, cache.memory, cache.hits, cache.misses = folder, {}, 0, 0
    folder.mkdir(parents=True, exist_ok=True)
    return cache


def test_two_writers_of_one_entry_both_succeed_and_leave_one_whole_file(tmp_path, monkeypatch):
    """Another process writes the same frame's features while this one is between its write and its rename:
    with one temp name shared by both, the second rename found nothing and the retrain failed."""
    cache = _cache_at(tmp_path / "cache")
    other = _cache_at(tmp_path / "cache")
    real_save = weights.save_file
    interleaved = []

    def save_then_let_the_other_writer_in(tensors, filename, **kwargs):
        real_save(tensors, filename, **kwargs)
        if not interleaved:
            interleaved.append(filename)
            other.put("frame_v0", {"pooled": torch.full((4,), 2.0)})

    monkeypatch.setattr(weights, "save_file", save_then_let_the_other_writer_in)
    cache.put("frame_v0", {"pooled": torch.full((4,), 2.0)})

    assert interleaved
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["frame_v0.safetensors"]
    entry = cache.get("frame_v0", need_dec=False)
    assert entry is not None and torch.equal(entry["pooled"], torch.full((4,), 2.0))


def test_a_killed_writers_old_temp_file_is_swept_and_a_fresh_one_kept(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    old = folder / ".frame_v0.abc123.tmp"
    fresh = folder / ".frame_v1.def456.tmp"
    entry = folder / "frame_v2.safetensors"
    for f in (old, fresh, entry):
        f.write_bytes(b"x")
    hours_ago = time.time() - 2 * features.STALE_TEMP_SECONDS
    os.utime(old, (hours_ago, hours_ago))

    cache = _cache_at(folder)
    cache._sweep_stale_temps()

    assert not old.exists()
    assert fresh.exists(), "a writer still running keeps its temp file"
    assert entry.exists()


def test_a_temp_file_is_never_read_as_an_entry(tmp_path):
    cache = _cache_at(tmp_path / "cache")
    (cache.directory / ".frame_v0.abc.tmp").write_bytes(b"partial")
    assert cache.get("frame_v0", need_dec=False) is None
    cache.put("frame_v0", {"pooled": torch.ones(3)})
    assert torch.equal(cache.get("frame_v0", need_dec=False)["pooled"], torch.ones(3))
