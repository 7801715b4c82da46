"""The time-course plot: grade bands per scheme, gaps, item reuse, current-frame line and click-to-frame."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from embryograde_app.core.domain.schemes import get_scheme
from embryograde_app.ui.timecourse import TimeCoursePlot


@pytest.fixture
def plot(qtbot):
    widget = TimeCoursePlot()
    widget.resize(640, 240)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def click_at(plot: TimeCoursePlot, x: float, y: float = 20.0) -> None:
    scene_pos = plot.getPlotItem().vb.mapViewToScene(QPointF(x, y))
    view_pos = plot.mapFromScene(scene_pos)
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, view_pos)


def test_object_name_and_axes(plot):
    assert plot.objectName() == "timecourse_plot"
    item = plot.getPlotItem()
    assert item.getAxis("bottom").labelText == "frame"
    assert item.getAxis("left").labelText == "fragmentation %"
    assert item.vb.state["mouseEnabled"] == [True, False]
    assert item.vb.viewRange()[1] == pytest.approx([0.0, 60.0])


@pytest.mark.parametrize("key", ["istanbul2011", "asebir"])
def test_bands_follow_scheme_bins(plot, key):
    scheme = get_scheme(key)
    plot.set_scheme(scheme)
    assert len(plot.bands) == len(plot.band_labels) == len(scheme.bins)
    for band, label, b in zip(plot.bands, plot.band_labels, scheme.bins, strict=True):
        assert band.getRegion() == pytest.approx((b.lo, min(b.hi, 100.0)))
        assert b.grade in label.textItem.toPlainText()


def test_scheme_change_replaces_bands(plot):
    plot.set_scheme(get_scheme("asebir"))
    plot.set_scheme(get_scheme("istanbul2011"))
    assert len(plot.bands) == 3
    bands = [i for i in plot.getPlotItem().items if i in plot.bands]
    assert len(bands) == 3


def test_gaps_become_nan_and_items_are_reused(plot):
    model_item, area_item = plot.model_curve, plot.area_curve
    plot.set_series([0, 1, 2, 3], [5.0, None, 7.0, 8.0], [6.0, 6.5, None, 9.0])
    _, y = plot.model_curve.getData()
    assert np.isnan(y[1]) and y[0] == 5.0
    _, ay = plot.area_curve.getData()
    assert np.isnan(ay[2])
    plot.set_series([0, 1, 2], [1.0, 2.0, 3.0])
    assert plot.model_curve is model_item and plot.area_curve is area_item
    assert not plot.area_curve.isVisible()
    assert plot.getPlotItem().listDataItems().count(model_item) == 1


def test_y_range_grows_with_data(plot):
    plot.set_series([0, 1], [10.0, 80.0])
    assert plot.getPlotItem().vb.viewRange()[1] == pytest.approx([0.0, 85.0])
    plot.set_series([0, 1], [10.0, 20.0])
    assert plot.getPlotItem().vb.viewRange()[1] == pytest.approx([0.0, 60.0])


def test_labels_ranges_and_exact(plot):
    plot.set_labels([(3, 10.0, 20.0), (5, 12.0, 12.0)])
    assert list(plot.range_mids.data["x"]) == [3.0]
    assert list(plot.range_mids.data["y"]) == [15.0]
    assert list(plot.exact_marks.data["y"]) == [12.0]
    plot.set_labels([])
    assert len(plot.range_mids.data) == len(plot.exact_marks.data) == 0


def test_set_current_moves_line(plot):
    plot.set_current(None)
    assert not plot.current_line.isVisible()
    plot.set_current(12)
    assert plot.current_line.value() == 12 and plot.current_line.isVisible()
    plot.set_current(40)
    assert plot.current_line.value() == 40


def test_click_emits_nearest_frame(plot, qtbot):
    plot.set_series([0, 10, 20, 30], [5.0, 6.0, 7.0, 8.0])
    with qtbot.waitSignal(plot.frameClicked, timeout=1000) as blocker:
        click_at(plot, 13.0)
    assert blocker.args == [10]
    with qtbot.waitSignal(plot.frameClicked, timeout=1000) as blocker:
        click_at(plot, 26.0)
    assert blocker.args == [30]


def test_click_outside_view_box_is_ignored(plot, qtbot):
    plot.set_series([0, 10], [5.0, 6.0])
    with qtbot.assertNotEmitted(plot.frameClicked):
        QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(2, 2))


def test_thousand_frames(plot):
    rng = np.random.default_rng(1)
    frames = list(range(1000))
    values = [None if i % 97 == 0 else float(v) for i, v in enumerate(rng.uniform(0, 40, 1000))]
    plot.set_scheme(get_scheme())
    plot.set_series(frames, values, values)
    plot.set_labels([(i, 5.0, 15.0) for i in range(0, 1000, 50)])
    plot.set_current(500)
    plot.grab()
    assert plot.model_curve.getData()[0].shape == (1000,)


def test_hours_axis_with_day_windows_and_clicks_by_time(plot, qtbot):
    frames = list(range(1, 61))
    hours = [20.0 + (n - 1) for n in frames]  # hourly from 20 h: frame 25 at 44 h, frame 49 at 68 h
    plot.set_series(frames, [5.0] * 60, None, hours)
    assert plot.in_hours and plot.getPlotItem().getAxis("bottom").labelText == "hours post-insemination"
    assert all(w.isVisible() for w in plot.day_windows)
    assert [tuple(w.getRegion()) for w in plot.day_windows] == [(43.0, 45.0), (67.0, 69.0)]
    assert list(plot.model_curve.getData()[0][:2]) == [20.0, 21.0]
    plot.set_current(25)
    assert plot.current_line.value() == 44.0
    plot.set_labels([(49, 10.0, 25.0)])
    assert plot.range_mids.getData()[0][0] == 68.0
    with qtbot.waitSignal(plot.frameClicked, timeout=1000) as blocker:
        click_at(plot, 44.2)
    assert blocker.args == [25]
    plot.set_series(frames, [5.0] * 60, None, [None] * 60)  # no hours: frames again, no windows
    assert not plot.in_hours and not any(w.isVisible() for w in plot.day_windows)
    assert plot.getPlotItem().getAxis("bottom").labelText == "frame"
