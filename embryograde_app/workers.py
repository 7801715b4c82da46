"""The only place where Qt meets torch: QObject workers on QThreads.

The GUI thread never runs the network. It copies what a run needs into a frozen dataclass, hands it to a
worker living in its own QThread, and gets typed results back through queued signals. Errors, including
GPU out-of-memory, become messages; the window keeps working.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from embryograde_app import heap
from embryograde_app.core.domain.schemes import frag_pct
from embryograde_app.core.view.overlays import attention_index
from embryograde_app.core.view.requests import ReplaceableQueue

if TYPE_CHECKING:
    from embryograde_app.core.training.retraining import RetrainSettings


@dataclass(frozen=True)
class InferenceSettings:
    """Copied on the main thread when the service starts."""

    weights: str
    device: str = "auto"


@dataclass(frozen=True)
class FrameRequest:
    key: Hashable
    read: Callable[[], np.ndarray]  # called on the worker thread (readers are thread-safe)


@dataclass(frozen=True)
class FramePrediction:
    """One frame's result, display-ready: built on the worker thread, so the GUI thread only looks it up."""

    key: Hashable
    mask: np.ndarray  # uint8 class ids at frame size
    attention: np.ndarray  # uint8 0..255 (= gate value x 255) at frame size; 0..1 floats are converted
    regression_pct: float
    area_pct: float
    model_version: str
    fragment_prob: np.ndarray | None = None  # uint8 0..255 (probability x 255), like attention

    def __post_init__(self) -> None:
        # Quantised here (a quarter of float32's memory in the prediction cache, and the heat map's table
        # index as it is); read-only because the cache and the views share the arrays.
        object.__setattr__(self, "attention", attention_index(self.attention))
        if self.fragment_prob is not None:
            object.__setattr__(self, "fragment_prob", attention_index(self.fragment_prob))
        for array in (self.mask, self.attention, self.fragment_prob):
            if array is not None:
                array.flags.writeable = False


def load_predictor(weights, device: str):
    """Predictor.from_file, on a worker thread, for the window's model and Grade all alike; then the heap is
    settled (torch and the network live as long as their user: never scan them again)."""
    from models.inference.predictor import Predictor

    predictor = Predictor.from_file(weights, device)
    heap.settle("model loaded")
    return predictor


BACKGROUND_NICE = 10  # Linux niceness added to the inference and retraining threads


def _yield_the_cpu_to_the_gui() -> None:
    """Inference is background work: when the cores are contended the event loop goes first.

    Qt's LowPriority is a no-op for Linux's default scheduler, so there the thread's niceness is raised (Linux
    gives each thread its own); elsewhere QThread.LowPriority, set by InferenceService and RetrainRunner, does
    the job."""
    import os
    import sys

    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE, 19))
        except OSError:
            pass  # not allowed here: inference still runs, only at normal priority


OUT_OF_MEMORY = "The GPU ran out of memory; choose the CPU in Preferences or close other GPU programs."


def describe_error(exc: BaseException) -> str:
    """A message a person can act on, for the errors a grading, import or training run can meet."""
    import sqlite3
    import sys

    torch = sys.modules.get("torch")  # a failure before torch loaded cannot be torch's: don't load it to ask
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return OUT_OF_MEMORY
    if isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower():  # MPS, older CUDA paths
        return OUT_OF_MEMORY
    if isinstance(exc, sqlite3.Error):
        from embryograde_app.core.project.records import describe_database_error

        return describe_database_error(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        from embryograde_app.core.io.atomic import describe_os_error

        return describe_os_error(exc)
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError | OSError) else str(exc)


