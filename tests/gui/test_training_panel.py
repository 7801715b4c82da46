"""The training dock: worker signals, publish + re-grade, rollback, cancel, failure and discard keep the old model."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressBar, QPushButton, QTableWidget

from embryograde_app.core.project.registry import CANDIDATES_DIR
from embryograde_app.core.project.store import ProjectStore

FAST = {"epochs": 3, "views": 1, "device": "cpu", "batch_size": 4, "val_fraction": 0.34, "generator_frames": 4}


def _active(project) -> str:
    with ProjectStore(project) as store:
        return store.active_model()["version"]


def _candidates(project) -> list:
    folder = project / CANDIDATES_DIR
    return list(folder.iterdir()) if folder.exists() else []


def _wait_grade_all(qtbot, window):
    with qtbot.waitSignal(window.project_actions.task_finished, timeout=120000) as done:
        pass
    assert done.args[0] == "Grade all"
    return done.args[1]


def test_retrain_signals_publish_regrade_and_rollback(make_window, project, fake_predictor, qtbot):
    window = make_window(project, fake_predictor)
    panel = window.training_panel
    window.training_panel.toggle_action.trigger()
    assert panel.isVisible()
    retrain = panel.findChild(QPushButton, "retrain_button")
    assert retrain.isEnabled() and not panel.findChild(QPushButton, "publish_button").isEnabled()
    runner = panel.runner
    epochs = []
    runner.epoch_finished.connect(lambda *args: epochs.append(args))
    with qtbot.waitSignal(runner.device_chosen, timeout=60000) as device:
        assert panel.start_retrain(**FAST)
        assert panel.cancel_button.isEnabled() and not retrain.isEnabled()
    assert device.args[0].startswith("cpu") and panel.device_label.text() == device.args[0]
    with qtbot.waitSignal(runner.finished, timeout=120000) as done:
        pass
    candidate = done.args[0]
    assert [(stage, epoch) for stage, epoch, _t, _v in epochs] == [("2", 1), ("2", 2), ("2", 3)]
    assert all(isinstance(t, float) and isinstance(v, float) for _s, _e, t, v in epochs)
    xs, ys = panel.train_curve.getData()
    assert list(xs) == [1, 2, 3] and list(ys) == [t for _s, _e, t, _v in epochs]
    assert panel.findChild(QProgressBar, "train_progress").value() == 1000
    table = panel.findChild(QTableWidget, "train_metrics_table")
    assert table.item(0, 0).text() == f"{candidate.before['mae_pct']:.3f}"
    assert table.item(0, 1).text() == f"{candidate.after['mae_pct']:.3f}"
    assert panel.publish_button.isEnabled() and not retrain.isEnabled()  # decide first
    assert _active(project) == "tiny-test"  # nothing changes before publishing

    with qtbot.waitSignal(panel.model_changed, timeout=30000) as changed:
        assert panel.publish(ask=False)
    assert changed.args[0].endswith(f"models/{candidate.version}.safetensors")
    assert window._weights == changed.args[0] and _active(project) == candidate.version
    assert panel.versions_table.rowCount() == 2 and "in use" in panel.versions_table.item(0, 0).text()
    assert "Re-grading the project in the background" in panel.status_label.text()
    summary = _wait_grade_all(qtbot, window)  # the published model re-grades the project in the background
    assert summary.model_version == candidate.version and summary.graded == 24
    assert "re-graded" in panel.status_label.text() and "background" not in panel.status_label.text()  # not stale
    assert retrain.isEnabled()

    panel.select_version("tiny-test")
    assert panel.selected_version() == "tiny-test" and panel.rollback_button.isEnabled()
    with qtbot.waitSignal(panel.model_changed, timeout=30000) as changed:
        qtbot.mouseClick(panel.rollback_button, Qt.MouseButton.LeftButton)
    assert changed.args[0].endswith("models/tiny-test.safetensors") and _active(project) == "tiny-test"
    assert _wait_grade_all(qtbot, window).model_version == "tiny-test"


def test_cancel_in_the_middle_keeps_the_old_model(make_window, project, fake_predictor, qtbot):
    window = make_window(project, fake_predictor)
    panel = window.training_panel
    panel.show()
    assert panel.start_retrain(**dict(FAST, stage="1", stage1_epochs=200, patience=1000))
    with qtbot.waitSignal(panel.runner.epoch_finished, timeout=60000):
        pass
    with qtbot.waitSignal(panel.runner.cancelled, timeout=60000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "unchanged" in panel.status_label.text()
    assert _active(project) == "tiny-test" and not _candidates(project)
    assert panel.retrain_button.isEnabled() and not panel.publish_button.isEnabled()


def test_failing_run_reports_and_keeps_the_old_model(make_window, project, fake_predictor, qtbot, monkeypatch):
    import torch

    import embryograde_app.workers as workers
    import models.training.stage2 as training

    monkeypatch.setattr(workers, "RETRAIN_IN_CHILD_PROCESS", False)  # the patch below lives in this process
    monkeypatch.setattr(training, "reg_loss", lambda fraction, lo, hi: fraction.sum() * torch.tensor(float("nan")))
    window = make_window(project, fake_predictor)
    panel = window.training_panel
    with qtbot.waitSignal(panel.runner.failed, timeout=60000) as failed:
        assert panel.start_retrain(**FAST)
    assert "loss became nan" in failed.args[0] and "unchanged" in failed.args[0]
    assert panel.status_label.text() == failed.args[0]
    assert _active(project) == "tiny-test" and not _candidates(project)
    assert panel.retrain_button.isEnabled()


def test_discard_and_closing_mid_run_leave_no_candidate(make_window, project, fake_predictor, qtbot):
    window = make_window(project, fake_predictor)
    panel = window.training_panel
    with qtbot.waitSignal(panel.runner.finished, timeout=120000):
        assert panel.start_retrain(**dict(FAST, epochs=1))
    assert len(_candidates(project)) == 4  # weights, sidecar, the run's owner note and its ONNX export
    qtbot.mouseClick(panel.discard_button, Qt.MouseButton.LeftButton)
    assert not _candidates(project) and panel.candidate is None and panel.retrain_button.isEnabled()

    assert panel.start_retrain(**dict(FAST, stage="1", stage1_epochs=200, patience=1000))
    with qtbot.waitSignal(panel.runner.epoch_finished, timeout=60000):
        pass
    window.close()  # stops the run at its next batch
    assert not panel.runner.busy and not _candidates(project) and _active(project) == "tiny-test"


def test_panel_without_a_project_is_idle(window):
    panel = window.training_panel  # the default window fixture opens a dataset folder, not a project
    assert panel.project is None and not panel.retrain_button.isEnabled()
    assert not panel.start_retrain()
    assert panel.versions_table.rowCount() == 0


def test_mask_edges_run_trains_the_boundary_refiner(make_window, project, fake_predictor, qtbot):
    """The dock's third choice: corrected contours train the boundary refiner alone."""
    window = make_window(project, fake_predictor)
    panel = window.training_panel
    combo = panel.stage_combo
    combo.setCurrentIndex(combo.findData("refine"))
    assert panel.retrain_settings().stage == "refine"
    runner = panel.runner
    epochs, texts = [], []
    runner.epoch_finished.connect(lambda *args: epochs.append(args))
    runner.progress.connect(lambda _u: texts.append(panel.status_label.text()))
    with qtbot.waitSignal(runner.finished, timeout=120000) as done:
        assert panel.start_retrain(**{**FAST, "epochs": 2})
    assert done.args[0].stage == "refine"
    assert [(stage, epoch) for stage, epoch, _t, _v in epochs] == [("refine", 1), ("refine", 2)]
    assert any(t.startswith("Boundary refiner") for t in texts)
    assert _active(project) == "tiny-test"
    panel.discard()


