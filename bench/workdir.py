"""Scratch folders for the benchmarks, removed when the process ends.

The quick modes run inside the test suite: before, every `make test` left some 300 MB of projects, frames and
feature caches in the temporary folder (33 GB over a few days of runs here). EMBRYOGRADE_KEEP_BENCH=1 keeps
them, to look at what a run made.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def scratch_dir(prefix: str) -> Path:
    """A new empty folder under the temporary folder, deleted at interpreter exit unless asked to keep it."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if not os.environ.get("EMBRYOGRADE_KEEP_BENCH"):
        atexit.register(shutil.rmtree, path, True)
    return path