class InferenceWorker(QObject):
    """Runs the predictor on requested frames, the most urgent first, until stopped."""

    ready = Signal(str)  # "model version on device"
    predicted = Signal(object)  # FramePrediction
    failed = Signal(object, str)  # request key (None: the model itself), message

    def __init__(self, settings: InferenceSettings, predictor_factory: Callable | None = None):
        super().__init__()
        self.settings = settings
        self.queue: ReplaceableQueue[FrameRequest] = ReplaceableQueue()
        self._stop = threading.Event()
        self._factory = predictor_factory
        self._loaded = threading.Event()
        self._working = threading.Event()

    @property
    def idle(self) -> bool:
        """The model is loaded and nothing is being or waiting to be inferred (benchmarks wait for it). A request
        just taken from the queue may read as idle for an instant: wait for idle to last, not for one reading."""
        return self._loaded.is_set() and not self._working.is_set() and not len(self.queue)

    def submit(self, requests: list[FrameRequest]) -> None:
        """Thread-safe: replaces whatever was still pending (the user has moved on)."""
        self.queue.replace(requests)

    def stop(self) -> None:
        self._stop.set()
        self.queue.close()

    @Slot()
    def run(self) -> None:
        from models.inference.device import leave_a_core_for_the_gui

        _yield_the_cpu_to_the_gui()
        leave_a_core_for_the_gui()
        try:
            if self._factory is not None:
                predictor = self._factory(self.settings)
                heap.settle("model loaded")  # as load_predictor does
            else:
                predictor = load_predictor(self.settings.weights, self.settings.device)
        except Exception as exc:  # noqa: BLE001 - any failure to load becomes a message
            self.failed.emit(None, f"Cannot load the model: {describe_error(exc)}")
            return
        self.ready.emit(f"{predictor.version} on {predictor.device}")
        self._loaded.set()
        while not self._stop.is_set():
            request = self.queue.get(timeout=0.1)
            if request is None:
                continue
            self._working.set()
            try:
                self._infer(predictor, request)
            finally:
                self._working.clear()

    def _infer(self, predictor, request: FrameRequest) -> None:
        try:
            image = request.read()
            pred = predictor.predict([image])[0]
        except Exception as exc:  # noqa: BLE001 - reported per frame, the loop goes on
            self.failed.emit(request.key, describe_error(exc))
            return
        self.predicted.emit(
            FramePrediction(
                request.key,
                pred.mask,
                pred.attention,
                pred.regression_pct,
                frag_pct(pred.mask),
                predictor.version,
                getattr(pred, "fragment_prob", None),
            )
        )


_RETIRED: list[tuple[QThread, QObject]] = []  # inference threads stopped but perhaps still in a load or a frame


def wait_for_retired_inference(timeout_ms: int = 30000) -> None:
    """Wait for retired inference threads (window closing): destroying a running QThread aborts the process."""
    for thread, _worker in _RETIRED:
        thread.wait(timeout_ms)
    _RETIRED[:] = [(t, w) for t, w in _RETIRED if t.isRunning()]


