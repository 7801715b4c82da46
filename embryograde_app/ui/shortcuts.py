"""Help ▸ Keyboard shortcuts, and shortcuts named in tooltips: read off the window's own actions, so the list
is never out of date (napari's keybindings dialog does the same from its registry)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QHeaderView, QMainWindow, QTableWidget, QTableWidgetItem, QVBoxLayout


def _keys(action: QAction) -> str:
    return ", ".join(
        s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty()
    )


def _name(action: QAction) -> str:
    return action.text().replace("&", "").rstrip("…").strip()


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str]]:
    """(what it does, keys) for every named action of the window that has a shortcut, sorted by name."""
    rows = {(_name(a), _keys(a)) for a in window.findChildren(QAction) if _keys(a) and _name(a)}
    return sorted(rows, key=lambda row: row[0].lower())


def shortcut_tooltip(action: QAction) -> str:
    """ "Grade all (Ctrl+G)": the action's name with its shortcut (just the name when it has none)."""
    keys = _keys(action)
    return f"{_name(action)} ({keys})" if keys else _name(action)


def name_shortcuts_in_tooltips(window: QMainWindow) -> None:
    """Every action's tooltip (toolbar buttons, menus) says its shortcut."""
    for action in window.findChildren(QAction):
        if _keys(action) and _name(action) and action.isEnabled():
            action.setToolTip(shortcut_tooltip(action))


class ShortcutsDialog(QDialog):
    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.setObjectName("shortcuts_dialog")
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 2, objectName="shortcuts_table")
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (name, keys) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(name))
            self.table.setItem(i, 1, QTableWidgetItem(keys))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        self.resize(460, 520)


def add_help_menu(window: QMainWindow) -> QAction:
    """Help ▸ Keyboard shortcuts (F1); returns its action."""
    action = QAction("&Keyboard shortcuts", window, objectName="action_shortcuts")
    action.setShortcut(QKeySequence("F1"))
    action.triggered.connect(lambda: ShortcutsDialog(window).exec())
    window.menuBar().addMenu("&Help").addAction(action)
    window.addAction(action)
    return action
