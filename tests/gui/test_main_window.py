"""Main window through its object names: navigation, keyboard, overlays, readouts, bad folders."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QComboBox, QLabel, QListWidget, QMessageBox, QSlider, QWidget

from embryograde_app.ui.view_toolbar import MASK_MODEL, MASK_STORED

NAMES = {
    "embryo_list": QListWidget,
    "frame_slider": QSlider,
    "focal_combo": QComboBox,
    "frag_pct_label": QLabel,
    "grade_label": QLabel,
    "opacity_slider": QSlider,
    "view_image": QWidget,
    "view_overlay": QWidget,
    "view_attention": QWidget,
}


def test_object_names_and_entry_point(window):
    assert window.objectName() == "main_window"
    for name, cls in NAMES.items():
        assert window.findChild(cls, name) is not None, name
    assert window.findChild(object, "action_open") is not None


def test_opens_layout_with_embryos_and_frames(window):
    embryo_list = window.findChild(QListWidget, "embryo_list")
    slider = window.findChild(QSlider, "frame_slider")
    assert embryo_list.count() == 6
    assert slider.maximum() == 2
    assert window.findChild(QLabel, "area_pct_label").text().endswith("%")
    assert window.findChild(QLabel, "grade_label").text()[0] in "123"


def test_keyboard_navigation(window, qtbot):
    slider = window.findChild(QSlider, "frame_slider")
    embryo_list = window.findChild(QListWidget, "embryo_list")
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert slider.value() == 1
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert slider.value() == 2
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert slider.value() == 0
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert slider.value() == 0
    qtbot.keyClick(window, Qt.Key.Key_Down)
    assert embryo_list.currentRow() == 1
    qtbot.keyClick(window, Qt.Key.Key_Up)
    assert embryo_list.currentRow() == 0


def test_playback_runs_to_the_end_and_stops(window, qtbot):
    slider = window.findChild(QSlider, "frame_slider")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: slider.value() == slider.maximum(), timeout=3000)
    qtbot.waitUntil(lambda: not window.play_button.isChecked(), timeout=3000)


def test_the_frame_label_gives_hours_since_insemination(window, tiny_dataset, make_window, tmp_path, fake_predictor):
    """Fragmentation is graded at set times (day 2 at about 44 h): the time is shown beside the frame number."""
    from embryograde_app.core.io.layout import read_labels
    from embryograde_app.core.project.frame_import import import_into_project

    hours = {(r.embryo_id, r.frame): r.time_h for r in read_labels(tiny_dataset / "labels.csv")}
    assert f"{hours[('E000', 0)]:.1f} h" in window.frame_label.text()  # a layout-v1 dataset
    import_into_project(tmp_path / "proj", [tiny_dataset])
    project_window = make_window(tmp_path / "proj", fake_predictor)
    project_window.step_frame(1)
    assert f"frame 1 · {hours[('E000', 1)]:.1f} h" in project_window.frame_label.text()  # a project


def test_readout_matches_the_stored_mask(window, tiny_dataset):
    from embryograde_app.core.domain.schemes import frag_pct
    from embryograde_app.core.io.layout import read_mask

    window.findChild(QComboBox, "mask_source_combo").setCurrentIndex(MASK_STORED)  # the stored mask
    window.findChild(QListWidget, "embryo_list").setCurrentRow(2)
    window.findChild(QSlider, "frame_slider").setValue(1)
    expected = frag_pct(read_mask(tiny_dataset / "masks" / "E002" / "0001.png"))
    assert window.findChild(QLabel, "area_pct_label").text() == f"{expected:.1f} %"


def test_overlay_opacity_changes_the_overlay_pixels(window, settings):
    overlay = window.views.overlay_view.overlay
    slider = window.findChild(QSlider, "opacity_slider")
    slider.setValue(80)
    alpha_80 = np.asarray(overlay.image)[..., 3].max()
    slider.setValue(20)
    alpha_20 = np.asarray(overlay.image)[..., 3].max()
    assert alpha_80 == round(255 * 0.8) and alpha_20 == round(255 * 0.2)
    assert int(settings.value("overlay_opacity")) == 20


def test_linked_views_pan_together(window, qtbot):
    for keys in ("Ctrl+2", "Ctrl+3"):  # the shown panes, whichever layout
        qtbot.keyClick(window, keys[-1], Qt.KeyboardModifier.ControlModifier)
        shown = window.views.shown_views
        assert len(shown) == int(keys[-1])
        shown[-1].view_box.setXRange(10, 40, padding=0)
        for v in shown[:-1]:
            assert v.view_box.viewRange()[0] == pytest.approx([10, 40], abs=0.5)


def test_pane_layouts_by_key_make_the_embryo_larger_and_are_remembered(window, qtbot, settings):
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    views = window.views

    def shown_names() -> list[str]:
        return [v.objectName() for v in views.views if v.isVisible()]

    qtbot.keyClick(window, "3", Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(50)
    assert shown_names() == ["view_image", "view_overlay", "view_attention"]
    width_three = views.overlay_view.width()
    qtbot.keyClick(window, "2", Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(50)
    assert shown_names() == ["view_image", "view_overlay"]
    assert views.overlay_view.width() > 1.4 * width_three
    qtbot.keyClick(window, "1", Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(50)
    assert shown_names() == ["view_overlay"]  # one pane starts on the mask, where the work is
    assert views.overlay_view.width() > 2.5 * width_three
    qtbot.keyClick(window, Qt.Key.Key_V)
    assert shown_names() == ["view_attention"] and views.colour_bar_widget.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_V)
    assert shown_names() == ["view_image"]
    views.image_view.view_box.setXRange(5, 25, padding=0)  # the one pane pans; the others follow when shown
    qtbot.keyClick(window, "3", Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(50)
    for view in views.views:
        x0, x1 = view.view_box.viewRange()[0]
        assert (x0 + x1) / 2 == pytest.approx(15, abs=1.0)
    qtbot.keyClick(window, Qt.Key.Key_V)  # from several panes: back to the one pane as it was left
    assert shown_names() == ["view_image"]
    assert int(settings.value("view_panes")) == 1 and int(settings.value("single_pane")) == 0


def test_m_toggles_the_mask_overlay_and_wheel_zoom_steps_are_fine(window, qtbot):
    overlay = window.views.overlay_view.overlay
    assert overlay.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert not overlay.isVisible() and not window.view_toolbar.action_mask.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert overlay.isVisible()
    factor = 1.02 ** (120 * window.views.overlay_view.view_box.state["wheelScaleFactor"])
    assert 0.85 < factor < 0.95  # one wheel notch zooms about 11 %, not pyqtgraph's 28 %


def test_bad_folder_is_a_message_not_a_crash(window, tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert window.open_path(empty) is False
    assert messages and "empty" in messages[0]
    assert window.findChild(QListWidget, "embryo_list").count() == 6  # what was open stays open


def test_corrupt_frames_are_listed_and_skipped(window, tmp_path):
    import cv2

    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"img{i}.png"), np.full((32, 32), 60 * i, np.uint8))
    (folder / "img3.png").write_bytes(b"")
    assert window.open_path(folder)
    assert window.findChild(QSlider, "frame_slider").maximum() == 2
    assert "img3.png" in window.problems_label.text()


def test_focal_planes_of_one_well_are_one_embryo(window, tmp_path):
    import cv2

    folder = tmp_path / "export"
    folder.mkdir()
    for plane in (-15, 0, 15):
        for frame in (10, 11, 12):
            name = f"20230304-17097-3-F{plane}-{frame}.jpg"
            cv2.imwrite(str(folder / name), np.full((32, 32), 100 + plane + frame, np.uint8))
    assert window.open_path(folder)
    embryo_list = window.findChild(QListWidget, "embryo_list")
    focal = window.findChild(QComboBox, "focal_combo")
    slider = window.findChild(QSlider, "frame_slider")
    assert embryo_list.count() == 1
    assert [focal.itemText(i) for i in range(focal.count())] == ["-15 µm", "central (0 µm)", "+15 µm"]
    assert focal.currentText() == "central (0 µm)"
    slider.setValue(2)
    focal.setCurrentIndex(2)
    assert slider.value() == 2 and "frame 12" in window.frame_label.text()
    shown = np.asarray(window.views.image_view.base.image)
    assert int(shown.mean()) in range(125, 129)  # the +15 plane's pixels (JPEG may round)


def test_model_predictions_reach_the_views_and_readouts(window, qtbot, fake_predictor):
    qtbot.waitUntil(lambda: window.findChild(QLabel, "frag_pct_label").text() == "42.0 %", timeout=5000)
    assert window.model_status.text() == "fake-1 on cpu"
    assert window.views.attention_view.overlay.image is not None
    assert window.findChild(QLabel, "grade_label").text() == "3 (poor)"
    qtbot.waitUntil(lambda: len(window.predictions) >= 3, timeout=5000)  # neighbours prefetched


def test_disagreement_flag(window, qtbot):
    qtbot.waitUntil(lambda: window.findChild(QLabel, "frag_pct_label").text() == "42.0 %", timeout=5000)
    area = float(window.area_pct_label.text().split()[0])
    flagged = bool(window.disagreement_label.text())
    scheme = window.scheme
    assert flagged == (scheme.grade(42.0) != scheme.grade(area) and abs(42.0 - area) > 2.0)


def test_event_loop_keeps_ticking_while_a_slow_model_runs(make_window, tiny_dataset, qtbot, fake_predictor):
    """A fake model that takes 0.3 s a frame: timer ticks keep arriving *during* its inferences.

    If inference ran on the GUI thread, no tick could fall inside a 0.3 s predict call.
    """
    from PySide6.QtCore import QTimer

    slow = type(fake_predictor)(delay_s=0.3)
    win = make_window(tiny_dataset, slow)
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    started = time.perf_counter()
    slider = win.findChild(QSlider, "frame_slider")
    slider.setValue(1)  # the user keeps moving while the model is busy

    def watched():
        return [(a, b) for a, b in slow.intervals if a > started]

    qtbot.waitUntil(lambda: len(watched()) >= 2, timeout=20000)
    timer.stop()
    inside = [sum(a < t < b for t in ticks) for a, b in watched()[:2]]
    assert all(n >= 1 for n in inside), inside


def test_third_view_switches_between_fragment_probability_and_the_gate(window, qtbot):
    from PySide6.QtWidgets import QComboBox

    combo = window.findChild(QComboBox, "attention_source_combo")
    views = window.views
    qtbot.waitUntil(lambda: views._maps[1] is not None, timeout=5000)
    assert combo.currentIndex() == 0 and views.attention_view.title.text == "Fragment probability"
    prob_overlay = views.attention_view.overlay.image.copy()
    combo.setCurrentIndex(1)
    assert views.attention_view.title.text.startswith("Attention gate")
    assert not np.array_equal(views.attention_view.overlay.image, prob_overlay)
    combo.setCurrentIndex(0)
    assert np.array_equal(views.attention_view.overlay.image, prob_overlay)


def test_preferences_apply_scheme_colours_opacity_device(window, settings, qtbot):
    from embryograde_app.ui.preferences import PreferencesDialog

    dialog = PreferencesDialog(settings, window)
    dialog.scheme_combo.setCurrentIndex(dialog.scheme_combo.findData("asebir"))
    dialog.set_colour(2, (255, 0, 255))
    dialog.opacity_spin.setValue(70)
    dialog.device_combo.setCurrentText("cpu")
    dialog.save()
    window.apply_preferences()
    assert window.scheme.key == "asebir" and window.grade_caption.text() == "Grade (asebir)"
    assert window.findChild(QSlider, "opacity_slider").value() == 70
    assert window.views.colours[2] == (255, 0, 255)
    assert len(window.timecourse.bands) == 4
    assert window.inference.worker.settings.device == "cpu"  # the model worker restarted on the new device
    window.findChild(QComboBox, "mask_source_combo").setCurrentIndex(MASK_STORED)
    window.findChild(QListWidget, "embryo_list").setCurrentRow(2)  # a poorly graded embryo: fragments shown
    overlay = np.asarray(window.views.overlay_view.overlay.image)
    fragment_pixels = overlay[(overlay[..., 0] == 255) & (overlay[..., 1] == 0) & (overlay[..., 2] == 255)]
    assert len(fragment_pixels) > 0 and fragment_pixels[0][3] == round(255 * 0.7)


def test_a_model_that_fails_to_load_leaves_no_thread_running(settings, tiny_dataset, qtbot):
    """The window keeps browsing; closing it must not meet a live QThread (that aborts the process)."""
    import threading

    from embryograde_app.ui import create_main_window

    may_fail = threading.Event()

    def broken(_settings):
        may_fail.wait(5)  # until the test holds the service
        raise ValueError("weights.safetensors: not a safetensors file")

    win = create_main_window(tiny_dataset, settings=settings, predictor_factory=broken)
    qtbot.addWidget(win)
    service = win.inference
    may_fail.set()
    qtbot.waitUntil(lambda: "Cannot load the model" in win.model_status.text(), timeout=5000)
    assert "not a safetensors file" in win.model_status.text() and win.inference is None
    qtbot.waitUntil(service.thread.isFinished, timeout=5000)
    win.close()


def test_a_retired_models_late_results_are_dropped(settings, tiny_dataset, qtbot, fake_predictor):
    """A frame the old model had in hand when a publish replaced it must not be cached as the new model's."""
    from embryograde_app.ui import create_main_window

    made = []

    def factory(_settings):
        predictor = type(fake_predictor)(delay_s=0.5 if not made else 2.0)  # the new model is the slower
        predictor.version = f"model-{len(made)}"
        made.append(predictor)
        return predictor

    win = create_main_window(tiny_dataset, settings=settings, predictor_factory=factory)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: bool(made) and made[0].calls >= 1, timeout=5000)  # the old model is inside a frame
    win.use_model("published.safetensors")
    qtbot.waitUntil(lambda: len(made) == 2 and made[1].calls >= 1, timeout=10000)
    qtbot.wait(700)  # the old model's frame has ended, the new model's first has not
    assert {p.model_version for p in win.predictions._data.values()} <= {"model-1"}
    assert win.model_status.text() == "model-1 on cpu"
    win.close()