class InferenceService(QObject):
    """Owns the worker's QThread: start once, submit often, retire or shut down."""

    def __init__(self, settings: InferenceSettings, predictor_factory: Callable | None = None, parent=None):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("inference_thread")
        self.worker = InferenceWorker(settings, predictor_factory)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)

    def start(self) -> None:
        self.thread.start(QThread.Priority.LowPriority)

    def submit(self, requests: list[FrameRequest]) -> None:
        self.worker.submit(requests)

    def retire(self) -> None:
        """Stop without waiting (a model or device switch, a failed load): the GUI thread must not block on the
        frame or the model load in hand. The thread is kept referenced until it ends on its own."""
        self.worker.stop()
        self.thread.quit()
        for signal in (self.worker.ready, self.worker.predicted, self.worker.failed):
            try:
                signal.disconnect()  # results still on the way are for a model no longer in use
            except (RuntimeError, TypeError):
                pass  # nothing was connected
        _RETIRED[:] = [(t, w) for t, w in _RETIRED if t.isRunning()]  # drop those that have ended
        _RETIRED.append((self.thread, self.worker))

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop and wait (window closing). A model load cannot be interrupted: past the timeout the thread is
        retired instead, and ends once the load returns and sees the stop flag."""
        self.worker.stop()
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            self.retire()


@dataclass(frozen=True)
class TaskSpec:
    """A background job: fn(progress, should_stop) -> result. fn must open its own resources (a store
    connection, a model) since it runs on the worker thread; its parameters are bound before it is queued."""

    name: str
    fn: Callable[[Callable[[int, int], None], Callable[[], bool]], object]


def import_job(project: str, sources: list[str], progress: Callable, should_stop: Callable[[], bool]):
    """Task: import sources into a project; a cancel stops between two frames and keeps what was imported."""
    from embryograde_app.core.project.frame_import import import_into_project

    return import_into_project(project, sources, progress, should_stop=should_stop)


def grade_job(
    project: str, scheme: str, device: str, weights: str | None, progress: Callable, should_stop: Callable[[], bool]
):
    """Task: grade every frame of a project with its active model (or ``weights``), stopping between batches."""
    from embryograde_app.core.grading.batch import grade_project

    _yield_the_cpu_to_the_gui()  # background work: a contended core goes to the event loop first
    return grade_project(
        project,
        partial(load_predictor, device=device),
        scheme,
        batch_size=8,  # as the command line's grade
        weights=weights,
        progress=progress,
        should_stop=should_stop,
    )


def export_job(project: str, out: str, scheme: str, progress: Callable, should_stop: Callable[[], bool]):
    """Task: the CSV grade report and its per-embryo summary."""
    from embryograde_app.core.project.csv_export import export_project_csv

    return export_project_csv(project, out, scheme)


def report_job(project: str, out: str, scheme: str, progress: Callable, should_stop: Callable[[], bool]):
    """Task: the printable per-embryo HTML report; returns (embryos written, the file)."""
    from embryograde_app.core.domain.schemes import get_scheme
    from embryograde_app.core.project.printable_report import write_embryo_report
    from embryograde_app.core.project.store import ProjectStore

    with ProjectStore(project) as store:
        return write_embryo_report(store, out, get_scheme(scheme)), out


class TaskWorker(QObject):
    """Runs one TaskSpec; progress and the outcome come back as typed, queued signals."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, spec: TaskSpec):
        super().__init__()
        self.spec = spec
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    @Slot()
    def run(self) -> None:
        try:
            result = self.spec.fn(self.progress.emit, self._stop.is_set)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message for the user
            self.failed.emit(f"{self.spec.name} failed: {describe_error(exc)}")
            return
        self.finished.emit(result)


class _WorkerThread(QObject):
    """One worker at a time on its own QThread: start, busy, cancel, wait, and cleanup when it ends.

    Subclasses say which worker to make and which of its signals end the run; the runner re-emits every
    ending signal after stopping the thread, so listeners may start the next run from their slot.
    """

    ending_signals: tuple[str, ...] = ("finished", "failed")
    forwarded_signals: tuple[str, ...] = ("progress",)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.thread: QThread | None = None
        self.worker: QObject | None = None

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

    def _launch(
        self, worker: QObject, name: str, priority: QThread.Priority = QThread.Priority.InheritPriority
    ) -> bool:
        if self.busy:
            return False
        self.thread = QThread()
        self.thread.setObjectName(name)
        self.worker = worker
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        for signal in self.forwarded_signals:
            getattr(worker, signal).connect(getattr(self, signal))
        for signal in self.ending_signals:  # bound methods: queued onto this object's thread
            getattr(worker, signal).connect(getattr(self, f"_on_{signal}"))
        self.thread.start(priority)
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def wait(self, timeout_ms: int = 30000) -> None:
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait(timeout_ms)

    def _end(self, signal: str, *args) -> None:
        self.thread.quit()
        self.thread.wait()
        self.thread = None
        self.worker = None
        getattr(self, signal).emit(*args)

    def _on_finished(self, result) -> None:
        self._end("finished", result)

    def _on_failed(self, message: str) -> None:
        self._end("failed", message)

    def _on_cancelled(self) -> None:
        self._end("cancelled")


