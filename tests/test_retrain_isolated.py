"""The window's retrain in a child process: the same candidate, progress and endings as a run in-process."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from embryograde_app.core.project.registry import RetrainError
from embryograde_app.core.project.store import ProjectStore
from embryograde_app.core.training import retraining as rt
from embryograde_app.core.training.isolated import retrain_in_child_process
from models.training.loop import TrainingCancelled


def _settings(project, **kw) -> rt.RetrainSettings:
    base = {"project": str(project), "epochs": 2, "batch_size": 4, "device": "cpu", "views": 1, "val_fraction": 0.34}
    base.update(kw)
    return rt.RetrainSettings(**base)


def _active(project) -> str:
    with ProjectStore(project) as store:
        return store.active_model()["version"]


def test_a_child_process_retrain_gives_the_candidate_its_progress_and_its_device(project):
    updates, devices = [], []
    candidate = retrain_in_child_process(_settings(project), updates.append, None, devices.append)
    assert os.path.exists(candidate.weights) and candidate.parent_version == _active(project) == "tiny-test"
    assert [u.epoch for u in updates if u.epoch_end] == [1, 2] and updates[-1].fraction == 1.0
    assert devices and devices[0].startswith("cpu")
    assert set(candidate.after) >= {"mae_pct", "dice_fragment"}


def test_a_stop_reaches_the_child_and_comes_back_as_the_cancellation(project):
    seen = []
    with pytest.raises(TrainingCancelled):
        retrain_in_child_process(
            _settings(project, stage="1", stage1_epochs=50, patience=100, generator_frames=4),
            seen.append,
            lambda: sum(u.epoch_end for u in seen) >= 1,
        )
    assert _active(project) == "tiny-test"
    assert not [p for p in (project / "models" / "candidates").glob("*.safetensors")]


def test_the_child_s_own_error_comes_back_as_that_error(tmp_path, tiny_weights):
    """Too few labels is a RetrainError raised in the child: the caller sees the same type and message."""
    from embryograde_app.core.project.registry import ensure_active_model

    root = tmp_path / "empty"
    with ProjectStore.create(root) as store:
        ensure_active_model(store, tiny_weights)
    with pytest.raises(RetrainError, match="at least 2 frames"):
        retrain_in_child_process(_settings(root))


def test_a_child_killed_outright_is_a_clear_error_not_a_hang(project, monkeypatch):
    """A child that dies without a word (the OOM killer, kill -9) ends the run with its exit, not a wait."""
    import multiprocessing

    started = []
    original = multiprocessing.context.SpawnProcess.start

    def start_then_remember(self):
        original(self)
        started.append(self)

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", start_then_remember)
    timer = threading.Timer(3.0, lambda: os.kill(started[0].pid, signal.SIGKILL))
    timer.start()
    try:
        with pytest.raises(RetrainError, match="killed by signal 9"):
            retrain_in_child_process(_settings(project, stage="1", stage1_epochs=500, patience=1000))
    finally:
        timer.cancel()
    assert _active(project) == "tiny-test"
