"""A full disk: one line naming the path and the space, no partial files, read-only commands still work.

Uses a small tmpfs (root only); skipped cleanly where the machine cannot mount one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

MAIN = Path(__file__).resolve().parents[1] / "main.py"


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path) -> None:
    """Leave no byte free."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    for block in (1 << 20, 4096, 1):
        try:
            while True:
                os.write(fd, b"\0" * block)
        except OSError:
            pass
    os.close(fd)


def test_feature_cache_on_a_full_disk_names_the_path_and_leaves_no_partial_entry(small_disk):
    from models.diskspace import DiskFullError
    from models.training.features import FeatureCache

    cache = FeatureCache.__new__(FeatureCache)
    cache.directory, cache.memory, cache.hits, cache.misses = small_disk / "cache", {}, 0, 0
    cache.directory.mkdir()
    fill(small_disk)
    with pytest.raises(DiskFullError) as caught:
        cache.put("k1", {"x": torch.zeros(256, 256)})
    text = str(caught.value)
    assert text.startswith(str(small_disk / "cache" / "k1.safetensors")) and "the disk is full" in text
    assert "MB needed" in text and "\n" not in text
    assert list(cache.directory.iterdir()) == []


def test_a_project_on_a_full_disk_still_reports_and_says_why_it_cannot_grade(small_disk, tmp_path, tiny_dataset,
                                                                              tiny_weights):
    project = small_disk / "proj"
    run = [sys.executable, str(MAIN)]
    assert subprocess.run([*run, "import", str(project), str(tiny_dataset)], capture_output=True).returncode == 0
    graded = subprocess.run([*run, "grade", str(project), "--weights", str(tiny_weights)], capture_output=True)
    assert graded.returncode == 0, graded.stderr
    for leftover in project.glob("project.sqlite-*"):  # a clean close leaves none; as an archive would be
        leftover.unlink()
    fill(small_disk)
    out = tmp_path / "report.csv"  # another disk
    export = subprocess.run([*run, "export", str(project), "--csv", str(out)], capture_output=True, text=True)
    assert export.returncode == 0, export.stderr
    assert out.read_text(encoding="utf-8-sig").count("\n") == 19
    models = subprocess.run([*run, "models", str(project)], capture_output=True, text=True)
    assert models.returncode == 0, models.stderr
    new_frames = tmp_path / "new_frames"
    new_frames.mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(new_frames / "0001.png"), np.full((64, 64), 99, np.uint8))
    again = subprocess.run([*run, "import", str(project), str(new_frames)], capture_output=True, text=True)
    assert again.returncode != 0
    line = again.stderr.strip().splitlines()[-1]
    assert "the disk is full" in line and str(project) in line and "Traceback" not in again.stderr


def test_a_write_that_does_not_fit_names_the_file_and_the_size(small_disk):
    from embryograde_app.core.io.atomic import atomic_write_bytes
    from models.diskspace import DiskFullError

    with pytest.raises(DiskFullError, match=r"big.bin: the disk is full \([0-9.]+ MB free, about 80\.0 MB needed\)"):
        atomic_write_bytes(small_disk / "big.bin", b"\0" * 80_000_000)
    assert [p.name for p in small_disk.iterdir()] == []  # no temporary file left
    shutil.rmtree(small_disk / "none", ignore_errors=True)


def test_an_export_that_does_not_fit_leaves_nothing_half_written(small_disk, labelled_project, capsys):
    from embryograde_app.cli import main

    out = small_disk / "dataset"
    kept = small_disk / "existing"
    kept.mkdir()
    (kept / "mine.txt").write_text("the person's own file")
    free = shutil.disk_usage(small_disk).free
    with open(small_disk / "filler", "wb") as fh:
        fh.write(b"\0" * (free - 40_000))  # room for a few frames, not for all of them
    for target in (out, kept):
        assert main(["export", str(labelled_project), "--layout", str(target)]) == 1
        err = capsys.readouterr().err.strip()
        assert "the disk is full" in err and str(target) in err and "\n" not in err
    assert not out.exists()
    assert sorted(p.name for p in kept.rglob("*")) == ["mine.txt"]
