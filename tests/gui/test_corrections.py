"""Correction tools driven with the mouse and keyboard: exact pixels, undo/redo, autosave, labels, review."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSpinBox, QToolButton

from embryograde_app.core.view.editing import paint_segment, polygon_mask


@pytest.fixture
def project(tmp_path, tiny_dataset):
    """A project made from the tiny dataset with its masks removed from embryo 1 (nothing to start from)."""
    from embryograde_app.core.project.frame_import import import_into_project

    path = tmp_path / "proj"
    import_into_project(path, [tiny_dataset])
    return path


@pytest.fixture
def win(make_window, project, fake_predictor):
    window = make_window(project, fake_predictor)
    window.resize(1500, 900)
    window.action_whole_frame.trigger()  # the tests click all over the frame, not only on the embryo
    QTest.qWait(50)
    return window


@pytest.fixture
def bare_win(make_window, tmp_path, tiny_dataset, fake_predictor):
    """A project of one embryo's frames without any mask: what a person starts from on a new time-lapse."""
    from embryograde_app.core.project.frame_import import import_into_project

    project = tmp_path / "frames_only"
    import_into_project(project, [tiny_dataset / "frames" / "E001"])
    window = make_window(project, fake_predictor)
    window.resize(1500, 900)
    window.action_whole_frame.trigger()
    QTest.qWait(50)
    return window


def _viewport_pos(window, x: float, y: float):
    view = window.views.overlay_view
    return view.mapFromScene(view.view_box.mapViewToScene(QPointF(x, y)))


MOVE_INTERVAL_MS = 12  # pyqtgraph drops mouse moves closer than 10 ms (its mouseRateLimit of 100 Hz)


