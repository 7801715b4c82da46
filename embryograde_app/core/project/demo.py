"""The demo project that `make run` opens: generator time-lapses imported into a project, made once."""

from __future__ import annotations

import tempfile
from pathlib import Path

from embryograde_app.core.project.frame_import import import_into_project
from embryograde_app.core.project.store import ProjectStore
from embryograde_app.core.synth.generator import generate_dataset

DEMO_EMBRYOS = 6
DEMO_FRAMES = 24
DEMO_SIZE = 500  # EmbryoScope frames are 500x500
DEMO_SEED = 2026


def ensure_demo_project(path: str | Path) -> Path:
    """Create the demo project (frames + their exact masks as imported revisions) unless it exists."""
    path = Path(path)
    if ProjectStore.is_project(path):
        return path
    with tempfile.TemporaryDirectory(prefix="embryograde-demo-") as tmp:
        generate_dataset(tmp, DEMO_EMBRYOS, DEMO_FRAMES, size=DEMO_SIZE, seed=DEMO_SEED)
        summary = import_into_project(path, [tmp])
    if summary.skipped:
        raise RuntimeError(f"demo project: {summary.skipped[0]}")
    return path


def needs_grading(path: str | Path) -> bool:
    with ProjectStore(path) as store:
        return store.prediction_count() == 0
