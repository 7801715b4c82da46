"""The demo project that `make run` opens: generator data, made once and reused."""

from __future__ import annotations

from pathlib import Path

from embryograde_app.core.synthetic import generate_dataset

DEMO_EMBRYOS = 6
DEMO_FRAMES = 24
DEMO_SIZE = 500  # EmbryoScope frames are 500x500
DEMO_SEED = 2026


def ensure_demo_dataset(path: str | Path) -> Path:
    """Create the demo layout-v1 folder unless a complete one is already there."""
    path = Path(path)
    if not (path / "labels.csv").exists():
        generate_dataset(path, DEMO_EMBRYOS, DEMO_FRAMES, size=DEMO_SIZE, seed=DEMO_SEED)
    return path