class TaskRunner(_WorkerThread):
    """One background task at a time on its own QThread (import, grade all, export, publish, rollback)."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)

    def start(self, spec: TaskSpec) -> bool:
        return self._launch(TaskWorker(spec), f"task:{spec.name}")


# The window retrains in a child process (core/training/isolated.py): a thread of its own process shared the
# GIL with the event loop, which stalled 70-90 ms at a time. Tests that patch the training code run it here.
RETRAIN_IN_CHILD_PROCESS = True


class RetrainWorker(QObject):
    """Runs core.training.retraining.retrain for the window, in a child process by default (its thread only relays):
    typed progress, a stop flag checked between batches.

    The active model is never touched here; the outcome is a candidate (finished), a message (failed) or
    cancelled, and the window decides what to publish.
    """

    device_chosen = Signal(str)  # e.g. "cuda:0 (NVIDIA ...)" or "cpu (8 threads)"
    progress = Signal(object)  # core.training.retraining.RetrainUpdate
    epoch_finished = Signal(str, int, float, float)  # stage, epoch, train loss, validation loss
    finished = Signal(object)  # core.project.registry.Candidate
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, settings, in_child_process: bool | None = None):
        super().__init__()
        self.settings = settings  # a frozen RetrainSettings, copied on the main thread
        self.in_child_process = RETRAIN_IN_CHILD_PROCESS if in_child_process is None else in_child_process
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def _retrain_here(self):
        """The run on this thread (tests that patch the training code; CLI-like debugging)."""
        from embryograde_app.core.training.retraining import retrain
        from models.inference.device import describe_device, leave_a_core_for_the_gui, select_device

        _yield_the_cpu_to_the_gui()  # training is background work too: the window stays responsive
        leave_a_core_for_the_gui()
        heap.settle("training imports")
        self.device_chosen.emit(describe_device(select_device(self.settings.device)))
        return retrain(self.settings, self._on_update, self._stop.is_set)

    def _on_update(self, update) -> None:
        self.progress.emit(update)
        if update.epoch_end:
            self.epoch_finished.emit(update.stage, update.epoch, float(update.train_loss), float(update.val_loss))

    @Slot()
    def run(self) -> None:
        from embryograde_app.core.project.registry import RetrainError
        from embryograde_app.core.project.store import ProjectError
        from models.inference.weights import WeightsError
        from models.training.loop import TrainingCancelled, TrainingError

        try:
            if self.in_child_process:
                from embryograde_app.core.training.isolated import retrain_in_child_process

                candidate = retrain_in_child_process(
                    self.settings, self._on_update, self._stop.is_set, self.device_chosen.emit
                )
            else:
                candidate = self._retrain_here()
        except TrainingCancelled:
            self.cancelled.emit()
            return
        except (TrainingError, RetrainError, ProjectError, WeightsError) as exc:
            self.failed.emit(f"Retraining failed: {exc}. The model in use is unchanged.")
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message; the old model stays
            self.failed.emit(f"Retraining failed: {describe_error(exc)}. The model in use is unchanged.")
            return
        self.finished.emit(candidate)


class RetrainRunner(_WorkerThread):
    """One retraining run at a time on its own QThread; forwards the worker's signals."""

    device_chosen = Signal(str)
    progress = Signal(object)
    epoch_finished = Signal(str, int, float, float)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    ending_signals = ("finished", "failed", "cancelled")
    forwarded_signals = ("device_chosen", "progress", "epoch_finished")

    def start(self, settings: RetrainSettings) -> bool:
        return self._launch(RetrainWorker(settings), "retrain_thread", QThread.Priority.LowPriority)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel and wait (window closing): the run stops at its next batch and leaves no candidate."""
        self.cancel()
        self.wait(timeout_ms)