def test_the_loss_plot_breaks_and_marks_where_a_new_stage_starts(make_window, project, fake_predictor):
    """Stage 1's mask losses and stage 2's grading error differ in kind: one line across them would read as a jump."""
    import math

    panel = make_window(project, fake_predictor).training_panel
    for stage, epoch, loss in [("1", 1, 0.9), ("1", 2, 0.7), ("2", 1, 0.05), ("2", 2, 0.04)]:
        panel._on_epoch(stage, epoch, loss, loss)
    xs, ys = panel.train_curve.getData()
    assert list(xs) == [1, 2, 3, 4, 5] and math.isnan(ys[2]) and list(ys[3:]) == [0.05, 0.04]
    assert [mark.value() for mark in panel._stage_marks] == [3]
    panel._reset_run_views()
    assert panel._stage_marks == [] and len(panel.train_curve.getData()[0] or []) == 0


def test_a_version_whose_file_is_missing_says_so(make_window, project, fake_predictor):
    """The person choosing a version to roll back to sees which ones can no longer be used."""
    panel = make_window(project, fake_predictor).training_panel
    (project / "models" / "tiny-test.safetensors").rename(project / "moved-away.safetensors")
    panel.refresh_versions()
    assert panel.versions_table.item(0, 0).text() == "tiny-test  ● in use  ✕ file missing"


def test_publish_without_held_out_evidence_needs_the_persons_override(
    make_window, project, fake_predictor, qtbot, no_modal_dialogs
):
    from dataclasses import replace

    window = make_window(project, fake_predictor)
    panel = window.training_panel
    with qtbot.waitSignal(panel.runner.finished, timeout=120000) as done:
        assert panel.start_retrain(**FAST)
    unchecked = replace(done.args[0], data_summary={**done.args[0].data_summary, "val_embryos": []})
    panel.candidate = unchecked
    assert not panel.publish(ask=False) and _active(project) == "tiny-test"  # never without the person
    with qtbot.waitSignal(panel.model_changed, timeout=30000):
        assert panel.publish(ask=True)  # the box asks; the fixture answers Yes
    assert any("without held-out evidence" in text for text in no_modal_dialogs)
    no_modal_dialogs.clear()
    with ProjectStore(project) as store:
        row = next(r for r in store.models() if r["version"] == unchecked.version)
    assert "held-out evidence" in row["metrics"] and _active(project) == unchecked.version
    _wait_grade_all(qtbot, window)
