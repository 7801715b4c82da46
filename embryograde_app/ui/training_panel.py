"""The training dock: retrain from the project's corrections, watch the losses, compare, publish or discard, roll back.

Training runs on a RetrainRunner thread; publishing and rolling back (file checks, one SQLite transaction)
run on a TaskRunner. The panel owns no model: it tells the window through model_changed when the active
model is a different file, and asks it to re-grade the project in the background.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from embryograde_app.core.project.records import current_user
from embryograde_app.core.project.registry import NO_HELD_OUT_OVERRIDE, Candidate, discard, model_versions
from embryograde_app.core.training.retraining import STAGES, RetrainSettings
from embryograde_app.ui.preferences import read_scheme
from embryograde_app.workers import RetrainRunner, TaskRunner, TaskSpec

TRAIN_COLOUR = "#4fa3ff"
VAL_COLOUR = "#ff9f43"
METRIC_ROWS = [
    ("mae_pct", "MAE (%)"),
    ("range_violation_rate", "Range violations"),
    ("dice_fragment", "Fragment Dice"),
    ("dice_blastomere", "Blastomere Dice"),
]
PHASE_TEXT = {
    "features": "Computing features of new frames (cached for next time)…",
    "stage 1": "Stage 1, segmentation",
    "stage 2": "Stage 2, grading head",
    "stage refine": "Boundary refiner, mask edges",
    "evaluate": "Comparing with the model in use on held-out embryos…",
}


def _publish_job(candidate: Candidate, override: str | None, progress, should_stop) -> str:
    from embryograde_app.core.project.registry import publish

    return str(publish(candidate, override=override))


def _rollback_job(project: str, version: str, progress, should_stop) -> str:
    from embryograde_app.core.project.registry import rollback

    return str(rollback(project, version))


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


class TrainingPanel(QDockWidget):
    """Retrain button, progress, loss curves, before/after metrics, publish/discard and the model versions."""

    model_changed = Signal(str)  # weights file of the newly active model

    def __init__(self, settings: QSettings, regrade: Callable[[], bool] | None = None, parent=None):
        super().__init__("Training", parent)
        self.setObjectName("training_dock")
        self.settings = settings
        self._regrade = regrade
        self._regrading = False  # a publish started a re-grade whose end the status line must report
        self.project: str | None = None
        self.candidate: Candidate | None = None
        self._publishing: Candidate | None = None
        self._versions: list = []
        self._active_version: str | None = None
        self.runner = RetrainRunner(self)
        self.runner.device_chosen.connect(self._on_device)
        self.runner.progress.connect(self._on_progress)
        self.runner.epoch_finished.connect(self._on_epoch)
        self.runner.finished.connect(self._on_candidate)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.tasks = TaskRunner(self)
        self.tasks.finished.connect(self._on_model_switched)
        self.tasks.failed.connect(self._on_switch_failed)
        self._losses: dict[str, list[float]] = {"train": [], "val": []}
        self._loss_stage: str | None = None  # the stage of the last plotted epoch
        self._stage_marks: list[pg.InfiniteLine] = []
        self._build()
        self._update_enabled()
        self.toggle_action = self.toggleViewAction()
        self.toggle_action.setText("&Retrain and model versions")
        self.toggle_action.setObjectName("action_training_panel")
        self.toggle_action.setShortcut("Ctrl+T")

    # ------------------------------------------------------------------------------------ building
    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        form = QFormLayout()
        self.stage_combo = QComboBox(objectName="train_stage_combo")
        self.stage_combo.addItem("Grading head (fast)", "2")
        self.stage_combo.addItem("Segmentation + grading (slow)", "1")
        self.stage_combo.addItem("Mask edges (boundary refiner)", "refine")
        self.stage_combo.setToolTip("\n".join(STAGES.values()))
        self.epochs_spin = QSpinBox(objectName="train_epochs_spin")
        self.epochs_spin.setRange(1, 500)
        self.epochs_spin.setValue(30)
        self.device_label = QLabel(objectName="train_device_label")
        self.device_label.setWordWrap(True)
        form.addRow("Train", self.stage_combo)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Device", self.device_label)
        layout.addLayout(form)

        buttons = QHBoxLayout()
        self.retrain_button = QPushButton("Retrain", objectName="retrain_button")
        self.retrain_button.setToolTip("Train on this project's corrected masks and range labels")
        self.retrain_button.clicked.connect(lambda: self.start_retrain())
        self.cancel_button = QPushButton("Cancel", objectName="cancel_button")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.retrain_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.train_progress = QProgressBar(objectName="train_progress")
        self.train_progress.setRange(0, 1000)
        self.train_progress.setFormat("%p %")
        self.status_label = QLabel("", objectName="train_status_label")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.train_progress)
        layout.addWidget(self.status_label)

        self.loss_plot = pg.PlotWidget(background="#151515")
        self.loss_plot.setObjectName("loss_plot")
        self.loss_plot.setMinimumHeight(140)
        plot = self.loss_plot.getPlotItem()
        plot.setMenuEnabled(False)
        plot.setLabel("bottom", "epoch")
        plot.setLabel("left", "loss")
        plot.addLegend(offset=(-8, 6))
        self.train_curve = plot.plot(
            [], [], pen=pg.mkPen(TRAIN_COLOUR, width=1.5), name="train (all losses)", connect="finite"
        )
        self.val_curve = plot.plot(
            [],
            [],
            connect="finite",
            pen=pg.mkPen(VAL_COLOUR, width=1.5),
            symbol="o",
            symbolSize=4,
            symbolBrush=VAL_COLOUR,
            name="held-out (grading)",  # stage 2 validates the grading error only; training adds mask losses
        )
        layout.addWidget(self.loss_plot, 1)

        self.metrics_table = QTableWidget(len(METRIC_ROWS), 2, objectName="train_metrics_table")
        self.metrics_table.setHorizontalHeaderLabels(["In use", "New"])
        self.metrics_table.setVerticalHeaderLabels([name for _, name in METRIC_ROWS])
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.setMaximumHeight(150)
        layout.addWidget(QLabel("Held-out embryos"))
        layout.addWidget(self.metrics_table)
        self.warnings_label = QLabel("", objectName="train_warnings_label")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #b35900;")
        layout.addWidget(self.warnings_label)
        decision = QHBoxLayout()
        self.publish_button = QPushButton("Publish", objectName="publish_button")
        self.publish_button.setToolTip("Make the new model the one in use and re-grade the project")
        self.publish_button.clicked.connect(lambda: self.publish())
        self.discard_button = QPushButton("Discard", objectName="discard_button")
        self.discard_button.clicked.connect(self.discard)
        decision.addWidget(self.publish_button)
        decision.addWidget(self.discard_button)
        layout.addLayout(decision)

        layout.addWidget(QLabel("Model versions"))
        self.versions_table = QTableWidget(0, 4, objectName="model_versions_table")
        self.versions_table.setHorizontalHeaderLabels(["Version", "Parent", "MAE %", "Created"])
        self.versions_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.versions_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.versions_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.versions_table.itemSelectionChanged.connect(self._update_enabled)
        self.rollback_button = QPushButton("Use selected version", objectName="rollback_button")
        self.rollback_button.setToolTip("Roll back (or forward) to the selected model version")
        self.rollback_button.clicked.connect(lambda: self.rollback())
        layout.addWidget(self.versions_table, 1)
        layout.addWidget(self.rollback_button)
        self.setWidget(body)
        self._show_device(None)

    # ------------------------------------------------------------------------------------ state
    @property
    def busy(self) -> bool:
        return self.runner.busy or self.tasks.busy

    def _update_enabled(self) -> None:
        idle = self.project is not None and not self.busy
        self.retrain_button.setEnabled(idle and self.candidate is None)
        if self.project is None:
            tip = "Open a project first"
        elif self.candidate is not None:
            tip = "Publish or discard the new model first"
        else:
            tip = "Train on this project's corrected masks and range labels"
        self.retrain_button.setToolTip(tip)
        self.cancel_button.setEnabled(self.runner.busy)
        self.stage_combo.setEnabled(not self.runner.busy)
        self.publish_button.setEnabled(idle and self.candidate is not None)
        self.discard_button.setEnabled(idle and self.candidate is not None)
        version = self.selected_version()
        self.rollback_button.setEnabled(idle and version is not None and version != self._active_version)

    def _show_device(self, described: str | None) -> None:
        wanted = str(self.settings.value("device", "auto"))
        if described is None and wanted == "auto":
            described = "auto (CUDA, then MPS, else CPU)"
        self.device_label.setText(described or wanted)

    def _say(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #b00020;" if error else "")

    def set_project(self, project: str | Path | None) -> None:
        """Follow the window's project: its model versions (the window asks the registry which weights it uses)."""
        project = str(project) if project is not None else None
        if project != self.project:
            self.runner.shutdown()  # a run for another project must not publish here
            if self.candidate is not None:
                discard(self.candidate)
                self.candidate = None
            self._reset_run_views()
        self.project = project
        self.refresh_versions()
        self._update_enabled()

    def refresh_versions(self) -> None:
        self._versions = model_versions(self.project) if self.project else []
        self._active_version = next((v.version for v in self._versions if v.active), None)
        table = self.versions_table
        table.setRowCount(len(self._versions))
        for row, v in enumerate(reversed(self._versions)):  # newest first
            mae = v.metrics.get("after", {}).get("mae_pct")
            state = ("  ● in use" if v.active else "") + ("" if v.path.is_file() else "  ✕ file missing")
            cells = [
                v.version + state,
                v.parent_version or "—",
                _fmt(mae),
                time.strftime("%Y-%m-%d %H:%M", time.localtime(v.created_at)),
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, v.version)
                table.setItem(row, col, item)
        table.resizeColumnsToContents()

    def selected_version(self) -> str | None:
        items = self.versions_table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def select_version(self, version: str) -> None:
        for row in range(self.versions_table.rowCount()):
            if self.versions_table.item(row, 0).data(Qt.ItemDataRole.UserRole) == version:
                self.versions_table.selectRow(row)

    # ------------------------------------------------------------------------------------ run
    def retrain_settings(self, **overrides) -> RetrainSettings:
        """A frozen copy of what the run needs, made here on the main thread."""
        epochs = self.epochs_spin.value()
        settings = RetrainSettings(
            project=self.project,
            stage=str(self.stage_combo.currentData()),
            epochs=epochs,
            stage1_epochs=epochs,
            device=str(self.settings.value("device", "auto")),
            scheme=read_scheme(self.settings).key,
        )
        return replace(settings, **overrides)

    def start_retrain(self, **overrides) -> bool:
        if self.project is None or self.busy or self.candidate is not None:
            return False
        if not self.runner.start(self.retrain_settings(**overrides)):
            return False
        self._reset_run_views()
        self._say("Starting…")
        self.train_progress.setRange(0, 0)
        self._update_enabled()
        return True

    def cancel(self) -> None:
        self.runner.cancel()
        self._say("Cancelling after the current batch…")

    def shutdown(self) -> None:
        """The window is closing: stop a run (no candidate is left) and drop an undecided candidate."""
        self.runner.shutdown()
        self.tasks.wait()
        if self.candidate is not None:
            discard(self.candidate)
            self.candidate = None

    def _reset_run_views(self) -> None:
        self._losses = {"train": [], "val": []}
        self._loss_stage = None
        for mark in self._stage_marks:
            self.loss_plot.removeItem(mark)
        self._stage_marks.clear()
        self.train_curve.setData([], [])
        self.val_curve.setData([], [])
        self.train_progress.setRange(0, 1000)
        self.train_progress.setValue(0)
        self.metrics_table.clearContents()
        self.warnings_label.setText("")

    def _on_device(self, described: str) -> None:
        self._show_device(described)

    def _on_progress(self, update) -> None:
        if update.phase != "features":
            self.train_progress.setRange(0, 1000)
            self.train_progress.setValue(int(1000 * update.fraction))
        text = PHASE_TEXT.get(update.phase, update.phase)
        if update.epochs:
            text += f": epoch {update.epoch}/{update.epochs}, train loss {update.train_loss:.4f}"
        self._say(text)

    def _on_epoch(self, stage: str, epoch: int, train_loss: float, val_loss: float) -> None:
        if self._loss_stage is not None and stage != self._loss_stage:
            # A new stage has losses of its own kind and scale: break the curves and mark where it starts,
            # or the jump would read as the run diverging.
            self._losses["train"].append(math.nan)
            self._losses["val"].append(math.nan)
            mark = pg.InfiniteLine(
                pos=len(self._losses["train"]),
                angle=90,
                pen=pg.mkPen("#777777", style=Qt.PenStyle.DashLine),
                label=f"stage {stage}",
                labelOpts={"position": 0.9, "color": "#bbbbbb"},
            )
            self.loss_plot.addItem(mark)
            self._stage_marks.append(mark)
        self._loss_stage = stage
        self._losses["train"].append(train_loss)
        # Without a held-out embryo training reports its own loss as the validation loss: drawing it under
        # "held-out" would claim a check that never happened, so that curve stays empty and the status says so.
        unvalidated = val_loss == train_loss
        self._losses["val"].append(math.nan if unvalidated else val_loss)
        if unvalidated and epoch == 1:
            self._say("No held-out embryo: the curve is the training loss only (label at least 2 embryos).")
        x = list(range(1, len(self._losses["train"]) + 1))
        self.train_curve.setData(x, self._losses["train"])
        self.val_curve.setData(x, self._losses["val"])

    def _on_candidate(self, candidate: Candidate) -> None:
        if candidate.project != self.project:  # finished just as the window moved to another project
            discard(candidate)
            return
        self.candidate = candidate
        self.refresh_versions()  # a first run registers the bundled model it started from
        self.train_progress.setRange(0, 1000)
        self.train_progress.setValue(1000)
        for row, (key, _name) in enumerate(METRIC_ROWS):
            for col, metrics in enumerate((candidate.before, candidate.after)):
                self.metrics_table.setItem(row, col, QTableWidgetItem(_fmt(metrics.get(key))))
        self.warnings_label.setText("\n".join(f"⚠ {w}" for w in candidate.warnings))
        cache = candidate.cache
        reused = f"; features reused for {cache['hits']}, computed for {cache['misses']}" if cache else ""
        self._say(
            f"New model {candidate.version} trained in {candidate.seconds:.0f} s on {candidate.device}{reused}. "
            "Publish it or discard it."
        )
        self._update_enabled()

    def _on_failed(self, message: str) -> None:
        self.train_progress.setRange(0, 1000)
        self._say(message, error=True)
        self._update_enabled()

    def _on_cancelled(self) -> None:
        self.train_progress.setRange(0, 1000)
        self.train_progress.setValue(0)
        self._say("Cancelled; the model in use is unchanged.")
        self._update_enabled()

    # ------------------------------------------------------------------------------------ decision
    def publish(self, ask: bool = True) -> bool:
        """Register and activate the candidate (after a confirmation when it did worse on something). Without a
        held-out embryo only the person's explicit override publishes it, and the override is recorded."""
        candidate = self.candidate
        if candidate is None or self.busy:
            return False
        override = None
        if not candidate.validated:
            if not ask:
                self._say("Not published: no held-out embryo measured this model (label at least 2 embryos).")
                return False
            answer = QMessageBox.question(
                self,
                "Publish without held-out evidence?",
                "No embryo was held out of this training, so nothing measured how the new model does on an embryo "
                "it has not seen. Publishing re-grades every frame with it.\n\nPublish anyway? The override is "
                "recorded with the model.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
            override = f"{NO_HELD_OUT_OVERRIDE} (by {current_user()})"
        elif ask and candidate.warnings:
            answer = QMessageBox.question(
                self,
                "Publish anyway?",
                "The new model did worse on held-out embryos:\n" + "\n".join(candidate.warnings),
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        self.candidate, self._publishing = None, candidate
        self._say(f"Publishing {candidate.version}…")
        started = self.tasks.start(TaskSpec("Publish", partial(_publish_job, candidate, override)))
        self._update_enabled()
        return started

    def discard(self) -> None:
        if self.candidate is None:
            return
        discard(self.candidate)
        self._say(f"Discarded {self.candidate.version}; the model in use is unchanged.")
        self.candidate = None
        self._reset_run_views()
        self._update_enabled()

    def rollback(self, version: str | None = None) -> bool:
        version = version or self.selected_version()
        if self.project is None or version is None or self.busy:
            return False
        self._say(f"Switching to {version}…")
        started = self.tasks.start(TaskSpec("Rollback", partial(_rollback_job, self.project, version)))
        self._update_enabled()
        return started

    def _on_switch_failed(self, message: str) -> None:
        """Publish or rollback refused (e.g. a changed file): the active model is unchanged."""
        if self._publishing is not None:  # still there to discard (or to publish again)
            self.candidate, self._publishing = self._publishing, None
        self._on_failed(message)

    def _on_model_switched(self, weights: str) -> None:
        self._publishing = None
        self.refresh_versions()
        self._update_enabled()
        self.model_changed.emit(weights)
        regrading = self._regrade is not None and self._regrade()
        self._regrading = regrading
        self._say(
            f"Now using {self._active_version}. "
            + ("Re-grading the project in the background." if regrading else "Re-grade with Grading ▸ Grade all.")
        )

    def grading_finished(self, completed: bool) -> None:
        """The window's Grade all ended: the re-grade note must not outlive it."""
        if self._regrading:
            self._regrading = False
            outcome = "The project is re-graded with it." if completed else "Re-grading stopped; Grading ▸ Grade all."
            self._say(f"Now using {self._active_version}. {outcome}")
