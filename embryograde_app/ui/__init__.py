"""Qt widgets and windows (PySide6 + pyqtgraph)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from embryograde_app.ui.main_window import MainWindow
    from embryograde_app.workers import InferenceSettings


def create_main_window(
    project_path: str | Path | None = None,
    settings: QSettings | None = None,
    predictor_factory: Callable[[InferenceSettings], Any] | None = None,
    weights: str | None = None,
) -> MainWindow:
    """The shown-ready main window (a QApplication must exist); opens project_path when given.

    predictor_factory(settings) -> predictor replaces the bundled model (tests use a fake, slow one).
    """
    from embryograde_app.ui.main_window import MainWindow

    window = MainWindow(settings=settings, predictor_factory=predictor_factory, weights=weights)
    if project_path is not None:
        window.open_path(project_path)
    return window
