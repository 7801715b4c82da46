"""Hours post-insemination and the grades at day 2 (44 +/- 1 h) and day 3 (68 +/- 1 h)."""

from __future__ import annotations

import csv
import io

import cv2
import numpy as np
import pytest

from embryograde_app.cli import main
from embryograde_app.core.domain.schemes import get_scheme
from embryograde_app.core.project.grade_reports import REPORT_COLUMNS_V1, read_report, write_embryo_summary
from embryograde_app.core.project.records import Timing
from embryograde_app.core.project.store import ProjectError, ProjectStore
from embryograde_app.core.project.timing import FramePoint, answer_pct, frame_hours, grade_in_window, project_day_grades

SCHEME = get_scheme("istanbul2011")


@pytest.fixture
def timed_project(tmp_path):
    """One embryo of 30 frames, one every 4 h from 20 h once timed (frames 7 and 13 at 44 h and 68 h)."""
    store = ProjectStore.create(tmp_path / "p")
    embryo = store.ensure_embryo("E1")
    ids = []
    for n in range(1, 31):
        png = cv2.imencode(".png", np.full((12, 16), 40, np.uint8))[1].tobytes()
        ids.append(store.add_frame(embryo, n, png, ".png", (12, 16), f"{n}.png")[0])
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    store.register_model("m1", weights, "0" * 64, activate=True)
    mask = np.zeros((12, 16), np.uint8)
    for i, fid in enumerate(ids):
        store.add_prediction(fid, "m1", 5.0 if i < 10 else 30.0, mask, "1", "istanbul2011")  # day 2 good, day 3 poor
    yield store, embryo, ids
    store.close()


def test_hours_come_from_the_frame_else_from_the_embryos_timing(timed_project):
    store, embryo, ids = timed_project
    assert set(frame_hours(store.frames(), store.timings()).values()) == {None}
    store.set_timing([embryo], Timing(20.0, 240.0))
    hours = frame_hours(store.frames(), store.timings())
    assert hours[ids[0]] == 20.0 and hours[ids[6]] == 44.0 and hours[ids[12]] == 68.0
    store.set_frame_time(ids[6], 43.5)  # the data's own time wins
    assert frame_hours(store.frames(), store.timings())[ids[6]] == 43.5
    with pytest.raises(ProjectError, match="interval"):
        store.set_timing([embryo], Timing(20.0, 0.0))
    store.set_timing([embryo], None)
    assert store.timings() == {}
    assert [r["action"] for r in store.conn.execute("SELECT action FROM audit WHERE entity='embryo'")][-2:] == [
        "time",
        "untime",
    ]


def test_the_day_grades_take_the_persons_answers_in_the_window_else_the_models(timed_project):
    store, embryo, ids = timed_project
    assert project_day_grades(store, SCHEME) == {}  # no hours: no day grades, rather than guessed ones
    store.set_timing([embryo], Timing(20.0, 60.0))  # hourly: frames 24-26 at 43-45 h, 48-50 at 67-69 h
    grades = project_day_grades(store, SCHEME)["E1"]
    assert (grades["day 2"].grade, grades["day 2"].source) == ("3", "model")  # frames 24-26 read 30 %
    assert grades["day 2"].frames == 3 and "day 3" not in grades  # the time-lapse ends at 49 h
    store.set_range_labels([ids[24]], 0, 10, author="ann")  # frame 25 at 44 h
    store.set_review(ids[24], True, "ann")
    day2 = project_day_grades(store, SCHEME)["E1"]["day 2"]
    assert (day2.grade, day2.source, day2.frames, day2.reviewers) == ("1", "person", 1, ("ann",))
    assert day2.pct == pytest.approx(10.0)  # the model's 30 % kept inside the person's range