def _send_mouse(widget, kind, pos, buttons) -> None:
    """A mouse event with the button state set (QTest.mouseMove does not carry held buttons)."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    types = {"press": QEvent.Type.MouseButtonPress, "move": QEvent.Type.MouseMove}
    event = QMouseEvent(
        types.get(kind, QEvent.Type.MouseButtonRelease),
        QPointF(pos),
        QPointF(widget.mapToGlobal(pos)),
        Qt.MouseButton.NoButton if kind == "move" else Qt.MouseButton.LeftButton,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def _drag(window, points: list[tuple[float, float]]) -> None:
    viewport = window.views.overlay_view.viewport()
    positions = [_viewport_pos(window, x, y) for x, y in points]
    left = Qt.MouseButton.LeftButton
    _send_mouse(viewport, "move", positions[0], Qt.MouseButton.NoButton)
    _send_mouse(viewport, "press", positions[0], left)
    for pos in positions[1:]:
        QTest.qWait(MOVE_INTERVAL_MS)
        _send_mouse(viewport, "move", pos, left)
    _send_mouse(viewport, "release", positions[-1], Qt.MouseButton.NoButton)


def _click(window, x: float, y: float) -> None:
    viewport = window.views.overlay_view.viewport()
    pos = _viewport_pos(window, x, y)
    QTest.mouseMove(viewport, pos)
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)


def _current_frame_id(window) -> int:
    return window.current_embryo.frame_id(window.frame_slider.value())


def _stored_human(window, frame_id):
    store = window.collection.store
    revision = store.latest_mask(frame_id, ("human",))
    return None if revision is None else store.read_mask(revision)


def _tool(window, name):
    button = window.findChild(QToolButton, name)
    button.click()
    return button


def test_brush_stroke_paints_exactly_the_pixels_under_the_cursor_and_autosaves(win, qtbot):
    fid = _current_frame_id(win)
    before = win.current_embryo.mask(win.frame_slider.value()).copy()
    _tool(win, "tool_brush")
    win.findChild(QComboBox, "class_combo").setCurrentIndex(1)  # fragment
    win.findChild(QSpinBox, "brush_size_spin").setValue(3)
    _drag(win, [(10.5 + i, 20.5) for i in range(0, 31, 3)])
    expected = before.copy()
    paint_segment(expected, (20, 10), (20, 40), 3, 2)
    assert (win.corrections.working_mask(fid) == expected).all()
    assert (_stored_human(win, fid) == expected).all()  # saved on release, as a person's revision
    assert win.corrections.undo_group.activeStack().count() == 1  # the whole stroke is one step
    assert "Saved" in win.findChild(QLabel, "save_status_label").text()
    assert win.mask_source_combo.currentText() == "Corrected, else model"  # showing the mask being corrected
    qtbot.keyClick(win, Qt.Key.Key_Right)
    assert win.findChild(QLabel, "save_status_label").text() == ""  # "Saved (…)" was about the other frame
    qtbot.keyClick(win, Qt.Key.Key_Left)
    rgba = win.views.overlay_view.overlay.image
    assert rgba[20, 25, :3].tolist() == list(win.views.colours[2])


def test_eraser_fill_and_keys(win, qtbot):
    fid = _current_frame_id(win)
    before = win.current_embryo.mask(win.frame_slider.value()).copy()
    _tool(win, "tool_eraser")
    QTest.keyClick(win, Qt.Key.Key_BracketRight)  # 5 -> 6
    assert win.findChild(QSpinBox, "brush_size_spin").value() == 6
    QTest.keyClick(win, Qt.Key.Key_BracketLeft)
    QTest.keyClick(win, Qt.Key.Key_BracketLeft)  # 4
    _click(win, 48.3, 48.7)
    assert win.editor._cursor.isVisible() and win.editor._cursor.rect().width() == 4  # the size, as the cursor
    expected = before.copy()
    paint_segment(expected, (48, 48), (48, 48), 4, 0)
    assert (win.corrections.working_mask(fid) == expected).all()

    QTest.keyClick(win, Qt.Key.Key_2)
    assert win.findChild(QComboBox, "class_combo").currentIndex() == 1
    QTest.keyClick(win, Qt.Key.Key_F)  # the fill tool's shortcut
    assert win.editor.tool.value == "fill"
    _click(win, 1.5, 1.5)  # background corner: the whole connected background becomes fragment
    from embryograde_app.core.view.editing import flood_fill

    flood_fill(expected, 1, 1, 2)
    assert (win.corrections.working_mask(fid) == expected).all()
    assert (_stored_human(win, fid) == expected).all()


def test_polygon_by_clicks_and_lasso(win, qtbot):
    fid = _current_frame_id(win)
    before = win.current_embryo.mask(win.frame_slider.value()).copy()
    _tool(win, "tool_polygon")
    QTest.keyClick(win, Qt.Key.Key_1)
    with qtbot.waitSignal(win.editor.polygonFinished) as done:
        for x, y in [(20, 20), (60, 20), (60, 50), (20, 50)]:
            _click(win, x, y)
        _click(win, 20.2, 20.2)  # back on the first vertex closes it
    vertices = done.args[0]
    assert len(vertices) == 4
    expected = before.copy()
    expected[polygon_mask(expected.shape, vertices)] = 1
    assert (win.corrections.working_mask(fid) == expected).all()
    assert abs(int(polygon_mask(expected.shape, vertices).sum()) - 40 * 30) <= 72  # the 40x30 rectangle

    with qtbot.waitSignal(win.editor.polygonFinished) as lasso:
        _drag(win, [(70, 70), (85, 70), (85, 85), (70, 85), (70, 71)])
    expected[polygon_mask(expected.shape, lasso.args[0])] = 1
    assert (win.corrections.working_mask(fid) == expected).all()
    assert win.corrections.undo_group.activeStack().count() == 2


def test_undo_redo_through_many_steps_kept_per_frame(win, qtbot):
    fid0 = _current_frame_id(win)
    original = win.current_embryo.mask(0).copy()
    _tool(win, "tool_brush")
    win.findChild(QSpinBox, "brush_size_spin").setValue(1)
    states = [original.copy()]
    for i in range(110):
        _click(win, 2.5 + (i % 90), 5.5 + i // 90 * 40)
        states.append(win.corrections.working_mask(fid0).copy())
    stack = win.corrections.undo_group.activeStack()
    assert stack.count() == 110
    # another frame has its own history
    win.step_frame(1)
    fid1 = _current_frame_id(win)
    _click(win, 30.5, 30.5)
    assert win.corrections.undo_group.activeStack().count() == 1
    win.step_frame(-1)
    for i in range(110, 0, -1):
        win.action_undo.trigger()
        assert (win.corrections.working_mask(fid0) == states[i - 1]).all()
    assert not win.action_undo.isEnabled()
    assert (_stored_human(win, fid0) == original).all()
    for _ in range(60):
        win.action_redo.trigger()
    assert (win.corrections.working_mask(fid0) == states[60]).all()
    assert (_stored_human(win, fid0) == states[60]).all()
    QTest.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (win.corrections.working_mask(fid0) == states[59]).all()
    QTest.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (win.corrections.working_mask(fid0) == states[60]).all()
    assert _stored_human(win, fid1)[30, 30] == 1  # untouched by frame 0's undo


def test_edits_survive_closing_and_reopening(make_window, project, fake_predictor, qtbot):
    window = make_window(project, fake_predictor)
    fid = _current_frame_id(window)
    _tool(window, "tool_brush")
    window.findChild(QPushButton, "clear_mask_button").click()
    _drag(window, [(30.5, 30.5), (60.5, 30.5)])
    edited = window.corrections.working_mask(fid).copy()
    window.close()
    again = make_window(project, fake_predictor)
    assert again.current_embryo.frame_id(again.frame_slider.value()) == fid
    assert (again.current_embryo.mask(0) == edited).all()
    assert edited.sum() > 0 and (edited[edited > 0] == 1).all()


def test_a_failed_save_is_shown_retried_and_never_marked_saved(win, qtbot, monkeypatch):
    fid = _current_frame_id(win)
    store = win.collection.store
    real = store.add_mask_revision

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(store, "add_mask_revision", disk_full)
    monkeypatch.setattr("embryograde_app.ui.correction_controller.RETRY_MS", 100)
    win.corrections._retry.setInterval(100)
    _tool(win, "tool_brush")
    QTest.keyClick(win, Qt.Key.Key_2)  # fragment: the pixel is a blastomere, so the click changes it
    _click(win, 40.5, 40.5)
    status = win.findChild(QLabel, "save_status_label")
    assert "NOT SAVED" in status.text() and "No space left" in status.text()
    assert win.corrections.unsaved() and _stored_human(win, fid) is None
    qtbot.wait(300)
    assert "NOT SAVED" in status.text()  # retried, still failing, still visible
    monkeypatch.setattr(store, "add_mask_revision", real)
    qtbot.waitUntil(lambda: "Saved" in status.text() and "NOT" not in status.text(), timeout=3000)
    assert not win.corrections.unsaved()
    assert (_stored_human(win, fid) == win.corrections.working_mask(fid)).all()


def test_an_edit_that_fails_half_way_leaves_no_trace(win):
    fid = _current_frame_id(win)
    before = win.corrections.document().mask.copy()

    def half_done(mask):
        mask[:10] = 2
        raise RuntimeError("fill went wrong")

    with pytest.raises(RuntimeError):
        win.corrections.edit_whole(half_done, "Broken fill")
    assert (win.corrections.working_mask(fid) == before).all()
    assert not win.corrections.unsaved() and not win.action_undo.isEnabled()
    assert win.corrections.edit_whole(lambda mask: mask.__setitem__((slice(0, 2),), 2), "Fill")  # editing goes on
    assert win.action_undo.isEnabled()


def test_an_import_keeps_undo_histories_and_unsaved_corrections(win, qtbot, tmp_path, monkeypatch):
    """New frames are listed on the same store connection: nothing the person drew is dropped."""
    from embryograde_app.core.synth.generator import generate_dataset

    fid = _current_frame_id(win)
    store = win.collection.store
    real = store.add_mask_revision
    monkeypatch.setattr(store, "add_mask_revision", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    _tool(win, "tool_brush")
    QTest.keyClick(win, Qt.Key.Key_2)
    _click(win, 40.5, 40.5)
    assert win.corrections.unsaved()
    more = tmp_path / "more"
    generate_dataset(more, embryos=1, frames=2, size=64, seed=5)
    (more / "frames" / "E000").rename(tmp_path / "new-well")  # frames only, a new embryo
    with qtbot.waitSignal(win.project_actions.task_finished, timeout=60000) as done:
        assert win.project_actions.import_paths([str(tmp_path / "new-well")])
    assert done.args[1].added_frames == 2
    assert win.collection.store is store and win.embryo_list.count() == 7
    assert _current_frame_id(win) == fid  # still on the frame being corrected
    assert win.corrections.unsaved() and win.corrections.working_mask(fid)[40, 40] == 2
    assert win.corrections.undo_group.activeStack().count() == 1
    monkeypatch.setattr(store, "add_mask_revision", real)  # the window closes with nothing to ask


def test_opening_another_folder_asks_before_dropping_unsaved_corrections(win, tiny_dataset, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    store = win.collection.store
    real = store.add_mask_revision
    monkeypatch.setattr(store, "add_mask_revision", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    _tool(win, "tool_brush")
    QTest.keyClick(win, Qt.Key.Key_2)  # fragment over a blastomere pixel: a real change
    _click(win, 40.5, 40.5)
    assert win.corrections.unsaved()
    questions = []

    def answer(parent, title, text, buttons):
        questions.append(text)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "warning", answer)
    assert win.open_path(tiny_dataset) is False
    assert "disk full" in questions[0] and "Open another" in questions[0]
    assert win.collection.store is store and win.corrections.unsaved()
    monkeypatch.setattr(store, "add_mask_revision", real)  # the window closes with nothing to ask


def test_start_from_model_and_tools_need_a_project(make_window, project, tiny_dataset, fake_predictor, qtbot):
    window = make_window(project, fake_predictor)
    fid = _current_frame_id(window)
    key = window._key(window.current_embryo, 0)
    qtbot.waitUntil(lambda: key in window.predictions, timeout=10000)
    window.findChild(QPushButton, "start_from_model_button").click()
    assert (window.corrections.working_mask(fid) == window.predictions.get(key).mask).all()
    assert (_stored_human(window, fid) == window.predictions.get(key).mask).all()
    window.action_undo.trigger()
    assert (window.corrections.working_mask(fid) == window.current_embryo.mask(0)).all()

    plain = make_window(tiny_dataset, fake_predictor)  # a dataset folder, not a project: view only
    assert not plain.findChild(QToolButton, "tool_brush").isEnabled()
    assert plain.findChild(QToolButton, "tool_navigate").isEnabled()
    assert not plain.findChild(QPushButton, "range_apply_button").isEnabled()


def test_range_labels_review_and_csv(win, qtbot, tmp_path):
    store = win.collection.store
    entry = win.current_embryo
    win.findChild(QPushButton, "range_bin_button_1").click()  # 10-25 %
    row = store.range_label(entry.frame_id(0))
    assert (row["lo"], row["hi"]) == (10, 25)
    assert store.range_label(entry.frame_id(1)) is None
    assert "%" in win.findChild(QLabel, "mask_pct_label").text()

    # a span of frames
    win.review_panel.span_check.setChecked(True)
    win.review_panel.span_from_spin.setValue(entry.frame_number(1))
    win.review_panel.span_to_spin.setValue(entry.frame_number(2))
    win.review_panel.range_lo_spin.setValue(25)
    win.review_panel.range_hi_spin.setValue(40)
    win.findChild(QPushButton, "range_apply_button").click()
    assert [(store.range_label(entry.frame_id(i))["lo"]) for i in range(3)] == [10, 25, 25]
    win.review_panel.range_lo_spin.setValue(50)
    win.review_panel.range_hi_spin.setValue(20)
    assert not win.review_panel.apply_range(50, 20)
    assert "reversed" in win.review_panel.label_status.text()

    win.review_panel.span_check.setChecked(False)
    win.review_panel.review_check.click()
    assert store.review(entry.frame_id(0))["status"] == "reviewed"
    assert "reviewed by" in win.review_panel.review_info_label.text()
    QTest.keyClick(win, Qt.Key.Key_N)  # next frame needing review
    assert win.frame_slider.value() == 1
    for i in (1, 2):
        store.set_review(entry.frame_id(i), True)
    win.review_panel.go_to_next_needing_review()
    assert win.embryo_list.currentRow() == 1 and win.frame_slider.value() == 0  # on to the next embryo

    from embryograde_app.core.project.csv_export import export_project_csv

    out = tmp_path / "report.csv"
    export_project_csv(win.collection.root, out)
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    first = [r for r in rows if r["embryo_id"] == entry.embryo_id]
    spans = [(r["range_lo"], r["range_hi"]) for r in first]
    assert spans == [("10.00", "25.00"), ("25.00", "40.00"), ("25.00", "40.00")]
    assert [r["reviewed"] for r in first] == ["yes", "yes", "yes"] and first[0]["reviewer"]


KILL_SCRIPT = """
import os, signal, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from embryograde_app.ui import create_main_window
app = QApplication([])
w = create_main_window(sys.argv[1], settings=QSettings(sys.argv[2], QSettings.Format.IniFormat))
w.show(); app.processEvents()
editor = w.editor
w.correction_panel.tool_buttons[list(w.correction_panel.tool_buttons)[1]].click()  # brush
w.correction_panel.brush_size_spin.setValue(3)
for i in range(5):  # five finished strokes, each autosaved
    editor.strokeStarted.emit(10 + 10 * i, 10); editor.strokeMoved.emit(10 + 10 * i, 60); editor.strokeFinished.emit()
