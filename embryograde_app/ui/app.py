"""Starting the GUI: QApplication, the last project (or the demo), the main window."""

from __future__ import annotations

import sys
from pathlib import Path


def run_gui(project: str | None = None, demo: str | None = None) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from embryograde_app import heap
    from embryograde_app.ui import create_main_window

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("EmbryoGrade")
    app.setOrganizationName("EmbryoGrade")
    settings = QSettings("EmbryoGrade", "EmbryoGrade")
    path = project
    if path is None:
        last = settings.value("last_path")
        path = last if last and Path(str(last)).exists() else None
    grade_demo = False
    if path is None and demo:
        from embryograde_app.core.project.demo import ensure_demo_project, needs_grading

        print(f"preparing the demo project in {demo} …", file=sys.stderr)
        path = str(ensure_demo_project(demo))
        grade_demo = needs_grading(path)
    window = create_main_window(path, settings=settings)
    window.show()
    heap.enable()
    heap.settle("start-up")  # Qt, pyqtgraph and the window are here to stay (embryograde_app/heap.py)
    if grade_demo:  # first launch: the bundled model grades the demo in the background
        window.project_actions.grade_all()
    return app.exec()
