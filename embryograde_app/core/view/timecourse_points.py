"""Qt-free helpers for the per-frame fragmentation time-course plot, kept here so they are testable without a GUI."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

import numpy as np


def nearest_value(values: Sequence[float], x: float) -> float | None:
    """The value in sorted ``values`` closest to ``x`` (ties go to the earlier one); None when there are none.

    A click on the plot lands between data points; snapping to a real one keeps navigation on frames that exist.
    """
    if len(values) == 0:
        return None
    i = bisect_left(values, x)
    if i <= 0:
        return values[0]
    if i >= len(values):
        return values[-1]
    before, after = values[i - 1], values[i]
    return before if x - before <= after - x else after


def nearest_frame(frames: Sequence[int], x: float) -> int | None:
    """Frame number in sorted ``frames`` closest to ``x`` (ties go to the earlier frame); None when there are none."""
    value = nearest_value(frames, x)
    return None if value is None else int(value)


def series_arrays(frames: Sequence[int], values: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """Float x/y arrays with NaN for missing values, so pyqtgraph (connect="finite") draws gaps instead of lines."""
    if len(frames) != len(values):
        raise ValueError(f"{len(frames)} frames but {len(values)} values")
    x = np.asarray(frames, dtype=float)
    y = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return x, y