print("saved", flush=True)
editor.strokeStarted.emit(80, 10); editor.strokeMoved.emit(80, 60)  # a stroke still being drawn
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_process_loses_at_most_the_stroke_being_drawn(project, tmp_path):
    from embryograde_app.core.project.store import ProjectStore

    with ProjectStore(project) as store:
        fid = store.frames()[0].id
        before = store.read_mask(store.latest_mask(fid))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILL_SCRIPT), str(project), str(tmp_path / "s.ini")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "saved" in proc.stdout
    expected = before.copy()
    for i in range(5):
        paint_segment(expected, (10 + 10 * i, 10), (10 + 10 * i, 60), 3, 1)
    with ProjectStore(project) as store:
        assert store.integrity_check() == "ok"
        revisions = [r for r in store.mask_revisions(fid) if r.author_kind == "human"]
        assert len(revisions) == 5
        assert (store.read_mask(revisions[-1]) == expected).all()  # the unfinished sixth stroke is not there


def test_the_persons_label_wins_the_readout_at_once(bare_win, settings):
    """A range label set on the frame on screen is the grade shown, with who set it, without leaving the frame."""
    from embryograde_app.core.project import store as store_mod
    win = bare_win

    store_mod.set_person("ann")
    try:
        entry = win.current_embryo
        assert win.collection.store.latest_mask(entry.frame_id(0), kinds=("human", "import")) is None  # no mask
        win.findChild(QPushButton, "range_bin_button_0").click()  # 0-10 %
        assert win.findChild(QLabel, "grade_label").text() == "1 (good) — ann"
        assert win.findChild(QLabel, "label_info").text().startswith("range 0–10 % by ann\nmodel:")
    finally:
        store_mod.set_person(None)