def test_display_changes_redraw_the_overlay_without_rereading_the_frame(window, qtbot, monkeypatch):
    """Opacity, style and a prediction's arrival change overlays only; the frame on screen is not read again."""
    qtbot.waitUntil(lambda: window.findChild(QLabel, "frag_pct_label").text() == "42.0 %", timeout=5000)
    qtbot.waitUntil(lambda: len(window.predictions) >= 3 and window.inference.worker.idle, timeout=5000)
    entry = window.current_embryo  # the model has read the frames it prefetches: reads now are the window's
    reads = []
    original = entry.sequence.read_uint8
    monkeypatch.setattr(entry.sequence, "read_uint8", lambda i: reads.append(i) or original(i))
    before = np.asarray(window.views.overlay_view.overlay.image).copy()
    window.findChild(QSlider, "opacity_slider").setValue(90)
    window.outline_combo.setCurrentIndex(1)
    window.findChild(QComboBox, "mask_source_combo").setCurrentIndex(MASK_STORED)
    window.findChild(QComboBox, "mask_source_combo").setCurrentIndex(MASK_MODEL)
    assert reads == []
    assert not np.array_equal(np.asarray(window.views.overlay_view.overlay.image), before)


def test_switching_models_does_not_wait_for_the_old_one(make_window, tiny_dataset, qtbot, fake_predictor):
    """A model busy with a slow frame is retired, not waited for: the GUI thread returns at once."""
    slow = type(fake_predictor)(delay_s=1.5)
    win = make_window(tiny_dataset, slow)
    qtbot.waitUntil(lambda: slow.calls >= 1, timeout=5000)  # a 1.5-s frame is in hand
    started = time.perf_counter()
    win.use_model("another.safetensors")
    assert time.perf_counter() - started < 0.5


