"""Qt-free helpers behind the time-course plot: snapping a click to a frame, None -> NaN gaps."""

from __future__ import annotations

import numpy as np
import pytest

from embryograde_app.core.view.timecourse_points import nearest_frame, series_arrays


def test_nearest_frame_empty_is_none():
    assert nearest_frame([], 3.2) is None


@pytest.mark.parametrize(
    ("x", "expected"),
    [(-10.0, 0), (0.0, 0), (2.4, 2), (4.1, 5), (3.5, 2), (3.6, 5), (9.9, 10), (1e9, 10)],
)
def test_nearest_frame_snaps_to_closest_with_ties_to_earlier(x, expected):
    assert nearest_frame([0, 2, 5, 10], x) == expected


def test_nearest_frame_single_frame():
    assert nearest_frame([7], -3.0) == 7
    assert nearest_frame([7], 70.0) == 7


def test_series_arrays_none_becomes_nan():
    x, y = series_arrays([1, 2, 3], [5.0, None, 7])
    assert x.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    assert y[0] == 5.0 and np.isnan(y[1]) and y[2] == 7.0


def test_series_arrays_empty_and_mismatch():
    x, y = series_arrays([], [])
    assert x.shape == y.shape == (0,)
    with pytest.raises(ValueError):
        series_arrays([1, 2], [1.0])