def test_range_labels_can_be_removed_and_a_span_is_used_once(bare_win, qtbot):
    """'Apply to frames' stayed ticked: a later click labelled the old span, not the frame on screen; and a
    label could not be removed (issue 17 point 3)."""
    from PySide6.QtCore import Qt

    win = bare_win

    store = win.collection.store
    entry = win.current_embryo
    panel = win.review_panel
    panel.span_check.setChecked(True)
    panel.span_from_spin.setValue(entry.frame_number(0))
    panel.span_to_spin.setValue(entry.frame_number(1))
    assert panel.span_check.text() == "Apply to frames (2)"  # says how many it will label
    win.findChild(QPushButton, "range_bin_button_1").click()
    assert [store.range_label(entry.frame_id(i)) is not None for i in range(3)] == [True, True, False]
    assert not panel.span_check.isChecked()  # used once

    win.frame_slider.setValue(1)
    win.findChild(QPushButton, "range_remove_button").click()  # this frame only: the span is gone
    assert [store.range_label(entry.frame_id(i)) is not None for i in range(3)] == [True, False, False]
    assert win.findChild(QLabel, "label_info").text() == "—"
    win.frame_slider.setValue(0)
    qtbot.keyClick(win, Qt.Key.Key_Delete)  # the key does the same
    assert store.range_label(entry.frame_id(0)) is None
    actions = [r["action"] for r in store.conn.execute("SELECT action FROM audit WHERE action='unlabel'")]
    assert actions == ["unlabel", "unlabel"]