def test_a_scheme_gone_from_the_scheme_file_falls_back_to_the_default(make_window, tiny_dataset, settings):
    """Settings outlive an edited grading_schemes.json: the window still opens, on the default scheme."""
    from embryograde_app.ui.preferences import PreferencesDialog

    settings.setValue("scheme", "retired-scheme")
    window = make_window(tiny_dataset)
    assert window.scheme.key == "istanbul2011" and window.grade_caption.text() == "Grade (istanbul2011)"
    assert PreferencesDialog(settings, window).scheme_combo.currentData() == "istanbul2011"


def test_views_frame_the_embryo_and_keep_a_persons_own_zoom(window, qtbot):
    """A new embryo is framed once a mask says where it is; Z and 0 re-frame it or show the whole well."""
    from embryograde_app.core.view.overlays import embryo_box

    def framed(box) -> bool:
        """The view shows the box, tight along one axis (the other follows the widget's aspect ratio)."""
        (x0, x1), (y0, y1) = window.views.image_view.view_box.viewRange()
        inside = x0 <= box[0] + 1 and y0 <= box[1] + 1 and x1 >= box[2] - 1 and y1 >= box[3] - 1
        tight = min((x1 - x0) / (box[2] - box[0]), (y1 - y0) / (box[3] - box[1]))
        return inside and tight < 1.02

    window.findChild(QComboBox, "mask_source_combo").setCurrentIndex(MASK_STORED)  # the dataset's masks
    window.findChild(QListWidget, "embryo_list").setCurrentRow(1)
    box = embryo_box(window._shown_mask)
    height, width = window._frame_shape
    assert box[2] - box[0] < 0.9 * width
    qtbot.waitUntil(lambda: framed(box), timeout=5000)
    window.action_whole_frame.trigger()
    assert framed((0, 0, width, height))
    window.action_zoom_embryo.trigger()
    assert framed(box)
    window.action_whole_frame.trigger()
    window.findChild(QListWidget, "embryo_list").setCurrentRow(2)  # framed again...
    assert framed(embryo_box(window._shown_mask))
    window.action_whole_frame.trigger()
    window.findChild(QListWidget, "embryo_list").setCurrentRow(3)
    window.views.frame_embryo_when_shown()
    window.views.overlay_view.view_box.sigRangeChangedManually.emit([True, True])  # ...unless the person
    window.views.show_mask(window._shown_mask)  # pans or zooms (in any view) before the mask arrives
    assert framed((0, 0, width, height))