def test_window_edges_and_the_answer_rule():
    points = [FramePoint(42.9, 50.0, False), FramePoint(43.0, 12.0, False), FramePoint(45.0, 14.0, False)]
    day2 = grade_in_window(points, "day 2", 44.0, SCHEME)
    assert day2.frames == 2 and day2.pct == 13.0 and day2.grade == "2"
    assert grade_in_window(points, "day 3", 68.0, SCHEME) is None
    assert answer_pct(30.0, 4.0, 0, 10) == (4.0, True)  # a person's mask first
    kept, by_person = answer_pct(30.0, None, 0, 10)
    assert kept == pytest.approx(10.0) and by_person and SCHEME.grade(kept) == "1"  # "0-10 %" stays grade 1
    assert answer_pct(None, None, 10, 25) == (17.5, True)
    assert answer_pct(30.0, None, None, None) == (30.0, False)


def test_timing_command_and_export_give_day_grades_and_hours(timed_project, tmp_path, capsys):
    store, _embryo, _ids = timed_project
    project = store.root
    store.close()
    assert main(["timing", str(project), "--first-h", "20", "--interval-min", "240"]) == 0
    assert "day 2: grade 1" in capsys.readouterr().out  # frame 7 at 44 h reads 5 %
    assert main(["timing", str(project), "--embryo", "nope", "--first-h", "1", "--interval-min", "5"]) == 1
    assert "no embryo nope" in capsys.readouterr().err
    out = tmp_path / "r.csv"
    assert main(["export", str(project), "--csv", str(out)]) == 0
    rows = read_report(out)
    assert len(rows) == 30 and rows[6]["time_h"] == "44.00" and rows[0]["mask_source"] == "model"
    summary = list(csv.DictReader(io.StringIO((tmp_path / "r_embryos.csv").read_text("utf-8-sig"))))
    assert (summary[0]["day2_grade"], summary[0]["day2_source"]) == ("1", "model")
    assert (summary[0]["day3_grade"], summary[0]["day3_pct"]) == ("3", "30.00")
    assert len(rows) == int(summary[0]["frames_graded"])  # the frame CSV keeps every frame


def test_a_report_from_before_mask_source_is_still_read_and_summarised(tmp_path):
    old = tmp_path / "old.csv"
    row = ["E1", "", "0", "3", "44.00", "12.00", "30.00", "2", "istanbul2011", "", "", "human", "no", "", "m1",
           "2026-01-01T00:00:00+00:00", "a.png"]
    text = ",".join(REPORT_COLUMNS_V1) + "\r\n" + ",".join(row) + "\r\n"
    old.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_report(old)[0]["mask_source"] == ""
    summary = write_embryo_summary(old, SCHEME)
    cells = list(csv.DictReader(io.StringIO(summary.read_text("utf-8-sig"))))[0]
    assert cells["median_pct"] == "30.00" and cells["day2_grade"] == "3" and cells["day2_source"] == "person"


def test_the_printable_report_has_a_page_per_embryo_with_day_grades_plot_and_frames(timed_project, tmp_path):
    from embryograde_app.core.project.printable_report import write_embryo_report

    store, embryo, ids = timed_project
    out = tmp_path / "report.html"
    assert write_embryo_report(store, out, SCHEME) == 1
    page = out.read_text()
    assert "no hours: set the timing to grade by day" in page and "<svg" in page and "<img" not in page
    store.set_timing([embryo], Timing(20.0, 240.0))
    mask = np.zeros((12, 16), np.uint8)
    mask[2:10, 3:12] = 1
    mask[4:6, 4:6] = 2
    store.add_mask_revision(ids[6], mask, "human", "ann")  # the frame at 44 h, corrected by ann
    store.set_review(ids[6], True, "ann")
    assert write_embryo_report(store, out, SCHEME) == 1
    page = out.read_text()
    assert page.count("<section>") == 1 and "hours post-insemination" in page
    assert "day 2 (44 ± 1 h)</th><td><b>1</b>" in page  # ann's mask (about 5 %) decides day 2
    assert "person (1 frame(s))</td><td>ann</td>" in page
    assert "day 3 (68 ± 1 h)</th><td><b>3</b>" in page and page.count("data:image/png;base64,") == 2
    assert "day 2: frame 7 at 44.0 h" in page and "mask: ann" in page