def test_correcting_one_frame_keeps_the_model_mask_on_frames_nobody_corrected(bare_win, qtbot):
    """Pressing B and drawing on one frame used to switch "Mask shown" for every frame: uncorrected ones went
    blank. Per frame: the person's mask where there is one, the model's elsewhere."""
    window = bare_win
    qtbot.waitUntil(lambda: window.predictions.get(window._key(window.current_embryo, 0)) is not None)
    model_mask = window.predictions.get(window._key(window.current_embryo, 0)).mask
    assert window._shown_mask is model_mask
    qtbot.keyClick(window, Qt.Key.Key_B)
    window.findChild(QComboBox, "class_combo").setCurrentIndex(1)
    _drag(window, [(10.5 + i, 20.5) for i in range(0, 31, 3)])
    corrected = window.corrections.working_mask(_current_frame_id(window))
    assert window._shown_mask is corrected and (corrected != model_mask).any()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.predictions.get(window._key(window.current_embryo, 1)) is not None)
    assert window._shown_mask is window.predictions.get(window._key(window.current_embryo, 1)).mask
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert (window._shown_mask == corrected).all()


def test_label_changes_undo_and_redo_with_ctrl_z_like_strokes(win, qtbot):
    store, entry = win.collection.store, win.current_embryo
    ids = [entry.frame_id(i) for i in range(3)]
    panel = win.review_panel
    store.set_range_labels([ids[0]], 0, 10, author="ann")  # somebody's earlier label
    win._refresh()
    panel.span_check.setChecked(True)
    panel.span_from_spin.setValue(entry.frame_number(0))
    panel.span_to_spin.setValue(entry.frame_number(2))
    qtbot.mouseClick(win.findChild(QPushButton, "range_bin_button_1"), Qt.MouseButton.LeftButton)  # 10-25 on 3
    assert [store.range_label(i)["lo"] for i in ids] == [10, 10, 10]
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the whole span, one step
    assert store.range_label_snapshot(ids) == {ids[0]: (0.0, 10.0, "ann"), ids[1]: None, ids[2]: None}
    assert "undone" in panel.label_status.text()
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert [store.range_label(i)["lo"] for i in ids] == [10, 10, 10]
    qtbot.keyClick(win, Qt.Key.Key_Delete)  # the frame's own label (the span box unticked itself)
    assert store.range_label(ids[0]) is None and store.range_label(ids[1]) is not None
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert store.range_label(ids[0])["lo"] == 10
    actions = [r["action"] for r in store.conn.execute("SELECT action FROM audit WHERE entity='frame' ORDER BY id")]
    assert actions.count("unlabel") >= 3 and actions.count("label") >= 7  # every change audit-logged


