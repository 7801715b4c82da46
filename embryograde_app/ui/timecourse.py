"""Time-course plot of fragmentation % per frame for the current embryo, drawn over the grading scheme's bands.

Every item (bands aside, which follow the scheme) is created once and updated with setData, so switching
embryo or frame on a 1,000-frame time-lapse costs one array upload, not a scene rebuild. Only x pans and
zooms: the % axis stays fixed so the grade bands are always readable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QWidget

from embryograde_app.core.domain.schemes import GradingScheme
from embryograde_app.core.project.timing import GRADING_DAYS, WINDOW_H
from embryograde_app.core.view.timecourse_points import nearest_value, series_arrays

BACKGROUND = "#151515"
AXIS_COLOUR = "#9a9a9a"
MODEL_COLOUR = "#4fa3ff"
AREA_COLOUR = "#d68fe6"
LABEL_COLOUR = "#5ff0f0"
CURRENT_COLOUR = "#ffe066"
DAY_WINDOW_BRUSH = (120, 170, 255, 45)
BAND_ALPHA = 35
Y_MIN_TOP = 60.0
LABEL_BEAM = 1.0  # frames; widened on long series so the caps stay visible
# Bands run good -> poor; a scheme with n bins samples this ramp at n evenly spaced points.
_BAND_RAMP = pg.ColorMap([0.0, 0.5, 1.0], [(70, 190, 90), (235, 175, 40), (230, 70, 60)])


def band_colours(n: int) -> list[QColor]:
    """n translucent colours from green (good) through amber to red (poor), one per grade bin."""
    colours = []
    for t in np.linspace(0.0, 1.0, n) if n > 1 else [0.0]:
        c = QColor(_BAND_RAMP.map(float(t), mode="qcolor"))
        c.setAlpha(BAND_ALPHA)
        colours.append(c)
    return colours


class TimeCoursePlot(pg.PlotWidget):
    """Fragmentation % per frame: model regression, mask area, human range labels and the current frame."""

    frameClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background=BACKGROUND)
        self.setObjectName("timecourse_plot")
        plot = self.getPlotItem()
        self.view_box: pg.ViewBox = plot.vb
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.layout.setContentsMargins(4, 10, 10, 4)  # room for the top tick label
        self.view_box.setMouseEnabled(x=True, y=False)
        self.view_box.enableAutoRange(x=False, y=False)
        for side, text in (("bottom", "frame"), ("left", "fragmentation %")):
            axis = plot.getAxis(side)
            axis.setPen(AXIS_COLOUR)
            axis.setTextPen(AXIS_COLOUR)
            plot.setLabel(side, text, color=AXIS_COLOUR)
        plot.showGrid(x=True, y=False, alpha=0.12)
        self.legend = plot.addLegend(offset=(-8, 6), labelTextColor="#d0d0d0", brush=(21, 21, 21, 190))

        self.model_curve: pg.PlotDataItem = plot.plot(
            [],
            [],
            pen=pg.mkPen(MODEL_COLOUR, width=1.5),
            symbol="o",
            symbolSize=4,
            symbolPen=None,
            symbolBrush=MODEL_COLOUR,
            connect="finite",
        )
        # Width 1 keeps the dashed pen cosmetic: a wider dash strokes ~10x slower on 1,000 noisy points.
        self.area_curve: pg.PlotDataItem = plot.plot(
            [], [], pen=pg.mkPen(AREA_COLOUR, width=1, style=Qt.PenStyle.DashLine), connect="finite"
        )
        label_pen = pg.mkPen(LABEL_COLOUR, width=2.5)
        self.range_bars = pg.ErrorBarItem(x=np.empty(0), y=np.empty(0), pen=label_pen, beam=LABEL_BEAM)
        self.range_mids = pg.ScatterPlotItem(
            symbol="d", size=11, pen=pg.mkPen(LABEL_COLOUR, width=2), brush=pg.mkBrush(BACKGROUND)
        )
        self.exact_marks = pg.ScatterPlotItem(
            symbol="star", size=18, pen=pg.mkPen(BACKGROUND, width=1), brush=pg.mkBrush(LABEL_COLOUR)
        )
        for z, item in enumerate(
            (self.area_curve, self.model_curve, self.range_bars, self.range_mids, self.exact_marks)
        ):
            item.setZValue(10 + z)
            if item not in plot.items:
                plot.addItem(item)
        self.current_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(CURRENT_COLOUR, width=1.5))
        self.current_line.setZValue(30)
        self.current_line.hide()
        plot.addItem(self.current_line, ignoreBounds=True)

        # The grading windows (day 2 at 44 +/- 1 h, day 3 at 68 +/- 1 h), shown when the x axis is in hours.
        self.day_windows: list[pg.LinearRegionItem] = []
        self.day_labels: list[pg.TextItem] = []
        for day, target in GRADING_DAYS:
            window = pg.LinearRegionItem(
                values=(target - WINDOW_H, target + WINDOW_H), movable=False, brush=pg.mkBrush(*DAY_WINDOW_BRUSH),
                pen=pg.mkPen(150, 190, 255, 120),
            )
            window.setZValue(-15)
            label = pg.TextItem(day, color=(170, 200, 255), anchor=(0.5, 0.0))
            label.setZValue(-5)
            for item in (window, label):
                item.hide()
                plot.addItem(item, ignoreBounds=True)
            self.day_windows.append(window)
            self.day_labels.append(label)
        self._x_of: dict[int, float] = {}  # frame number -> x (its hours, or the number itself)
        self.in_hours = False

        self.bands: list[pg.LinearRegionItem] = []
        self.band_labels: list[pg.TextItem] = []
        self._label_font = QFont()
        self._label_font.setPointSizeF(8.0)
        self._scheme_key: str | None = None
        self._xs: list[float] = []  # sorted x of the frames (hours or numbers)
        self._x_extent: tuple[float, float] | None = None
        self._data_top = 0.0
        self._label_top = 0.0
        self._has_area = False
        self._has_labels = False
        self._set_y_top()
        self._sync_legend()
        self.view_box.sigXRangeChanged.connect(self._place_band_labels)
        self.scene().sigMouseClicked.connect(self._on_scene_click)

    # -- grade bands -------------------------------------------------------------------------------------------

    def set_scheme(self, scheme: GradingScheme) -> None:
        """Shade each grade bin behind the data so a reader sees the grade a % falls in without a legend."""
        if scheme.key == self._scheme_key and len(self.bands) == len(scheme.bins):
            return
        plot = self.getPlotItem()
        for item in (*self.bands, *self.band_labels):
            plot.removeItem(item)
        self.bands, self.band_labels = [], []
        edge_pen = pg.mkPen(255, 255, 255, 28)
        for b, colour in zip(scheme.bins, band_colours(len(scheme.bins)), strict=True):
            band = pg.LinearRegionItem(
                values=(b.lo, min(b.hi, 100.0)),
                orientation="horizontal",
                movable=False,
                brush=pg.mkBrush(colour),
                pen=edge_pen,
            )
            band.setZValue(-20)
            label_colour = QColor(colour)
            label_colour.setAlpha(220)
            text = b.grade if b.name == b.grade else f"{b.grade}  {b.name}"
            label = pg.TextItem(text, color=label_colour, anchor=(0.0, 1.0))
            label.setFont(self._label_font)
            label.setZValue(-10)
            plot.addItem(band, ignoreBounds=True)
            plot.addItem(label, ignoreBounds=True)
            self.bands.append(band)
            self.band_labels.append(label)
        self._scheme_key = scheme.key
        self._place_band_labels()

    def _place_band_labels(self, *_args: object) -> None:
        """Keep the grade names pinned to the left edge while the user pans along the frames."""
        if not self.band_labels:
            return
        x0 = self.view_box.viewRange()[0][0]
        for band, label in zip(self.bands, self.band_labels, strict=True):
            label.setPos(x0, band.getRegion()[0])

    # -- data ----------------------------------------------------------------------------------------------------

    def set_series(
        self,
        frames: Sequence[int],
        model_pct: Sequence[float | None],
        area_pct: Sequence[float | None] | None = None,
        hours: Sequence[float | None] | None = None,
    ) -> None:
        """Show one embryo's per-frame %; None values become gaps rather than misleading straight lines. With
        every frame's hours post-insemination the x axis is in hours, with the day-2 and day-3 windows."""
        self._set_x_axis(frames, hours)
        xs = [self._x_of[int(f)] for f in frames]
        x, y = series_arrays(xs, model_pct)
        self._set_curve(self.model_curve, x, y)
        tops = [y]
        has_area = area_pct is not None
        if has_area:
            ax, ay = series_arrays(xs, area_pct)
            self._set_curve(self.area_curve, ax, ay)
            tops.append(ay)
        else:
            self.area_curve.setData([], [])
        self.area_curve.setVisible(has_area)
        if has_area != self._has_area:
            self._has_area = has_area
            self._sync_legend()
        self._xs = sorted(self._x_of.values())
        finite = np.concatenate(tops)
        finite = finite[np.isfinite(finite)]
        self._data_top = float(finite.max()) if finite.size else 0.0
        self._set_y_top()
        self._fit_x()

    def _set_x_axis(self, frames: Sequence[int], hours: Sequence[float | None] | None) -> None:
        in_hours = hours is not None and len(hours) == len(frames) and len(frames) > 0 and None not in hours
        self._x_of = {int(f): float(h) for f, h in zip(frames, hours, strict=True)} if in_hours else {
            int(f): float(f) for f in frames
        }
        self._number_at = {x: n for n, x in self._x_of.items()}
        if in_hours != self.in_hours:
            self.in_hours = in_hours
            self.getPlotItem().setLabel(
                "bottom", "hours post-insemination" if in_hours else "frame", color=AXIS_COLOUR
            )
            self._x_extent = None  # refit: the axis changed units
        for window, label in zip(self.day_windows, self.day_labels, strict=True):
            window.setVisible(in_hours)
            label.setVisible(in_hours)
            label.setPos(sum(window.getRegion()) / 2, self.y_top)

    def x_of(self, frame_number: int) -> float:
        """Where a frame sits on the x axis: its hours, or its number when the embryo has no hours."""
        return self._x_of.get(int(frame_number), float(frame_number))

    @staticmethod
    def _set_curve(curve: pg.PlotDataItem, x: np.ndarray, y: np.ndarray) -> None:
        """setData, except that an all-gap series is empty (pyqtgraph warns on all-NaN symbol data)."""
        if not np.isfinite(y).any():
            curve.setData([], [])
        else:
            curve.setData(x, y, connect="finite")

    def set_labels(self, marks: Sequence[tuple[int, float, float]]) -> None:
        """Draw human labels: ranges as bars lo..hi with a diamond at the middle, exact values as stars."""
        arr = np.asarray([(self.x_of(n), lo, hi) for n, lo, hi in marks], dtype=float).reshape(-1, 3)
        exact = arr[:, 1] == arr[:, 2]
        rng, ex = arr[~exact], arr[exact]
        mids = (rng[:, 1] + rng[:, 2]) / 2.0
        self.range_bars.setData(x=rng[:, 0], y=mids, top=rng[:, 2] - mids, bottom=mids - rng[:, 1], beam=self._beam())
        self.range_mids.setData(x=rng[:, 0], y=mids)
        self.exact_marks.setData(x=ex[:, 0], y=ex[:, 1])
        self._label_top = float(arr[:, 2].max()) if len(arr) else 0.0
        if bool(len(arr)) != self._has_labels:
            self._has_labels = bool(len(arr))
            self._sync_legend()
        self._set_y_top()

    def set_current(self, frame_number: int | None) -> None:
        """Mark the frame shown in the image views; None hides the marker."""
        if frame_number is None:
            self.current_line.hide()
            return
        self.current_line.setValue(self.x_of(frame_number))
        self.current_line.show()

    # -- layout helpers -----------------------------------------------------------------------------------------

    @property
    def y_top(self) -> float:
        """Top of the % axis: at least 60 so the fair/poor boundary is always visible, else data max + 5."""
        return max(Y_MIN_TOP, self._data_top + 5.0, self._label_top + 5.0)

    def _set_y_top(self) -> None:
        self.view_box.setYRange(0.0, self.y_top, padding=0.0)
        for label in self.day_labels:
            label.setPos(label.pos().x(), self.y_top)

    def _beam(self) -> float:
        """Cap width of a range bar: about 1 % of the frame span, at least one frame."""
        if not self._xs:
            return LABEL_BEAM
        return max(LABEL_BEAM, 0.012 * (self._xs[-1] - self._xs[0]))

    def _fit_x(self) -> None:
        """Show all frames when a new embryo arrives; keep the user's zoom when only values change."""
        if not self._xs:
            return
        extent = (float(self._xs[0]), float(self._xs[-1]))
        if extent == self._x_extent:
            return
        self._x_extent = extent
        pad = max(1.0, 0.02 * (extent[1] - extent[0]))
        lo, hi = extent[0] - pad, extent[1] + pad
        self.view_box.setLimits(xMin=lo, xMax=hi, minXRange=min(5.0, hi - lo))
        self.view_box.setXRange(lo, hi, padding=0.0)

    def _sync_legend(self) -> None:
        self.legend.clear()
        self.legend.addItem(self.model_curve, "regression")
        if self._has_area:
            self.legend.addItem(self.area_curve, "mask area")
        if self._has_labels:
            self.legend.addItem(self.range_mids, "human label")

    # -- clicks --------------------------------------------------------------------------------------------------

    def _on_scene_click(self, event: object) -> None:
        """A left click inside the plot jumps to the nearest frame that has data."""
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos: QPointF = event.scenePos()
        if not self.view_box.sceneBoundingRect().contains(pos):
            return
        x = self.view_box.mapSceneToView(pos).x()
        nearest = nearest_value(self._xs, x)  # the nearest x that has a frame
        if nearest is None:
            self.frameClicked.emit(round(x))
            return
        self.frameClicked.emit(self._number_at.get(nearest, round(x)))
