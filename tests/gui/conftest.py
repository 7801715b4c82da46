"""GUI tests run offscreen with settings isolated in a temporary INI file."""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def collect_the_last_tests_windows(qapp):
    """The windows of earlier tests are deleted and their garbage collected here, between tests, while no worker
    thread runs: left to Python's own timing, a full collection of many dead windows' wrappers fell in the
    middle of a later test's retrain and twice crashed the process (a segmentation fault while collecting)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    yield


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """A modal message box offscreen waits forever for a click: answer it instead and keep what it said.

    Tests that care about the answer patch QMessageBox again after this."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []

    def answer(default):
        def box(parent, title, text, *args, **kwargs):
            shown.append(f"{title}: {text}")
            return default

        return box

    monkeypatch.setattr(QMessageBox, "warning", answer(QMessageBox.StandardButton.Discard))
    monkeypatch.setattr(QMessageBox, "critical", answer(QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "information", answer(QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    yield shown
    # A box nobody expected (say "Corrections not saved" at close) is a finding, not something to click away.
    # A test that expects one empties the list after looking at it.
    assert not shown, f"unexpected message box(es): {shown}"


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@dataclass(frozen=True)
class FakePrediction:
    mask: np.ndarray
    fraction: float
    attention: np.ndarray
    fragment_prob: np.ndarray | None = None

    @property
    def regression_pct(self) -> float:
        return 100.0 * self.fraction


class FakePredictor:
    """Numpy stand-in for models.inference.predictor.Predictor: deterministic, optionally slow, no torch."""

    version = "fake-1"
    device = "cpu"

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.calls = 0
        self.intervals: list[tuple[float, float]] = []  # (start, end) of each predict call

    def predict(self, frames):
        out = []
        for frame in frames:
            self.calls += 1
            start = time.perf_counter()
            time.sleep(self.delay_s)
            self.intervals.append((start, time.perf_counter()))
            mask = np.zeros(frame.shape, np.uint8)
            mask[frame > 120] = 1
            mask[frame > 200] = 2
            attention = (frame / 255.0).astype(np.float32)
            out.append(FakePrediction(mask, 0.42, attention, (mask == 2).astype(np.float32)))
        return out


@pytest.fixture
def fake_predictor():
    return FakePredictor()


@pytest.fixture
def make_window(qtbot, settings):
    from embryograde_app.ui import create_main_window

    windows = []

    def make(path, predictor=None):
        win = create_main_window(
            path, settings=settings, predictor_factory=(lambda _settings: predictor) if predictor else None
        )
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.close()


@pytest.fixture
def window(make_window, tiny_dataset, fake_predictor):
    return make_window(tiny_dataset, fake_predictor)
