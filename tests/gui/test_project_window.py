"""Project work in the window: new project, import, grade all (with cancel), export — all off the GUI thread."""

from __future__ import annotations

import csv
import io

from PySide6.QtWidgets import QListWidget, QProgressBar


def _wait_task(qtbot, window, name: str, timeout: int = 60000):
    with qtbot.waitSignal(window.project_actions.task_finished, timeout=timeout) as blocker:
        pass
    assert blocker.args[0] == name, blocker.args
    return blocker.args[1]


def test_new_project_import_grade_export(qtbot, settings, tmp_path, tiny_dataset, tiny_weights):
    from embryograde_app.ui import create_main_window

    window = create_main_window(settings=settings, weights=str(tiny_weights))
    qtbot.addWidget(window)
    window.show()
    pa = window.project_actions
    assert not pa.action_import.isEnabled()  # no project yet
    assert pa.new_project(tmp_path / "proj")
    assert pa.action_import.isEnabled() and pa.action_grade_all.isEnabled()

    with qtbot.waitSignal(pa.task_finished, timeout=60000) as done:
        assert pa.import_paths([str(tiny_dataset)])
        assert not pa.action_grade_all.isEnabled()  # one task at a time
    assert done.args[0] == "Import" and done.args[1].added_frames == 18
    embryo_list = window.findChild(QListWidget, "embryo_list")
    assert embryo_list.count() == 6

    with qtbot.waitSignal(pa.task_finished, timeout=120000) as done:
        assert pa.grade_all()
        assert window.findChild(QProgressBar, "task_progress").isVisible()
    assert done.args[0] == "Grade all" and done.args[1].graded == 18
    assert "grade" in embryo_list.item(0).text()

    out = tmp_path / "grades.csv"
    with qtbot.waitSignal(pa.task_finished, timeout=60000) as done:
        assert pa.export_csv(out)
        assert not pa.cancel_button.isVisible()  # a quick atomic write: nothing to cancel
    assert done.args[0] == "Export"
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert len(rows) == 18 and all(r["model_version"] == "tiny-test" for r in rows)
    window.close()


def test_cancel_grade_all_keeps_what_was_graded(qtbot, settings, tmp_path, tiny_dataset, tiny_weights):
    from embryograde_app.core.project.frame_import import import_into_project
    from embryograde_app.core.project.store import ProjectStore
    from embryograde_app.ui import create_main_window

    import_into_project(tmp_path / "proj", [tiny_dataset])
    window = create_main_window(tmp_path / "proj", settings=settings, weights=str(tiny_weights))
    qtbot.addWidget(window)
    window.show()
    pa = window.project_actions
    with qtbot.waitSignal(pa.task_finished, timeout=120000) as done:
        pa.grade_all()
        pa.cancel()
    summary = done.args[1]
    assert summary.cancelled or summary.graded == 18
    window.close()
    with ProjectStore(tmp_path / "proj") as store:
        assert store.integrity_check() == "ok"
        n = store.conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    assert n == summary.graded


def test_a_read_only_project_opens_for_viewing_and_says_so(make_window, project, fake_predictor, monkeypatch):
    from embryograde_app.core.project import store as store_mod
    monkeypatch.setattr(store_mod, "_writable", lambda root, db: False)
    window = make_window(project, fake_predictor)
    assert window.collection.store.read_only
    assert window.windowTitle().endswith("(read-only)")
    assert not window.correction_panel.class_combo.isEnabled()  # no tool that would write a mask
    assert window.problems_label.text().startswith("Project opened read-only: read-only (no write permission)")
    window.close()
