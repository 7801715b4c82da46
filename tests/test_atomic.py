"""Atomic writes: a process killed in the middle of a save leaves the old file whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from embryograde_app.core.io.atomic import atomic_write_bytes, atomic_write_png


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"old")

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    try:
        atomic_write_bytes(path, b"new")
    except OSError:
        pass
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_kill_during_repeated_saves_never_leaves_a_torn_png(tmp_path):
    """A writer is SIGKILLed while it saves big PNGs in a loop; the file on disk is always a whole PNG."""
    target = tmp_path / "mask.png"
    atomic_write_png(target, np.zeros((64, 64), np.uint8))
    code = (
        "import numpy as np, sys\n"
        "from embryograde_app.core.io.atomic import atomic_write_png\n"
        "rng = np.random.default_rng(0)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    atomic_write_png(sys.argv[1], rng.integers(0, 3, (1500, 1500), dtype=np.uint8))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.8)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    import cv2

    img = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.shape in {(64, 64), (1500, 1500)}
    assert img.max() <= 2


def test_a_create_only_write_never_replaces_a_file(tmp_path):
    """overwrite=False is how a registered model's file is protected: a name taken stays as it was."""
    target = tmp_path / "m.safetensors"
    atomic_write_bytes(target, b"first", overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write_bytes(target, b"second", overwrite=False)
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp file left behind