def test_help_lists_the_shortcuts_quit_and_the_reviewers_name(make_window, tiny_dataset, fake_predictor, settings):
    """Issue 17 point 7: discoverable shortcuts, File ▸ Quit, and the name recorded with reviews."""
    from PySide6.QtGui import QAction

    from embryograde_app.core.project import store as store_mod
    from embryograde_app.ui.shortcuts import ShortcutsDialog, shortcut_rows

    settings.setValue("reviewer_name", "Dr. Ana Ruiz")
    window = make_window(tiny_dataset, fake_predictor)
    try:
        assert store_mod.current_user() == "Dr. Ana Ruiz"
        rows = dict(shortcut_rows(window))
        assert rows["Next frame"] == "Right" and rows["Grade all"] == "Ctrl+G" and "Keyboard shortcuts" in rows
        assert window.findChild(QAction, "action_zoom_embryo").toolTip() == "Zoom to the embryo (Z)"
        assert "File ▸ New project" in window.findChild(QAction, "action_grade_all").toolTip()  # why it is grey
        dialog = ShortcutsDialog(window)
        assert dialog.table.rowCount() == len(rows) and dialog.table.item(0, 0).text()
        quit_action = window.findChild(QAction, "action_quit")
        assert quit_action is not None and quit_action.shortcut().toString() == "Ctrl+Q"
        quit_action.trigger()
        assert not window.isVisible()
    finally:
        store_mod.set_person(None)


