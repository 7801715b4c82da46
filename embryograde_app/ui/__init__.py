"""Qt widgets and windows (PySide6 + pyqtgraph)."""

from __future__ import annotations

from pathlib import Path


def create_main_window(project_path: str | Path | None = None, settings=None):
    """The shown-ready main window (a QApplication must exist); opens project_path when given."""
    from embryograde_app.ui.main_window import MainWindow

    window = MainWindow(settings=settings)
    if project_path is not None:
        window.open_path(project_path)
    return window
