"""The window's menus, toolbar and keyboard actions, built in one place (main_window stays about the window's
state; the shortcut list in Help is read off these actions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from embryograde_app.ui.shortcuts import name_shortcuts_in_tooltips

if TYPE_CHECKING:
    from embryograde_app.ui.main_window import MainWindow


def build_actions(window: MainWindow) -> None:
    """File, Edit, View, Grading and Help menus, the project toolbar and the navigation keys."""
    window.action_open = QAction("&Open folder…", window, objectName="action_open")
    window.action_open.setShortcut(QKeySequence.StandardKey.Open)
    window.action_open.triggered.connect(window._choose_folder)
    menu = window.menuBar().addMenu("&File")
    pa = window.project_actions
    menu.addAction(pa.action_new_project)
    menu.addAction(window.action_open)
    menu.addSeparator()
    menu.addAction(pa.action_import)
    menu.addAction(pa.action_import_files)
    menu.addAction(pa.action_export_csv)
    menu.addAction(pa.action_export_report)
    menu.addSeparator()
    window.action_preferences = QAction("&Preferences…", window, objectName="action_preferences")
    window.action_preferences.triggered.connect(window.show_preferences)
    menu.addAction(window.action_preferences)
    menu.addSeparator()
    window.action_quit = QAction("&Quit", window, objectName="action_quit")
    window.action_quit.setShortcut(QKeySequence("Ctrl+Q"))  # the platform key can be empty (no desktop)
    window.action_quit.triggered.connect(window.close)  # closeEvent still asks about unsaved corrections
    menu.addAction(window.action_quit)
    edit = window.menuBar().addMenu("&Edit")
    edit.addAction(window.correction_panel.action_undo)
    edit.addAction(window.correction_panel.action_redo)
    window.action_undo = window.correction_panel.action_undo
    window.action_redo = window.correction_panel.action_redo
    window.addActions([window.action_undo, window.action_redo])
    window.addActions(window.correction_panel.key_actions + window.review_panel.key_actions)
    view = window.menuBar().addMenu("&View")
    window.action_zoom_embryo = QAction("&Zoom to the embryo", window, objectName="action_zoom_embryo")
    window.action_zoom_embryo.setShortcut(QKeySequence(Qt.Key.Key_Z))
    window.action_zoom_embryo.triggered.connect(lambda: window.views.zoom_to_embryo(window._shown_mask))
    window.action_whole_frame = QAction("&Whole frame", window, objectName="action_whole_frame")
    window.action_whole_frame.setShortcut(QKeySequence(Qt.Key.Key_0))
    window.action_whole_frame.triggered.connect(window.views.show_whole_frame)
    view.addActions([window.action_zoom_embryo, window.action_whole_frame])
    window.addActions([window.action_zoom_embryo, window.action_whole_frame])
    grading = window.menuBar().addMenu("&Grading")
    grading.addAction(pa.action_grade_all)
    grading.addAction(pa.action_timing)
    toolbar = window.addToolBar("Project")
    toolbar.setObjectName("project_toolbar")
    for action in (window.action_open, pa.action_import, pa.action_grade_all, pa.action_export_csv):
        toolbar.addAction(action)
    window.addToolBar(window.view_toolbar)
    window.addActions(window.view_toolbar.key_actions)  # the keys work with the toolbar hidden too
    view.addSeparator()
    view.addActions(window.view_toolbar.key_actions)
    view.addSeparator()
    for name, panel, key in (("Embryo list", window.left_panel, "F7"), ("Side panel", window.side_panel, "F8")):
        action = QAction(name, window, objectName=f"action_show_{name.lower().replace(' ', '_')}")
        action.setCheckable(True)
        action.setChecked(True)
        action.setShortcut(QKeySequence(key))
        action.toggled.connect(panel.setVisible)
        view.addAction(action)
        window.addAction(action)
    shortcuts = [
        ("Next frame", Qt.Key.Key_Right, lambda: window.step_frame(1)),
        ("Previous frame", Qt.Key.Key_Left, lambda: window.step_frame(-1)),
        ("Next embryo", Qt.Key.Key_Down, lambda: window.step_embryo(1)),
        ("Previous embryo", Qt.Key.Key_Up, lambda: window.step_embryo(-1)),
        ("First frame", Qt.Key.Key_Home, lambda: window.frame_slider.setValue(0)),
        ("Last frame", Qt.Key.Key_End, lambda: window.frame_slider.setValue(window.frame_slider.maximum())),
        ("Play / pause", Qt.Key.Key_Space, lambda: window.play_button.toggle()),
    ]
    for name, key, slot in shortcuts:
        action = QAction(name, window)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        window.addAction(action)
    name_shortcuts_in_tooltips(window)
