"""The correction tools: brush, eraser, polygon/lasso, fill, class, brush size, undo/redo and save state."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from embryograde_app.core.domain.schemes import BLASTOMERE, FRAGMENT
from embryograde_app.ui.correction_controller import CorrectionController
from embryograde_app.ui.mask_editor import Tool

TOOLS = [  # tool, object name, text, shortcut, tip
    (Tool.NAVIGATE, "tool_navigate", "Pan", "Esc", "Pan and zoom (no editing)"),
    (Tool.BRUSH, "tool_brush", "Brush", "B", "Paint the chosen class; [ and ] change the size"),
    (Tool.ERASER, "tool_eraser", "Eraser", "E", "Erase to background"),
    (Tool.POLYGON, "tool_polygon", "Polygon", "P", "Click vertices (double-click closes) or drag a lasso"),
    (Tool.FILL, "tool_fill", "Fill", "F", "Fill the connected region under the cursor"),
]
MAX_BRUSH = 99


class CorrectionPanel(QGroupBox):
    def __init__(self, controller: CorrectionController, parent: QWidget | None = None):
        super().__init__("Correct the mask", parent)
        self.setObjectName("correction_panel")
        self.controller = controller
        self.tool_group = QButtonGroup(self)
        self.tool_group.setExclusive(True)
        self.tool_buttons: dict[Tool, QToolButton] = {}
        grid = QGridLayout()
        for i, (tool, name, text, key, tip) in enumerate(TOOLS):
            button = QToolButton(objectName=name, text=text, checkable=True)
            button.setToolTip(f"{tip}  ({key})")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(button.sizePolicy().horizontalPolicy().Expanding, button.sizePolicy().verticalPolicy())
            self.tool_group.addButton(button)
            self.tool_buttons[tool] = button
            button.toggled.connect(lambda on, tool=tool: on and self.set_tool(tool))
            grid.addWidget(button, i // 3, i % 3)
        self.tool_buttons[Tool.NAVIGATE].setChecked(True)

        self.class_combo = QComboBox(objectName="class_combo")
        self.class_combo.addItem("1  Blastomere", BLASTOMERE)
        self.class_combo.addItem("2  Fragment", FRAGMENT)
        self.class_combo.currentIndexChanged.connect(self._class_changed)
        self.brush_size_spin = QSpinBox(objectName="brush_size_spin", minimum=1, maximum=MAX_BRUSH, suffix=" px")
        self.brush_size_spin.setValue(controller.editor.brush_size)
        self.brush_size_spin.valueChanged.connect(self._size_changed)

        self.action_undo = controller.undo_group.createUndoAction(self, "Undo")
        self.action_undo.setObjectName("action_undo")
        self.action_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.action_redo = controller.undo_group.createRedoAction(self, "Redo")
        self.action_redo.setObjectName("action_redo")
        self.action_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        undo_button = self._action_button(self.action_undo, "Undo", "undo_button")
        redo_button = self._action_button(self.action_redo, "Redo", "redo_button")
        self.from_model_button = QPushButton("From model", objectName="start_from_model_button")
        self.from_model_button.setToolTip("Replace this frame's mask by the model's mask, then correct it")
        self.from_model_button.clicked.connect(controller.start_from_model)
        self.clear_button = QPushButton("Clear", objectName="clear_mask_button")
        self.clear_button.setToolTip("Erase the whole mask of this frame (undoable)")
        self.clear_button.clicked.connect(controller.clear)
        edits = QHBoxLayout()
        for w in (undo_button, redo_button, self.from_model_button, self.clear_button):
            edits.addWidget(w)
        self.save_status_label = QLabel("", objectName="save_status_label")
        self.save_status_label.setWordWrap(True)
        controller.saveStatusChanged.connect(self._show_save_status)

        form = QFormLayout(self)
        form.addRow(grid)
        form.addRow("Class", self.class_combo)
        form.addRow("Brush", self.brush_size_spin)
        form.addRow(edits)
        form.addRow(self.save_status_label)
        self._add_key_actions()
        self.set_enabled_for_editing(False)

    @staticmethod
    def _action_button(action: QAction, text: str, name: str) -> QPushButton:
        """A short button for an action whose own text names the step ("Undo Brush stroke", in the tooltip)."""
        button = QPushButton(text, objectName=name)
        button.clicked.connect(action.trigger)

        def sync() -> None:
            button.setEnabled(action.isEnabled())
            button.setToolTip(action.text())

        action.changed.connect(sync)
        sync()
        return button

    def _add_key_actions(self) -> None:
        """Tool letters, 1/2 for the class, [ and ] for the brush size (window-wide, as painters expect)."""
        keys = [(key, lambda _checked=False, tool=tool: self.set_tool(tool)) for tool, _n, _t, key, _tip in TOOLS]
        keys += [
            ("1", lambda: self.class_combo.setCurrentIndex(0)),
            ("2", lambda: self.class_combo.setCurrentIndex(1)),
            ("[", lambda: self.brush_size_spin.setValue(self.brush_size_spin.value() - 1)),
            ("]", lambda: self.brush_size_spin.setValue(self.brush_size_spin.value() + 1)),
        ]
        self.key_actions: list[QAction] = []
        for key, slot in keys:
            action = QAction(self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.key_actions.append(action)

    def set_tool(self, tool: Tool) -> None:
        button = self.tool_buttons[tool]
        if not button.isChecked():
            button.setChecked(True)  # re-enters through toggled
            return
        self.controller.editor.set_tool(tool)

    def _class_changed(self, index: int) -> None:
        self.controller.draw_class = int(self.class_combo.itemData(index))

    def _size_changed(self, size: int) -> None:
        self.controller.editor.brush_size = size

    def _show_save_status(self, message: str, ok: bool) -> None:
        self.save_status_label.setText(message)
        self.save_status_label.setStyleSheet("color: #2e7d32;" if ok else "color: #b00020; font-weight: 600;")

    def set_enabled_for_editing(self, editable: bool) -> None:
        """Tools only where a mask can be saved (a project); the reason is in the tooltip otherwise."""
        for tool, button in self.tool_buttons.items():
            button.setEnabled(editable or tool is Tool.NAVIGATE)
        for w in (self.from_model_button, self.clear_button, self.class_combo, self.brush_size_spin):
            w.setEnabled(editable)
        self.setToolTip("" if editable else "Open or create a project to correct masks (File ▸ New project)")
        if not editable:
            self.set_tool(Tool.NAVIGATE)
