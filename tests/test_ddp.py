"""`train` under torchrun: 2 CPU processes (gloo) run the same code path and write one weights file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_training(tiny_dataset, tmp_path):
    out = tmp_path / "ddp.safetensors"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(REPO / "main.py"),
        "train",
        str(out),
        "--data",
        str(tiny_dataset),
        "--stage",
        "1",
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--input-size",
        "64",
        "--width",
        "16",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads(out.with_suffix(".json").read_text())
    assert len(meta["history"]) == 2
    assert result.stdout.count("wrote ") == 1  # only rank 0 writes
