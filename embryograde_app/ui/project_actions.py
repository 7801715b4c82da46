"""Project actions of the main window: new/open, import, grade all, export CSV — each long job on a TaskRunner.

Dialog slots only ask for paths; the work is in methods that take paths, so tests drive them directly.
Every job binds its parameters on the main thread and opens its own store connection on the worker thread.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressBar, QPushButton

from embryograde_app.ui.shortcuts import shortcut_tooltip
from embryograde_app.workers import TaskRunner, TaskSpec, export_job, grade_job, import_job, report_job


class ProjectActions(QObject):
    """Owns the project menu actions, the task progress bar and the cancel button."""

    task_finished = Signal(str, object)  # task name, result

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.runner = TaskRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self._task_name = ""

        self.action_new_project = QAction("&New project…", window, objectName="action_new_project")
        self.action_new_project.triggered.connect(self._choose_new_project)
        self.action_import = QAction("&Import folder…", window, objectName="action_import")
        self.action_import.setShortcut(QKeySequence("Ctrl+I"))
        self.action_import.triggered.connect(self._choose_import_folder)
        self.action_import_files = QAction("Import &files…", window, objectName="action_import_files")
        self.action_import_files.triggered.connect(self._choose_import_files)
        self.action_grade_all = QAction("&Grade all", window, objectName="action_grade_all")
        self.action_grade_all.setShortcut(QKeySequence("Ctrl+G"))
        self.action_grade_all.triggered.connect(self.grade_all)
        self.action_export_csv = QAction("&Export CSV report…", window, objectName="action_export_csv")
        self.action_export_csv.setShortcut(QKeySequence("Ctrl+E"))
        self.action_export_csv.triggered.connect(self._choose_export_csv)

        self.action_export_report = QAction("Export printable &report…", window, objectName="action_export_report")
        self.action_export_report.triggered.connect(self._choose_export_report)
        self.action_timing = QAction("Set &timing…", window, objectName="action_timing")
        self.action_timing.triggered.connect(self._choose_timing)

        self.progress_bar = QProgressBar(objectName="task_progress")
        self.progress_bar.setMaximumWidth(260)
        self.progress_bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel", objectName="task_cancel_button")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        window.statusBar().addPermanentWidget(self.progress_bar)
        window.statusBar().addPermanentWidget(self.cancel_button)
        self.update_enabled()

    @property
    def project(self) -> str | None:
        collection = self.window.collection
        return str(collection.root) if collection is not None and collection.store is not None else None

    def update_enabled(self) -> None:
        has_project, busy = self.project is not None, self.runner.busy
        actions = (self.action_import, self.action_import_files, self.action_grade_all, self.action_export_csv)
        for action in (*actions, self.action_timing, self.action_export_report):
            action.setEnabled(has_project and not busy)
            no_project = "Open or create a project first (File ▸ New project…)"
            action.setToolTip(shortcut_tooltip(action) if has_project else no_project)
        self.action_new_project.setEnabled(not busy)

    # ------------------------------------------------------------------------------------ dialogs
    def _choose_new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Choose an empty folder for the new project")
        if folder:
            self.new_project(folder)

    def _choose_import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Import frames, a layout-v1 dataset or labelme folder")
        if folder:
            self.import_paths([folder])

    def _choose_import_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self.window,
            "Import files",
            "",
            "Frames and annotations (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.avi *.mp4 *.mov *.mkv *.json);;"
            "All files (*)",
        )
        if files:
            self.import_paths(files)

    def _choose_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export the grade report", "grades.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _choose_export_report(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Printable report", "report.html", "HTML (*.html)")
        if path:
            self.export_report(path)

    def _choose_timing(self) -> None:
        from embryograde_app.ui.timing_dialog import TimingDialog

        target = self._timing_target()
        if target is None:
            return
        store, entry, embryo_ids = target
        timing = store.timings().get(embryo_ids[entry.embryo_id])
        dialog = TimingDialog(entry.embryo_id, len(entry), timing, self.window)
        if dialog.exec():
            self.set_timing(dialog.timing(), dialog.all_check.isChecked())

    def _timing_target(self):
        """(store, the embryo on screen, embryo key -> project id), or None outside a project."""
        collection, entry = self.window.collection, self.window.current_embryo
        if entry is None or collection is None or collection.store is None:
            return None
        store = collection.store
        return store, entry, {row["key"]: int(row["id"]) for row in store.embryos()}

    # ------------------------------------------------------------------------------------ work
    def set_timing(self, timing, every_embryo: bool = False) -> bool:
        """The current embryo's (or every embryo's) timing: hours for every frame, the time course in hours, the
        day-2 and day-3 grades in the embryo list and the report."""
        from embryograde_app.core.project.store import ProjectError

        target = self._timing_target()
        if target is None:
            return False
        store, entry, embryo_ids = target
        chosen = list(embryo_ids.values()) if every_embryo else [embryo_ids[entry.embryo_id]]
        try:
            store.set_timing(chosen, timing)
        except ProjectError as exc:
            QMessageBox.warning(self.window, "Set timing", str(exc))
            return False
        self.window.reload_project()
        return True

    def new_project(self, folder: str | Path) -> bool:
        from embryograde_app.core.project.store import ProjectError, ProjectStore

        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()) and not ProjectStore.is_project(folder):
            QMessageBox.warning(self.window, "New project", f"{folder} is not empty; choose an empty folder.")
            return False
        try:
            ProjectStore.create(folder).close()
        except (ProjectError, OSError) as exc:
            QMessageBox.warning(self.window, "New project", str(exc))
            return False
        self.window.open_path(folder)
        return True

    def _start(self, name: str, fn, cancellable: bool = True) -> bool:
        if self.project is None or not self.runner.start(TaskSpec(name, fn)):
            return False
        self._task_name = name
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat(f"{name}: %v / %m")
        self.progress_bar.setVisible(True)
        self.cancel_button.setVisible(cancellable)
        self.window.statusBar().showMessage(f"{name}…")
        self.update_enabled()
        return True

    def import_paths(self, paths: list[str]) -> bool:
        return self._start("Import", partial(import_job, self.project, [str(p) for p in paths]))

    def grade_all(self) -> bool:
        window = self.window
        weights = None if window.weights_override is None else str(window.weights_override)
        device = str(window.settings.value("device", "auto"))
        return self._start("Grade all", partial(grade_job, self.project, window.scheme.key, device, weights))

    def export_csv(self, path: str | Path) -> bool:
        # One quick pass over the store and an atomic write: nothing to cancel between.
        job = partial(export_job, self.project, str(path), self.window.scheme.key)
        return self._start("Export", job, cancellable=False)

    def export_report(self, path: str | Path) -> bool:
        """A page per embryo (day-2/3 grades, time course, the frames at 44 h and 68 h): open it and print."""
        job = partial(report_job, self.project, str(path), self.window.scheme.key)
        return self._start("Report", job, cancellable=False)

    def cancel(self) -> None:
        self.runner.cancel()
        self.window.statusBar().showMessage(f"{self._task_name}: cancelling after the current batch…")

    # ------------------------------------------------------------------------------------ outcome
    def _on_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)

    def _finish_ui(self) -> None:
        self.progress_bar.setVisible(False)
        self.cancel_button.setVisible(False)
        self.update_enabled()

    def _on_finished(self, result) -> None:
        name = self._task_name
        self._finish_ui()
        skipped = list(getattr(result, "skipped", []))
        if hasattr(result, "line"):
            message = result.line()
        elif name == "Export":
            message = f"wrote {result[0]} rows and {Path(result[1]).name}"
        elif name == "Report":
            message = f"wrote the report of {result[0]} embryo(s) to {result[1]}"
        else:
            message = "done"
        if getattr(result, "cancelled", False):
            message = "cancelled: " + message
        self.window.statusBar().showMessage(f"{name}: {message}", 15000)
        if skipped:
            self.window.show_problems(skipped)
        self.task_finished.emit(name, result)

    def _on_failed(self, message: str) -> None:
        self._finish_ui()
        self.window.statusBar().showMessage(message, 15000)
        QMessageBox.warning(self.window, self._task_name, message)
        self.task_finished.emit(self._task_name, None)
