"""Linked pyqtgraph views: the frame, the frame with its mask, the frame with an attention heat map.

One base ImageItem per view plus one RGBA overlay item; the shown ViewBoxes are linked so pan and zoom move
together. The person picks how many panes share the width (one large pane that cycles image / mask / attention,
two, or three): the embryo is the star, so fewer panes draw it larger.
A frame switch must stay well under a display refresh (ARCHITECTURE.md section 8: < 16 ms at 500x500), so every
image is handed to pyqtgraph in a form it wraps as a QImage without a per-pixel pass: uint8 grey or uint8 RGBA
with levels=None (levels, even (0, 255), send RGBA through pyqtgraph's slow makeARGB and grey through a rebuilt
colour table on every render).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QWidget

from embryograde_app.core.view.overlays import CLASS_COLOURS, embryo_box, heat_lut, heat_rgba, mask_rgba

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
WHEEL_SCALE = -1.0 / 20.0  # about 11 % per wheel notch (pyqtgraph's default is about 28 %)


class FrameView(pg.GraphicsLayoutWidget):
    """A titled ViewBox with a grey base image and an optional overlay on top."""

    def __init__(self, title: str, object_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setBackground("#151515")
        self.title = self.addLabel(title, row=0, col=0, color="#cfcfcf")
        self.view_box: pg.ViewBox = self.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self.base = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(10)
        self.view_box.addItem(self.base)
        self.view_box.addItem(self.overlay)
        self._shape: tuple[int, int] | None = None
        self.view_box.state["wheelScaleFactor"] = WHEEL_SCALE  # finer steps than pyqtgraph's -1/8

    def set_frame(self, image: np.ndarray) -> None:
        # uint8 and uint16 grey show their full range as they are (a pass-through QImage); others need levels.
        levels = None if image.dtype in (np.uint8, np.uint16) else (0, 255)
        self.base.setImage(image, autoLevels=False, levels=levels)
        if self._shape != image.shape[:2]:
            self._shape = image.shape[:2]
            self.view_box.autoRange(padding=0.0)

    def set_title(self, title: str) -> None:
        """A new title (short: a title wider than the view widens it, and the linked views lose their equal scale)."""
        if self.title.text != title:
            self.title.setText(title, color="#cfcfcf")

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        if rgba is None:
            self.overlay.clear()
        else:
            self.overlay.setImage(rgba, autoLevels=False, levels=None)


ATTENTION_TITLES = ("Fragment probability", "Attention gate (relative)")
PANE_NAMES = ("Frame", "Mask", "Attention")  # what the single pane cycles through


class LinkedViews(QWidget):
    """The image, overlay and attention views side by side, panning and zooming together."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image_view = FrameView("Frame", "view_image")
        self.overlay_view = FrameView("Masks  (blastomere, fragment)", "view_overlay")
        self.attention_view = FrameView(ATTENTION_TITLES[0], "view_attention")
        # What the third view shows: the network's fragment probability (where it hesitates), or the stride-4
        # attention gate's map (contrast stretched within the embryo; raw, it is a saturated disc).
        self.attention_source = QComboBox()
        self.attention_source.setObjectName("attention_source_combo")
        self.attention_source.addItems(["Fragment probability", "Attention gate"])
        self.attention_source.setToolTip(
            "Fragment probability: how sure the network is that a pixel is fragment (0-1).\n"
            "Attention gate: where the gate passes the most fine detail to the decoder, relative within this embryo."
        )
        self.attention_source.currentIndexChanged.connect(self._redraw_attention)
        self._maps: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        # The colour bar lives in its own widget: views of unequal size fight when X and Y are both linked.
        self.colour_bar_widget = pg.GraphicsLayoutWidget()
        self.colour_bar_widget.setBackground("#151515")
        self.colour_bar_widget.setFixedWidth(62)
        self.colour_bar = pg.ColorBarItem(
            values=(0, 1),
            colorMap=pg.ColorMap(np.linspace(0, 1, 256), heat_lut()),
            interactive=False,
            width=12,
            label="probability",
        )
        self.colour_bar_widget.addItem(self.colour_bar, row=0, col=0)
        layout = QHBoxLayout(self)  # the attention switch lives in the window's view toolbar
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for view in self.views:
            layout.addWidget(view, 1)
        layout.addWidget(self.colour_bar_widget)
        self.pane_count = 3
        self.single_pane = 1  # which view the one-pane layout shows (the mask: where the work is)
        self.mask_visible = True
        self._master: FrameView = self.image_view
        self._link_shown()
        self.opacity = 0.45
        self.outline = False
        self.colours = dict(CLASS_COLOURS)
        self._frame_embryo_next = False  # the next mask shown frames the views on the embryo
        for view in self.views:  # a person who pans or zooms first keeps their view
            view.view_box.sigRangeChangedManually.connect(self._user_moved)

    @property
    def views(self) -> list[FrameView]:
        return [self.image_view, self.overlay_view, self.attention_view]

    @property
    def shown_views(self) -> list[FrameView]:
        if self.pane_count == 1:
            return [self.views[self.single_pane]]
        return self.views[: self.pane_count]

    def set_layout(self, pane_count: int, single_pane: int | None = None) -> None:
        """1: one large pane (``single_pane``: 0 frame, 1 mask, 2 attention); 2: frame and mask; 3: all three."""
        if pane_count not in (1, 2, 3):
            raise ValueError(f"pane count must be 1, 2 or 3, not {pane_count}")
        x_range, y_range = self._master.view_box.viewRange()
        self.pane_count = pane_count
        if single_pane is not None:
            self.single_pane = single_pane % len(self.views)
        shown = self.shown_views
        for view in self.views:
            view.setVisible(view in shown)
        self.colour_bar_widget.setVisible(self.attention_view in shown)
        self._link_shown()
        self._master.view_box.setRange(xRange=x_range, yRange=y_range, padding=0.0)  # the same place, larger

    def cycle_single_pane(self) -> None:
        """The one-pane layout's next content: frame, mask, attention (from any layout: to one pane)."""
        self.set_layout(1, self.single_pane + 1 if self.pane_count == 1 else self.single_pane)

    def _link_shown(self) -> None:
        """Link the shown views to the first of them; hidden ones unlinked (a hidden view keeps a stale size,
        and linked views of unequal size pull each other's ranges about)."""
        shown = self.shown_views
        self._master = shown[0]
        for view in self.views:
            linked_to = self._master.view_box if view in shown and view is not self._master else None
            view.view_box.setXLink(linked_to)
            view.view_box.setYLink(linked_to)

    def set_mask_visible(self, visible: bool) -> None:
        """The mask overlay on or off (the frame under it, as it is), as Cellpose and napari users expect."""
        self.mask_visible = visible
        self.overlay_view.overlay.setVisible(visible)

    def show_image(self, image: np.ndarray) -> None:
        for view in self.views:
            view.set_frame(image)

    def show_frame(
        self,
        image: np.ndarray,
        mask: np.ndarray | None,
        attention: np.ndarray | None,
        fragment_prob: np.ndarray | None = None,
    ) -> None:
        self.show_image(image)
        self.show_mask(mask)
        self.show_attention(attention, fragment_prob)

    def show_mask(self, mask: np.ndarray | None) -> None:
        rgba = None if mask is None else mask_rgba(mask, self.opacity, self.outline, self.colours)
        self.overlay_view.set_overlay(rgba)
        if self._frame_embryo_next and mask is not None and self.zoom_to_embryo(mask):
            self._frame_embryo_next = False

    def frame_embryo_when_shown(self) -> None:
        """A new embryo: the whole frame until a mask (the model's or a stored one) says where it is, then that."""
        self._master.view_box.autoRange(padding=0.0)  # not the last embryo's box meanwhile
        self._frame_embryo_next = True

    def _user_moved(self, *_args) -> None:
        self._frame_embryo_next = False

    def zoom_to_embryo(self, mask: np.ndarray | None) -> bool:
        """Frame the linked views on the mask's embryo; False (views unchanged) when there is none."""
        box = None if mask is None else embryo_box(mask)
        if box is None:
            return False
        x0, y0, x1, y1 = box
        self._master.view_box.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.0)
        return True

    def show_whole_frame(self) -> None:
        self._frame_embryo_next = False
        self._master.view_box.autoRange(padding=0.0)

    def show_attention(self, attention: np.ndarray | None, fragment_prob: np.ndarray | None = None) -> None:
        """The third view's heat map: the fragment probability or the gate's map, as the switch says."""
        self._maps = (attention, fragment_prob)
        self._redraw_attention()

    def _redraw_attention(self, *_args) -> None:
        gate = self.attention_source.currentIndex() == 1
        attention, fragment_prob = self._maps
        show_gate = gate or (fragment_prob is None and attention is not None)
        shown = attention if show_gate else fragment_prob
        self.attention_view.set_title(ATTENTION_TITLES[1 if show_gate else 0])
        self.colour_bar.getAxis("left").setLabel("gate (relative)" if show_gate else "probability")
        self.attention_view.set_overlay(None if shown is None else heat_rgba(shown))
