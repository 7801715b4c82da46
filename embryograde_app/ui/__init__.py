"""Qt widgets and windows (PySide6 + pyqtgraph)."""

from __future__ import annotations

from pathlib import Path


def create_main_window(
    project_path: str | Path | None = None, settings=None, predictor_factory=None, weights: str | None = None
):
    """The shown-ready main window (a QApplication must exist); opens project_path when given.

    predictor_factory(settings) -> predictor replaces the bundled model (tests use a fake, slow one).
    """
    from embryograde_app.ui.main_window import MainWindow

    window = MainWindow(settings=settings, predictor_factory=predictor_factory, weights=weights)
    if project_path is not None:
        window.open_path(project_path)
    return window
