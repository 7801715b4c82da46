"""The view toolbar: how many panes share the width, the mask on or off, which mask and how it is drawn, and
what the attention pane shows. Every choice is remembered between sessions (QSettings)."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QSlider, QToolBar, QWidget

from embryograde_app.ui.image_views import PANE_NAMES, LinkedViews

# What the mask pane shows. "Corrected, else model" is per frame: the person's (or the dataset's) mask where
# there is one, the model's elsewhere, so correcting one frame never blanks the others.
MASK_AUTO, MASK_MODEL, MASK_STORED = 0, 1, 2
MASK_SOURCES = ("Corrected, else model", "Model", "Corrected / stored")
PANE_KEYS = ("Ctrl+1", "Ctrl+2", "Ctrl+3")
PANE_TIPS = ("One large pane (V: frame, mask, attention)", "Frame and mask side by side", "Frame, mask and attention")
DEFAULT_PANES = 2  # frame and mask side by side: the embryo twice as wide as with three panes


def _stored_int(settings: QSettings, key: str, default: int, allowed: range) -> int:
    try:
        value = int(settings.value(key, default))
    except (TypeError, ValueError):
        return default
    return value if value in allowed else default


class ViewToolbar(QToolBar):
    def __init__(self, views: LinkedViews, settings: QSettings, parent: QWidget | None = None):
        super().__init__("View", parent)
        self.setObjectName("view_toolbar")
        self.views, self.settings = views, settings
        group = QActionGroup(self)
        self.pane_actions: list[QAction] = []
        for count, key in zip((1, 2, 3), PANE_KEYS, strict=True):
            action = QAction(f"{count} pane{'s' if count > 1 else ''}", self, objectName=f"action_panes_{count}")
            action.setCheckable(True)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(f"{PANE_TIPS[count - 1]} ({key})")
            action.triggered.connect(lambda _checked=False, n=count: self.set_panes(n))
            group.addAction(action)
            self.addAction(action)
            self.pane_actions.append(action)
        self.action_cycle = QAction("Next pane", self, objectName="action_cycle_pane")
        self.action_cycle.setShortcut(QKeySequence(Qt.Key.Key_V))
        self.action_cycle.setToolTip("One pane: frame → mask → attention (V)")
        self.action_cycle.triggered.connect(self.cycle_pane)
        self.addAction(self.action_cycle)
        self.action_mask = QAction("Mask", self, objectName="action_toggle_mask")
        self.action_mask.setCheckable(True)
        self.action_mask.setChecked(True)
        self.action_mask.setShortcut(QKeySequence(Qt.Key.Key_M))
        self.action_mask.setToolTip("Mask overlay on/off (M)")
        self.action_mask.toggled.connect(views.set_mask_visible)
        self.addAction(self.action_mask)
        self.addSeparator()
        self.mask_source_combo = QComboBox(objectName="mask_source_combo")
        self.mask_source_combo.addItems(list(MASK_SOURCES))
        self.mask_source_combo.setToolTip(
            "Which mask the mask pane shows: per frame the corrected (person's or dataset's) mask where there is "
            "one, else the model's; or always the model's; or only corrected ones"
        )
        self.mask_source_combo.setCurrentIndex(_stored_int(settings, "mask_source", MASK_AUTO, range(3)))
        self.mask_source_combo.currentIndexChanged.connect(lambda i: settings.setValue("mask_source", i))
        self.outline_combo = QComboBox(objectName="outline_combo")
        self.outline_combo.addItems(["Fill", "Outline"])
        self.outline_combo.setToolTip("Mask style")
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, objectName="opacity_slider")
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(_stored_int(settings, "overlay_opacity", 45, range(101)))
        self.opacity_slider.setMaximumWidth(110)
        self.opacity_slider.setToolTip("Mask opacity")
        self.addWidget(self.mask_source_combo)
        self.addWidget(self.outline_combo)
        self.addWidget(QLabel(" opacity "))
        self.addWidget(self.opacity_slider)
        self.addSeparator()
        self.addWidget(views.attention_source)
        self.set_panes(
            _stored_int(settings, "view_panes", DEFAULT_PANES, range(1, 4)),
            _stored_int(settings, "single_pane", 1, range(3)),
        )

    @property
    def key_actions(self) -> list[QAction]:
        return [*self.pane_actions, self.action_cycle, self.action_mask]

    def set_panes(self, count: int, single_pane: int | None = None) -> None:
        self.views.set_layout(count, single_pane)
        self.pane_actions[count - 1].setChecked(True)
        self.settings.setValue("view_panes", count)
        self.settings.setValue("single_pane", self.views.single_pane)
        self._name_single_pane()

    def cycle_pane(self) -> None:
        self.views.cycle_single_pane()
        self.pane_actions[0].setChecked(True)
        self.settings.setValue("view_panes", 1)
        self.settings.setValue("single_pane", self.views.single_pane)
        self._name_single_pane()

    def _name_single_pane(self) -> None:
        pane = PANE_NAMES[self.views.single_pane]
        self.pane_actions[0].setText(f"1 pane: {pane}" if self.views.pane_count == 1 else "1 pane")
