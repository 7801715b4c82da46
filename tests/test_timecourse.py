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


def test_embryo_series_without_a_project_takes_the_window_s_predictions_and_the_dataset_labels():
    """A plain dataset: model readings come from what the window inferred, marks from labels.csv (a range
    as its interval, an exact % as a zero-width one); frames neither inferred nor labelled stay gaps."""
    from types import SimpleNamespace

    from embryograde_app.core.io.layout import LabelRow
    from embryograde_app.core.project.summaries import embryo_series

    class Entry:
        embryo_id, focal_plane = "E1", 0
        labels = {3: LabelRow("E1", 3, range_lo=10.0, range_hi=25.0), 7: LabelRow("E1", 7, frag_pct=6.5)}

        def __len__(self) -> int:
            return 3

        def frame_number(self, i: int) -> int:
            return [3, 4, 7][i]

        def time_h(self, i: int) -> float:
            return 40.0 + i

    entry = Entry()
    predicted = {("E1", 0, 4): SimpleNamespace(regression_pct=12.0, area_pct=14.0)}

    series = embryo_series(entry, None, predicted.get)

    assert series.numbers == [3, 4, 7]
    assert series.hours == [40.0, 41.0, 42.0]
    assert series.model == [None, 12.0, None] and series.area == [None, 14.0, None]
    assert series.marks == [(3, 10.0, 25.0), (7, 6.5, 6.5)]
