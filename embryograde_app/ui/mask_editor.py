"""The drawing surface laid over the mask view: turns mouse gestures into pixel-exact edit requests.

It only reports gestures in image pixels (row, column) or polygon vertices in image coordinates; what
they do to the mask is decided by the correction controller and ``core.view.editing``. With the navigate tool
(or any button but the left one) it ignores the mouse, so the ViewBox pans and zooms as usual; the wheel
always zooms and the middle button always pans.
"""

from __future__ import annotations

from enum import Enum

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from embryograde_app.core.view.editing import pixel_under

CLOSE_POLYGON_PX = 8  # a click this close (screen pixels) to the first vertex closes the polygon


class Tool(Enum):
    NAVIGATE = "navigate"
    BRUSH = "brush"
    ERASER = "eraser"
    POLYGON = "polygon"
    FILL = "fill"


def _cosmetic_pen(colour: str, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(colour))
    pen.setCosmetic(True)  # one screen pixel wide at any zoom
    pen.setWidth(1)
    pen.setStyle(style)
    return pen


class EditorItem(pg.GraphicsObject):
    strokeStarted = Signal(int, int)  # row, column of the pixel under the cursor
    strokeMoved = Signal(int, int)
    strokeFinished = Signal()
    polygonFinished = Signal(object)  # list of (x, y) image coordinates
    fillRequested = Signal(int, int)

    def __init__(self):
        super().__init__()
        self.setZValue(20)
        self.tool = Tool.NAVIGATE
        self.brush_size = 5
        self._width, self._height = 0, 0
        self._stroking = False
        self._vertices: list[tuple[float, float]] = []
        self._lasso: list[tuple[float, float]] | None = None
        self._cursor = QGraphicsEllipseItem(self)
        self._cursor.setPen(_cosmetic_pen("#ffffff"))
        self._cursor.hide()
        self._outline = QGraphicsPathItem(self)
        self._outline.setPen(_cosmetic_pen("#ffff66", Qt.PenStyle.DashLine))

    # ------------------------------------------------------------------------------------ geometry
    def set_image_shape(self, height: int, width: int) -> None:
        if (height, width) != (self._height, self._width):
            self.prepareGeometryChange()
            self._height, self._width = height, width
            self.cancel_polygon()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(0, 0, self._width, self._height)

    def paint(self, painter, option, widget=None) -> None:  # the children draw the cursor and outline
        pass

    def set_tool(self, tool: Tool) -> None:
        if self._stroking:
            self.strokeFinished.emit()
            self._stroking = False
        self.tool = tool
        self.cancel_polygon()
        self._cursor.setVisible(False)
        self.setCursor(Qt.CursorShape.ArrowCursor if tool is Tool.NAVIGATE else Qt.CursorShape.CrossCursor)

    @property
    def drawing(self) -> bool:
        return self.tool is not Tool.NAVIGATE

    # ------------------------------------------------------------------------------------ feedback
    def _show_cursor(self, pos: QPointF) -> None:
        if self.tool not in (Tool.BRUSH, Tool.ERASER):
            self._cursor.hide()
            return
        row, col = pixel_under(pos.x(), pos.y())
        size = float(max(self.brush_size, 1))
        self._cursor.setRect(QRectF(col + 0.5 - size / 2, row + 0.5 - size / 2, size, size))
        self._cursor.show()

    def _draw_outline(self, points: list[tuple[float, float]], closing: QPointF | None = None) -> None:
        path = QPainterPath()
        if points:
            path.moveTo(*points[0])
            for x, y in points[1:]:
                path.lineTo(x, y)
            if closing is not None:
                path.lineTo(closing)
        self._outline.setPath(path)

    def cancel_polygon(self) -> None:
        self._vertices = []
        self._lasso = None
        self._draw_outline([])

    def finish_polygon(self) -> None:
        vertices, self._vertices = self._vertices, []
        self._draw_outline([])
        if len(vertices) >= 3:
            self.polygonFinished.emit(vertices)

    def _near_first_vertex(self, pos: QPointF) -> bool:
        if len(self._vertices) < 3:
            return False
        first = self.mapToDevice(QPointF(*self._vertices[0]))
        here = self.mapToDevice(pos)
        if first is None or here is None:
            return False
        return (first - here).manhattanLength() <= CLOSE_POLYGON_PX

    # ------------------------------------------------------------------------------------ pyqtgraph events
    def hoverEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph hook
        if ev.isExit():
            self._cursor.hide()
            return
        if not self.drawing:
            return
        ev.acceptDrags(Qt.MouseButton.LeftButton)
        ev.acceptClicks(Qt.MouseButton.LeftButton)
        self._show_cursor(ev.pos())
        if self.tool is Tool.POLYGON and self._vertices:
            self._draw_outline(self._vertices, ev.pos())

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph hook
        if not self.drawing or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        pos = ev.pos()
        row, col = pixel_under(pos.x(), pos.y())
        if self.tool in (Tool.BRUSH, Tool.ERASER):
            self.strokeStarted.emit(row, col)
            self.strokeFinished.emit()
        elif self.tool is Tool.FILL:
            self.fillRequested.emit(row, col)
        elif self.tool is Tool.POLYGON:
            if ev.double() or self._near_first_vertex(pos):
                self.finish_polygon()
            else:
                self._vertices.append((pos.x(), pos.y()))
                self._draw_outline(self._vertices)

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph hook
        if not self.drawing or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        pos = ev.pos()
        if self.tool in (Tool.BRUSH, Tool.ERASER):
            if ev.isStart():
                start = ev.buttonDownPos()
                self._stroking = True
                self.strokeStarted.emit(*pixel_under(start.x(), start.y()))
            if self._stroking:
                self.strokeMoved.emit(*pixel_under(pos.x(), pos.y()))
                self._show_cursor(pos)
                if ev.isFinish():
                    self._stroking = False
                    self.strokeFinished.emit()
        elif self.tool is Tool.POLYGON:  # a drag draws a freehand lasso, filled on release
            if ev.isStart():
                start = ev.buttonDownPos()
                self._vertices = []
                self._lasso = [(start.x(), start.y())]
            if self._lasso is not None:
                self._lasso.append((pos.x(), pos.y()))
                self._draw_outline(self._lasso, QPointF(*self._lasso[0]))
                if ev.isFinish():
                    lasso, self._lasso = self._lasso, None
                    self._draw_outline([])
                    if len(lasso) >= 3:
                        self.polygonFinished.emit(lasso)