def test_timing_gives_hours_the_plot_in_hours_and_the_day_2_grade(bare_win, qtbot):
    """EmbryoScope names carry no time: Grading ▸ Set timing gives every frame its hours post-insemination."""
    from embryograde_app.core.project.records import Timing
    from embryograde_app.ui.timing_dialog import TimingDialog

    win = bare_win
    dialog = TimingDialog(win.current_embryo.embryo_id, len(win.current_embryo), None)
    qtbot.addWidget(dialog)  # owned by the test alone (a parent would delete it a second time)
    dialog.first_h_spin.clear()
    qtbot.keyClicks(dialog.first_h_spin, "43")
    dialog.interval_spin.clear()
    qtbot.keyClicks(dialog.interval_spin, "60")
    assert dialog.timing() == Timing(43.0, 60.0)
    assert "day 2: frames 1–3" in dialog.findChild(QLabel, "timing_preview").text()
    assert "day 3: no frame at 68 h" in dialog.findChild(QLabel, "timing_preview").text()

    store, entry = win.collection.store, win.current_embryo
    store.set_range_labels([entry.frame_id(1)], 0, 10, author="ann")
    assert win.project_actions.set_timing(dialog.timing())
    assert win.timecourse.in_hours and win.timecourse.current_line.value() == 43.0
    qtbot.keyClick(win, Qt.Key.Key_Right)
    assert "44.0 h" in win.frame_label.text()
    assert "day 2: grade 1" in win.embryo_list.item(0).text() and "ann" not in win.embryo_list.item(0).text()
    assert "person's answers" in win.embryo_list.item(0).toolTip()
    out = win.collection.root.parent / "report.html"
    with qtbot.waitSignal(win.project_actions.task_finished, timeout=60000) as done:
        assert win.project_actions.export_report(out)
    assert done.args[0] == "Report" and done.args[1][0] == 1
    assert "day 2 (44 ± 1 h)</th><td><b>1</b>" in out.read_text()