def test_the_embryo_is_the_star_at_1600x1000_and_nothing_scrolls_at_1280x800(window, qtbot):
    from embryograde_app.core.view.overlays import embryo_box

    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    window.action_zoom_embryo.trigger()
    qtbot.wait(50)
    x0, y0, x1, y1 = embryo_box(window._shown_mask)
    box = window.views.overlay_view.view_box
    left, right = box.mapViewToDevice(QPointF(x0, y0)), box.mapViewToDevice(QPointF(x1, y1))
    assert right.x() - left.x() >= 400  # the embryo drawn at least 400 px wide by default
    window.resize(1280, 800)
    qtbot.wait(50)
    side = window.findChild(QWidget, "side_panel")
    assert side.verticalScrollBar().maximum() == 0  # readouts, tools, labels and review all on screen
    assert window.findChild(QWidget, "next_review_button").isVisible()


def test_f7_and_f8_fold_the_side_panels_away_and_the_views_take_the_room(window, qtbot):
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    before = window.views.width()
    qtbot.keyClick(window, Qt.Key.Key_F8)
    qtbot.keyClick(window, Qt.Key.Key_F7)
    qtbot.wait(50)
    assert not window.side_panel.isVisible() and not window.left_panel.isVisible()
    assert window.views.width() > before + 300
    qtbot.keyClick(window, Qt.Key.Key_F8)
    assert window.side_panel.isVisible()


def test_a_project_without_a_model_is_shown_with_the_bundled_model_not_the_last_projects(
    make_window, tiny_dataset, project, tmp_path, fake_predictor
):
    """The window shows what Grade all would store: opening a project with no model after one with its own
    published model goes back to the bundled model instead of keeping the other project's."""
    from embryograde_app.core.project.frame_import import import_into_project
    from embryograde_app.core.project.store import ProjectStore
    from embryograde_app.paths import BUNDLED_WEIGHTS

    bare = tmp_path / "bare"
    import_into_project(bare, [tiny_dataset])
    with ProjectStore(project) as store:
        own = str(store.model_path(store.active_model()))
    win = make_window(project, fake_predictor)
    assert win._weights == own
    assert win.open_path(bare)
    assert win._weights == str(BUNDLED_WEIGHTS)
    assert win.open_path(project)
    assert win._weights == own
