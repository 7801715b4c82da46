"""The main window: embryo list, time-lapse navigator, linked views and readouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from embryograde_app.core.domain.schemes import frag_pct
from embryograde_app.core.io.frames import FrameReadError, NoFramesError
from embryograde_app.core.project.collection import Collection, EmbryoEntry, open_collection
from embryograde_app.core.project.records import set_person
from embryograde_app.core.project.registry import resolve_weights
from embryograde_app.core.view.readouts import person_answer
from embryograde_app.core.view.requests import LruCache, neighbour_order
from embryograde_app.ui.embryo_list import EmbryoList
from embryograde_app.ui.image_views import LinkedViews
from embryograde_app.ui.preferences import read_colours, read_scheme
from embryograde_app.ui.shortcuts import add_help_menu
from embryograde_app.ui.view_toolbar import MASK_AUTO, MASK_MODEL, MASK_STORED, ViewToolbar
from embryograde_app.ui.window_actions import build_actions

PLAY_INTERVAL_MS = 120
LEFT_PANEL_WIDTH = 175  # embryo names and grades on two lines; the views keep the rest
TRAINING_DOCK_WIDTH = 400  # opened beside the side panel; the image views keep the rest
PREFETCH_RADIUS = 3  # frames on each side inferred after the one on screen
PREDICTION_CACHE = 512  # predictions kept (masks + attention of ~500 frames at 500x500: about 250 MB)


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, predictor_factory=None, weights: str | None = None):
        super().__init__()
        self.setObjectName("main_window")
        self.setWindowTitle("EmbryoGrade")
        self.settings = settings or QSettings("EmbryoGrade", "EmbryoGrade")
        self.collection: Collection | None = None
        self.scheme = read_scheme(self.settings)
        set_person(str(self.settings.value("reviewer_name", "") or ""))  # recorded with reviews and corrections
        self.predictions: LruCache = LruCache(PREDICTION_CACHE)
        self.inference = None
        self._frame_shape: tuple[int, int] | None = None  # of the frame on screen
        self._shown_mask: np.ndarray | None = None  # the mask overlay on screen, redrawn when the display changes
        self._framed_embryo: str | None = None  # the embryo the views were last framed on
        self._predictor_factory = predictor_factory
        self.weights_override = weights  # the user's file: used until a publish or rollback replaces it
        found = resolve_weights(weights)  # the user's file, else the bundled one (None: not installed)
        self._weights = str(found) if found is not None else None
        self._build_widgets()
        from embryograde_app.ui.project_actions import ProjectActions

        self.project_actions = ProjectActions(self)
        self.project_actions.task_finished.connect(self._on_task_finished)
        from embryograde_app.ui.training_panel import TrainingPanel

        self.training_panel = TrainingPanel(self.settings, regrade=self.project_actions.grade_all, parent=self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.training_panel)
        self.training_panel.model_changed.connect(self.use_model)
        self.training_panel.hide()  # opened from the Training menu; the views keep their width until then
        dock_width = [TRAINING_DOCK_WIDTH]
        self.training_panel.visibilityChanged.connect(
            lambda shown: shown and self.resizeDocks([self.training_panel], dock_width, Qt.Orientation.Horizontal)
        )
        build_actions(self)
        self.menuBar().addMenu("&Training").addAction(self.training_panel.toggle_action)
        add_help_menu(self)  # the last menu
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(PLAY_INTERVAL_MS)
        self.play_timer.timeout.connect(self._advance_playback)
        self.resize(1500, 760)

    # ------------------------------------------------------------------------------------ building
    def _build_widgets(self) -> None:
        self.embryo_list = EmbryoList()
        self.embryo_list.currentRowChanged.connect(self._on_embryo_changed)
        self.focal_combo = QComboBox(objectName="focal_combo")
        self.focal_combo.setToolTip("Focal plane")
        self.focal_combo.currentIndexChanged.connect(self._on_focal_changed)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("Embryos"))
        left_layout.addWidget(self.embryo_list, 1)
        left_layout.addWidget(QLabel("Focal plane"))
        left_layout.addWidget(self.focal_combo)

        self.views = LinkedViews()
        self.frame_slider = QSlider(Qt.Orientation.Horizontal, objectName="frame_slider")
        self.frame_slider.valueChanged.connect(self._on_frame_changed)
        self.play_button = QPushButton("Play", objectName="play_button")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._set_playing)
        self.frame_label = QLabel("—", objectName="frame_label")
        self.frame_label.setMinimumWidth(150)
        nav = QHBoxLayout()
        nav.addWidget(self.play_button)
        nav.addWidget(self.frame_slider, 1)
        nav.addWidget(self.frame_label)
        from embryograde_app.ui.timecourse import TimeCoursePlot

        self.timecourse = TimeCoursePlot()
        self.timecourse.set_scheme(self.scheme)
        self.timecourse.setMinimumHeight(150)
        self.timecourse.frameClicked.connect(self._jump_to_frame_number)
        self._timecourse_timer = QTimer(self)
        self._timecourse_timer.setSingleShot(True)
        self._timecourse_timer.setInterval(250)  # predictions arrive in bursts: redraw once per burst
        self._timecourse_timer.timeout.connect(self._update_timecourse)
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.addWidget(self.views, 3)
        centre_layout.addLayout(nav)
        centre_layout.addWidget(self.timecourse, 1)

        from embryograde_app.ui.readouts_panel import ReadoutsBox

        readouts = self.readouts = ReadoutsBox(self.scheme)
        self.frag_pct_label, self.area_pct_label = readouts.frag_pct_label, readouts.area_pct_label
        self.grade_label, self.disagreement_label = readouts.grade_label, readouts.disagreement_label
        self.model_status, self.grade_caption = readouts.model_status, readouts.grade_caption
        self.view_toolbar = ViewToolbar(self.views, self.settings, self)  # placed by build_actions
        self.opacity_slider = self.view_toolbar.opacity_slider
        self.outline_combo = self.view_toolbar.outline_combo
        self.mask_source_combo = self.view_toolbar.mask_source_combo
        self.opacity_slider.valueChanged.connect(self._on_opacity_changed)
        self.outline_combo.currentIndexChanged.connect(self._on_outline_changed)
        self.mask_source_combo.currentIndexChanged.connect(lambda _i: self._show_overlays())
        self._build_correction_widgets()
        right_panel = QWidget()
        right_layout = QVBoxLayout(right_panel)
        right_layout.setContentsMargins(4, 4, 4, 4)  # every pixel counts at 1280x800: nothing may scroll
        right_layout.setSpacing(4)
        for box in (readouts, self.correction_panel, self.review_panel):
            right_layout.addWidget(box)
        right_layout.addStretch(1)
        self.problems_label = QLabel("", objectName="problems_label")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #b35900;")
        right_layout.addWidget(self.problems_label)
        right = QScrollArea(objectName="side_panel")
        right.setWidget(right_panel)
        right.setWidgetResizable(True)
        right.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right.setMinimumWidth(right_panel.sizeHint().width() + right.verticalScrollBar().sizeHint().width() + 4)
        right.setMaximumWidth(right.minimumWidth() + 60)  # extra width goes to the image views

        splitter = QSplitter()
        for widget, stretch in ((left, 0), (centre, 1), (right, 0)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        splitter.setSizes([LEFT_PANEL_WIDTH, 1000, 340])
        self.left_panel, self.side_panel = left, right  # View ▸ hides either; the splitter also collapses them
        self.setCentralWidget(splitter)
        self.views.opacity = self.opacity_slider.value() / 100

        self.views.colours = read_colours(self.settings)

    def _build_correction_widgets(self) -> None:
        """Drawing surface on the mask view, its controller and panels (editing needs a project)."""
        from embryograde_app.ui.correction_controller import CorrectionController
        from embryograde_app.ui.correction_panel import CorrectionPanel
        from embryograde_app.ui.mask_editor import EditorItem, Tool
        from embryograde_app.ui.review_panel import FrameContext, LabelReviewPanel

        self.editor = EditorItem()
        self.views.overlay_view.view_box.addItem(self.editor)
        self.corrections = CorrectionController(self.editor, self)
        self.corrections.maskChanged.connect(self._on_mask_edited)
        self.corrections.saveStatusChanged.connect(lambda _msg, _ok: self._timecourse_timer.start())
        self.correction_panel = CorrectionPanel(self.corrections)
        navigate = self.correction_panel.tool_buttons[Tool.NAVIGATE]
        navigate.toggled.connect(lambda on: on or self._show_edited_mask())  # draw on what is edited
        self.review_panel = LabelReviewPanel(
            lambda: FrameContext(
                self.collection.store if self.collection else None, self.current_embryo, self.frame_slider.value()
            ),
            lambda: self.collection.embryos if self.collection else [],
            lambda: self.corrections.undo_group.activeStack(),  # label changes undo like strokes (Ctrl+Z)
        )
        self.review_panel.set_scheme(self.scheme)
        self.review_panel.labelsChanged.connect(self._update_timecourse)
        self.review_panel.labelsChanged.connect(self._show_overlays)  # the readout shows the new answer at once
        self.review_panel.jumpRequested.connect(self._jump_to)

    # ------------------------------------------------------------------------------------ opening
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a time-lapse or dataset folder")
        if folder:
            self.open_path(folder)

    def open_path(self, path: str | Path) -> bool:
        """Open a layout-v1 dataset or a frame folder; a bad source is a message, never a crash."""
        unsaved = self.corrections.retry_saves()
        if unsaved and not self._confirm_losing(unsaved, "Open another and lose them?"):
            return False
        try:
            collection = open_collection(path)
        except (NoFramesError, OSError, ValueError) as exc:
            QMessageBox.warning(self, "Cannot open", str(exc))
            return False
        self.corrections.set_store(collection.store)  # last save retries go to the old store, still open
        if self.collection is not None and self.collection.store is not None:
            self.collection.store.close()
        self.collection = collection
        self._framed_embryo = None
        read_only = collection.store is not None and collection.store.read_only
        self.correction_panel.set_enabled_for_editing(collection.store is not None and not read_only)
        self.predictions.clear()
        self.training_panel.set_project(collection.root if collection.store is not None else None)
        # The model this source is graded with: the user's file, else the project's active model, else the
        # bundled one (what Grade all would register), never the model of the project opened before.
        weights = resolve_weights(self.weights_override, collection.store)
        if weights is not None and str(weights) != self._weights:
            self.use_model(str(weights))
        self._ensure_inference()
        self.project_actions.update_enabled()
        self.settings.setValue("last_path", str(Path(path).resolve()))
        self.setWindowTitle(f"EmbryoGrade — {Path(path).name}" + (" (read-only)" if read_only else ""))
        self.show_problems([str(p) for p in collection.problems])
        if read_only:  # an archived project: its grades and report, nothing that would write
            reason = collection.store.read_only_reason
            note = f"Project opened read-only: {reason}. View and export only.\n{self.problems_label.text()}"
            self.problems_label.setText(note.strip())
        self._fill_embryo_list(keep_row=False)
        self.embryo_list.setCurrentRow(0)
        return True

    def _person_answer(self, entry: EmbryoEntry, index: int):
        """What a person said about this frame (a corrected mask's %, else a range label), in a project."""
        store = self.collection.store if self.collection is not None else None
        return person_answer(store, entry.frame_id(index)) if store is not None else None

    def reload_project(self) -> None:
        """List the open project's frames again (after an import) on the same store connection: undo histories
        and corrections still waiting to be saved stay as they are, which reopening the project would drop."""
        from embryograde_app.core.project.collection import open_project_collection

        if self.collection is None or self.collection.store is None:  # a plain folder opened meanwhile
            return
        entry = self.current_embryo
        embryo_id = entry.embryo_id if entry is not None else None
        number = entry.frame_number(self.frame_slider.value()) if entry is not None and len(entry) else None
        self.collection = open_project_collection(self.collection.store)
        self.show_problems([str(p) for p in self.collection.problems])
        self._fill_embryo_list(keep_row=False)
        ids = [e.embryo_id for e in self.collection.embryos]
        self.embryo_list.setCurrentRow(ids.index(embryo_id) if embryo_id in ids else 0)
        entry = self.current_embryo
        index = entry.index_of(number) if entry is not None and number is not None else None
        if index is not None:
            self.frame_slider.setValue(index)

    def show_problems(self, problems: list[str]) -> None:
        """Skipped files, by name and reason, under the readouts (the rest of the data is open)."""
        more = "\n…" if len(problems) > 8 else ""
        text = f"{len(problems)} file(s) skipped:\n" + "\n".join(problems[:8]) + more if problems else ""
        self.problems_label.setText(text)

    def _fill_embryo_list(self, keep_row: bool = True) -> None:
        self.embryo_list.fill(self.collection, self.scheme, keep_row)

    def _on_task_finished(self, name: str, result) -> None:
        if name == "Grade all" and self.collection is None:
            self.training_panel.grading_finished(False)
        if self.collection is None:
            return
        if name == "Import" and result is not None:
            self.reload_project()
        elif name == "Grade all":
            self.training_panel.grading_finished(result is not None)
            self._fill_embryo_list()
            # One step per event-loop turn: the three took ~35 ms in one block with the repaint (worst gap of
            # the whole flow at 1600x1000); the event loop runs between them.
            QTimer.singleShot(0, self, self._update_timecourse)
            QTimer.singleShot(0, self, self._refresh)

    # ------------------------------------------------------------------------------------ navigation
    @property
    def current_embryo(self) -> EmbryoEntry | None:
        row = self.embryo_list.currentRow()
        if self.collection is None or not 0 <= row < len(self.collection):
            return None
        return self.collection.embryos[row]

    def _on_embryo_changed(self, row: int) -> None:
        entry = self.current_embryo
        if entry is None:
            return
        self.focal_combo.blockSignals(True)
        self.focal_combo.clear()
        for plane in entry.planes:
            name = "single plane" if plane is None else "central (0 µm)" if plane == 0 else f"{plane:+d} µm"
            self.focal_combo.addItem(name, plane)
        self.focal_combo.setCurrentIndex(list(entry.planes).index(entry.focal_plane))
        self.focal_combo.blockSignals(False)
        if entry.embryo_id != self._framed_embryo:  # not when the list is refilled under the same embryo
            self._framed_embryo = entry.embryo_id
            self.views.frame_embryo_when_shown()
        self._reset_slider(entry)
        self._update_timecourse()

    def _on_focal_changed(self, index: int) -> None:
        entry = self.current_embryo
        if entry is None or index < 0:
            return
        frame_number = entry.frame_number(self.frame_slider.value()) if len(entry) else None
        entry.focal_plane = self.focal_combo.itemData(index)
        self._reset_slider(entry, frame_number)
        self._update_timecourse()

    def _reset_slider(self, entry, frame_number: int | None = None) -> None:
        """Range for the shown plane; stay on the same frame number when the plane has it."""
        index = entry.index_of(frame_number) if frame_number is not None else None
        self.frame_slider.blockSignals(True)
        self.frame_slider.setRange(0, max(len(entry) - 1, 0))
        self.frame_slider.setValue(index or 0)
        self.frame_slider.blockSignals(False)
        self._on_frame_changed(self.frame_slider.value())

    def step_frame(self, delta: int) -> None:
        self.frame_slider.setValue(min(max(self.frame_slider.value() + delta, 0), self.frame_slider.maximum()))

    def step_embryo(self, delta: int) -> None:
        if self.embryo_list.count():
            row = min(max(self.embryo_list.currentRow() + delta, 0), self.embryo_list.count() - 1)
            self.embryo_list.setCurrentRow(row)

    def _set_playing(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self.play_timer.start()
        else:
            self.play_timer.stop()

    def _advance_playback(self) -> None:
        if self.frame_slider.value() >= self.frame_slider.maximum():
            self.play_button.setChecked(False)
        else:
            self.step_frame(1)

    def _on_frame_changed(self, index: int) -> None:
        entry = self.current_embryo
        if entry is None or not len(entry):
            return
        number = entry.frame_number(index)
        hours = entry.time_h(index)
        when = f" · {hours:.1f} h" if hours is not None else ""
        self.frame_label.setText(f"frame {number}{when}  ({index + 1}/{len(entry)})")
        self.timecourse.set_current(number)
        try:
            image = entry.sequence.read_uint8(index)
        except FrameReadError as exc:
            self.problems_label.setText(str(exc))
            return
        key = self._key(entry, index)
        self.corrections.set_frame(entry.frame_id(index), lambda: getattr(self.predictions.get(key), "mask", None))
        self.editor.set_image_shape(*image.shape[:2])
        self._frame_shape = image.shape[:2]
        self.views.show_image(image)
        self._show_overlays()
        self._request_predictions(entry, index)

    def _show_overlays(self) -> None:
        """Mask, attention map and readouts of the frame on screen: all a new prediction or mask choice changes."""
        entry = self.current_embryo
        if entry is None or not len(entry) or self._frame_shape is None:
            return
        index = self.frame_slider.value()
        stored = self.corrections.working_mask(entry.frame_id(index))
        if stored is None:
            stored = entry.mask(index)
        if stored is not None and stored.shape != self._frame_shape:
            stored = None
        pred = self.predictions.get(self._key(entry, index))
        source = self.mask_source_combo.currentIndex()
        model_mask = pred.mask if pred is not None else None
        if source == MASK_MODEL:
            mask = model_mask if model_mask is not None else stored  # the stored mask until the model has run
        elif source == MASK_STORED:
            mask = stored
        else:  # per frame: what a person (or the dataset) says, else the model
            mask = stored if stored is not None else model_mask
        self._shown_mask = mask
        self.views.show_mask(mask)
        self.views.show_attention(pred.attention if pred else None, pred.fragment_prob if pred else None)
        self.readouts.show_frame(pred, mask, entry.label(index), self._person_answer(entry, index))
        self.review_panel.show_frame(frag_pct(stored) if stored is not None else None)

    def _on_mask_edited(self, frame_id: int) -> None:
        """Redraw only the mask overlay and the readouts while a correction is drawn."""
        entry = self.current_embryo
        if entry is None or not len(entry) or entry.frame_id(self.frame_slider.value()) != frame_id:
            return
        entry.invalidate_mask(self.frame_slider.value())  # the stored mask is being rewritten
        mask = self.corrections.working_mask(frame_id)
        if self._show_edited_mask():  # redrew the overlays once, with this mask
            return
        self._shown_mask = mask
        self.views.show_mask(mask)
        pred = self.predictions.get(self._key(entry, self.frame_slider.value()))
        index = self.frame_slider.value()
        self.readouts.show_frame(pred, mask, entry.label(index), self._person_answer(entry, index))
        self.review_panel.show_mask_pct(frag_pct(mask))  # no store queries per mouse move

    def _show_edited_mask(self) -> bool:
        """Drawing shows the mask being drawn: from "Model" back to "Corrected, else model" (which shows it on
        this frame and keeps the model's on frames nobody corrected); True when that redrew the overlays."""
        if self.mask_source_combo.currentIndex() != MASK_MODEL:
            return False
        self.mask_source_combo.setCurrentIndex(MASK_AUTO)
        return True

    def _jump_to(self, row: int, index: int) -> None:
        if row != self.embryo_list.currentRow():
            self.embryo_list.setCurrentRow(row)
        self.frame_slider.setValue(index)

    def _refresh(self) -> None:
        self._on_frame_changed(self.frame_slider.value())

    # ------------------------------------------------------------------------------------ time course
    def _update_timecourse(self) -> None:
        """% per frame of the current embryo: the project's graded frames, else what the window has inferred."""
        entry = self.current_embryo
        if entry is None:
            self.timecourse.set_series([], [], None)
            return
        from embryograde_app.core.project.summaries import embryo_series

        series = embryo_series(entry, self.collection.store, self.predictions.get)
        self.timecourse.set_series(series.numbers, series.model, series.area, series.hours)
        self.timecourse.set_labels(series.marks)
        if len(entry):
            self.timecourse.set_current(entry.frame_number(self.frame_slider.value()))

    def _jump_to_frame_number(self, number: int) -> None:
        entry = self.current_embryo
        index = entry.index_of(number) if entry is not None else None
        if index is not None:
            self.frame_slider.setValue(index)

    # ------------------------------------------------------------------------------------ inference
    @staticmethod
    def _key(entry, index: int) -> tuple:
        return (entry.embryo_id, entry.focal_plane, entry.frame_number(index))

    def _ensure_inference(self) -> None:
        """Start the background model once; without weights the window still browses and shows masks."""
        if self.inference is not None:
            return
        if self._weights is None and self._predictor_factory is None:
            self.model_status.setText("no model weights found: masks from the dataset only")
            return
        from embryograde_app.workers import InferenceService, InferenceSettings

        self.model_status.setText("loading the model…")
        settings = InferenceSettings(weights=str(self._weights), device=str(self.settings.value("device", "auto")))
        self.inference = InferenceService(settings, self._predictor_factory, parent=self)
        self.inference.worker.ready.connect(self._on_model_ready)
        self.inference.worker.predicted.connect(self._on_predicted)
        self.inference.worker.failed.connect(self._on_prediction_failed)
        self.inference.start()

    def use_model(self, weights: str) -> None:
        """A published or rolled-back model (or the project's own): restart the background model with it."""
        self._weights, self.weights_override = weights, None
        if self.inference is not None:
            self.inference.retire()
            self.inference = None
        self.predictions.clear()
        self._ensure_inference()
        self._refresh()

    def _request_predictions(self, entry, index: int) -> None:
        if self.inference is None:
            return
        from embryograde_app.workers import FrameRequest

        seq = entry.sequence
        wanted = [
            FrameRequest(self._key(entry, i), lambda seq=seq, i=i: seq.read_uint8(i))
            for i in neighbour_order(index, len(entry), PREFETCH_RADIUS)
            if self._key(entry, i) not in self.predictions
        ]
        self.inference.submit(wanted)

    def _from_current_model(self) -> bool:
        """Whether the signal being handled comes from the model in use, not from one retired since (a frame
        or a load it had in hand when a publish, rollback or device change replaced it)."""
        return self.inference is not None and self.sender() is self.inference.worker

    def _on_model_ready(self, text: str) -> None:
        if self._from_current_model():
            self.model_status.setText(text)

    def _on_predicted(self, pred) -> None:
        if self.collection is None or not self._from_current_model():  # after the window closed, or stale
            return
        self.predictions.put(pred.key, pred)
        self._timecourse_timer.start()
        entry = self.current_embryo
        if entry is not None and len(entry) and pred.key == self._key(entry, self.frame_slider.value()):
            self._show_overlays()

    def _on_prediction_failed(self, key, message: str) -> None:
        if not self._from_current_model():
            return
        if key is None:  # the model did not load: its thread is idle and must still be ended
            self.model_status.setText(message)
            if self.inference is not None:
                self.inference.retire()
                self.inference = None
        else:
            self.problems_label.setText(message)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        unsaved = self.corrections.retry_saves()
        if unsaved and not self._confirm_losing(unsaved, "Close and lose them?"):
            event.ignore()
            return
        self._timecourse_timer.stop()
        self.play_timer.stop()
        if self.inference is not None:
            self.inference.shutdown()
            self.inference = None
        from embryograde_app.workers import wait_for_retired_inference

        wait_for_retired_inference()
        self.project_actions.runner.cancel()
        self.project_actions.runner.wait()
        self.training_panel.shutdown()
        if self.collection is not None and self.collection.store is not None:
            self.collection.store.close()
        self.collection = None
        super().closeEvent(event)

    def _confirm_losing(self, unsaved, question: str) -> bool:
        answer = QMessageBox.warning(
            self,
            "Corrections not saved",
            f"{len(unsaved)} corrected mask(s) could not be saved: {unsaved[0].last_error}\n\n{question}",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    # ------------------------------------------------------------------------------------ preferences
    def show_preferences(self) -> None:
        from embryograde_app.ui.preferences import PreferencesDialog

        dialog = PreferencesDialog(self.settings, self)
        if dialog.exec():
            dialog.save()
            self.apply_preferences()

    def apply_preferences(self) -> None:
        """Re-read QSettings: scheme, colours, opacity, device (a new device restarts the model worker)."""
        self.scheme = read_scheme(self.settings)
        set_person(str(self.settings.value("reviewer_name", "") or ""))
        self.readouts.set_scheme(self.scheme)
        self.timecourse.set_scheme(self.scheme)
        self.review_panel.set_scheme(self.scheme)
        self.views.colours = read_colours(self.settings)
        self.opacity_slider.setValue(int(float(self.settings.value("overlay_opacity", 45))))
        device = str(self.settings.value("device", "auto"))
        restart = self.inference is not None and self.inference.worker.settings.device != device
        if restart:
            self.inference.retire()
            self.inference = None
            self.predictions.clear()
            self._ensure_inference()
        if self.collection is not None:
            self._fill_embryo_list()
        if restart:
            self._refresh()  # the predictions are gone: ask for them again
        else:
            self._show_overlays()  # new colours or scheme

    # ------------------------------------------------------------------------------------ display
    def _on_opacity_changed(self, value: int) -> None:
        self.views.opacity = value / 100
        self.settings.setValue("overlay_opacity", value)
        self.views.show_mask(self._shown_mask)

    def _on_outline_changed(self, index: int) -> None:
        self.views.outline = index == 1
        self.views.show_mask(self._shown_mask)
