"""import -> grade -> export through the CLI: idempotent, resumable, bad files named, kill -9 safe."""

from __future__ import annotations

import csv
import io
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from embryograde_app.cli import main
from embryograde_app.core.project.grade_reports import REPORT_COLUMNS, SUMMARY_COLUMNS
from embryograde_app.core.project.store import ProjectStore

REPO = Path(__file__).resolve().parents[1]


def _counts(project: Path) -> dict[str, int]:
    with ProjectStore(project) as s:
        return {
            t: s.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("embryos", "frames", "mask_revisions", "predictions", "range_labels")
        }


def test_import_layout_twice_adds_nothing(tiny_weak_dataset, tmp_path, capsys):
    project = tmp_path / "proj"
    assert main(["import", str(project), str(tiny_weak_dataset)]) == 0
    first = _counts(project)
    assert first["embryos"] == 6 and first["frames"] == 24
    assert first["mask_revisions"] == 12 and first["range_labels"] == 12  # half masks, half range labels
    assert main(["import", str(project), str(tiny_weak_dataset)]) == 0
    assert _counts(project) == first
    assert "0 frame(s) added, 24 already there" in capsys.readouterr().out


@pytest.mark.parametrize("source", ["layout", "frames"])
def test_a_cancelled_import_keeps_its_frames_and_a_rerun_finishes(tiny_weak_dataset, tmp_path, source):
    from embryograde_app.core.project.frame_import import import_into_project

    path = tiny_weak_dataset if source == "layout" else tiny_weak_dataset / "frames" / "E001"
    project = tmp_path / "proj"
    seen = []
    summary = import_into_project(
        project, [path], lambda done, total: seen.append(done), should_stop=lambda: len(seen) >= 3
    )
    assert summary.cancelled and summary.added_frames == 3
    rest = import_into_project(project, [path])
    assert not rest.cancelled and rest.existing_frames == 3 and rest.added_frames > 0
    assert _counts(project)["frames"] == 3 + rest.added_frames


def test_a_bad_label_row_costs_that_row_only(tiny_weak_dataset, tmp_path, capsys):
    """Frames, masks and the other labels still import; the row is named by file and line, exit non-zero."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_weak_dataset, data)
    lines = (data / "labels.csv").read_text(encoding="utf-8").splitlines()
    bad = lines[1].split(",")
    bad[3], bad[4], bad[5] = "abc", "", ""
    lines[1] = ",".join(bad)
    (data / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    project = tmp_path / "proj"
    assert main(["import", str(project), str(data)]) == 1
    assert "labels.csv:2: column 'frag_pct' is not a number: 'abc'" in capsys.readouterr().err
    counts = _counts(project)
    assert counts["frames"] == 24 and counts["mask_revisions"] == 12
    assert 0 < counts["range_labels"] <= 12


def test_label_rows_that_match_no_frame_or_repeat_one_are_said(tiny_weak_dataset, tmp_path, capsys):
    """A typo in an embryo id would make its labels vanish unseen; a repeated row hides its twin."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_weak_dataset, data)
    lines = (data / "labels.csv").read_text(encoding="utf-8").splitlines()
    typo = lines[1].split(",")
    typo[0] = "E999"
    lines += [",".join(typo), lines[2]]
    (data / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["import", str(tmp_path / "proj"), str(data)]) == 1  # the repeat is a problem row
    err = capsys.readouterr().err
    assert "1 row(s) for frames not in frames/: E999 frame 0" in err
    assert f"embryo {lines[2].split(',')[0]} frame {lines[2].split(',')[1]} has more than one row" in err


def test_swapped_import_arguments_leave_the_dataset_untouched(tiny_dataset, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    assert main(["import", str(data), str(tmp_path / "proj")]) == 1
    assert "not empty and not a project" in capsys.readouterr().err
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # no project.sqlite, no frames/ store


def test_a_missing_masks_folder_is_an_error_not_zero_masks(tiny_dataset, tmp_path, capsys):
    assert main(["import", str(tmp_path / "p"), str(tiny_dataset / "frames" / "E000"), "--masks", "nope"]) == 1
    assert "nope: no such folder of masks" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def _folder_with_bad_files(tmp_path, good: int) -> Path:
    """``good`` readable frames, then an empty PNG (f4.png) and a truncated JPEG (f5.jpg)."""
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(good):
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((32, 32), 40 * i, np.uint8))
    (folder / "f4.png").write_bytes(b"")
    jpeg = cv2.imencode(".jpg", np.full((32, 32), 9, np.uint8))[1].tobytes()
    (folder / "f5.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    return folder


def test_bad_files_are_named_skipped_and_exit_nonzero(tmp_path, capsys):
    folder = _folder_with_bad_files(tmp_path, good=4)
    project = tmp_path / "proj"
    assert main(["import", str(project), str(folder)]) == 1
    err = capsys.readouterr().err
    assert "f4.png" in err and "f5.jpg" in err
    assert _counts(project)["frames"] == 4


def test_grade_lists_each_bad_file_once(tmp_path, tiny_weights, capsys):
    folder = _folder_with_bad_files(tmp_path, good=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["grade", str(folder), str(empty), "--csv", str(tmp_path / "g.csv"), "--weights", str(tiny_weights)]
    assert main([*argv, "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("f4.png") == 1 and err.count("f5.jpg") == 1 and err.count(str(empty)) == 1, err
    assert "3 problem(s)" in err


def test_grade_project_is_resumable_and_export_reads_back(tiny_dataset, tiny_weights, tmp_path, capsys):
    project = tmp_path / "proj"
    assert main(["import", str(project), str(tiny_dataset)]) == 0
    assert main(["grade", str(project), "--weights", str(tiny_weights), "--device", "cpu"]) == 0
    assert _counts(project)["predictions"] == 18
    assert main(["grade", str(project), "--device", "cpu"]) == 0  # active model now; nothing left to do
    assert "graded 0 frame(s), 18 already graded by tiny-test" in capsys.readouterr().out
    with ProjectStore(project) as s:
        assert s.active_model()["version"] == "tiny-test"
        assert (project / s.active_model()["path"]).exists()
        s.set_review(s.frames()[0].id, True, "dr. Ünal")
    out = tmp_path / "report.csv"
    assert main(["export", str(project), "--csv", str(out)]) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0].keys()) == REPORT_COLUMNS and len(rows) == 18
    assert {r["label_source"] for r in rows} == {"human"}  # every frame has an imported mask
    assert rows[0]["reviewed"] == "yes" and rows[0]["reviewer"] == "dr. Ünal"
    summary = list(csv.DictReader(io.StringIO((tmp_path / "report_embryos.csv").read_text("utf-8-sig"))))
    assert tuple(summary[0].keys()) == SUMMARY_COLUMNS and len(summary) == 6


def test_grade_folders_to_csv_resumes_and_drops_a_torn_line(tiny_dataset, tiny_weights, tmp_path):
    out = tmp_path / "g.csv"
    inputs = [str(tiny_dataset / "frames" / "E000"), str(tiny_dataset / "frames" / "E001")]
    assert main(["grade", *inputs, "--csv", str(out), "--weights", str(tiny_weights), "--device", "cpu"]) == 0
    raw = out.read_bytes()
    assert raw.count(b"\r\n") == 7
    out.write_bytes(raw + b"E001,,,9,,12.3")  # a row cut off by a crash
    assert main(["grade", *inputs, "--csv", str(out), "--weights", str(tiny_weights), "--device", "cpu"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    assert len(rows) == 6 and len({r["source"] for r in rows}) == 6
    raw = out.read_bytes()
    out.write_bytes(raw[:-12])  # the last row cut inside its last field: every field there, one of them short
    assert main(["grade", *inputs, "--csv", str(out), "--weights", str(tiny_weights), "--device", "cpu"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    assert len(rows) == 6 and len({r["source"] for r in rows}) == 6  # the cut row dropped and graded again


def test_grade_needs_csv_for_folders(tiny_dataset, capsys):
    assert main(["grade", str(tiny_dataset / "frames" / "E000")]) == 1
    assert "--csv OUT is required" in capsys.readouterr().err


def _run_and_kill(args: list[str], project: Path, table: str, at_least: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                con = sqlite3.connect(f"file:{project / 'project.sqlite'}?mode=ro", uri=True, timeout=1)
                n = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                con.close()
            except sqlite3.Error:
                n = 0
            if n >= at_least:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()


@pytest.mark.slow
def test_kill_during_import_and_grade_then_rerun(tmp_path, tiny_weights):
    from embryograde_app.core.synth.generator import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, embryos=16, frames=12, size=160, seed=5)
    project = tmp_path / "proj"
    _run_and_kill(["import", str(project), str(data)], project, "frames", 10)
    with ProjectStore(project) as s:
        assert s.integrity_check() == "ok"
    assert main(["import", str(project), str(data)]) == 0
    counts = _counts(project)
    assert counts["frames"] == 192 and counts["mask_revisions"] == 192

    _run_and_kill(
        ["grade", str(project), "--weights", str(tiny_weights), "--device", "cpu", "--batch-size", "2"],
        project,
        "predictions",
        4,
    )
    with ProjectStore(project) as s:
        assert s.integrity_check() == "ok"
        partial = s.conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    assert 4 <= partial < 192
    assert main(["grade", str(project), "--device", "cpu"]) == 0
    counts = _counts(project)
    assert counts["predictions"] == 192
    assert counts["mask_revisions"] == 192 + 192  # one model mask per prediction, no duplicates


def test_import_frames_with_png_masks(tmp_path):
    frames, masks = tmp_path / "frames", tmp_path / "masks"
    frames.mkdir()
    masks.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:04d}.png"), np.full((32, 32), 50 + i, np.uint8))
        m = np.zeros((32, 32), np.uint8)
        m[4:12, 4:12] = 1
        m[5, 5] = 2
        cv2.imwrite(str(masks / f"{i:04d}.png"), m)
    project = tmp_path / "proj"
    assert main(["import", str(project), str(frames), "--masks", str(masks)]) == 0
    counts = _counts(project)
    assert counts["frames"] == 3 and counts["mask_revisions"] == 3
    assert main(["import", str(project), str(frames), "--masks", str(masks)]) == 0
    assert _counts(project) == counts


def test_two_time_lapses_in_one_folder_stay_apart(tmp_path, tiny_weights):
    """a_0000.tif and b_0000.tif were both 'embryo t16, frame 0' in the report."""
    import csv

    import cv2
    import numpy as np

    from embryograde_app.core.grading.batch import grade_inputs_to_csv
    from embryograde_app.core.project.frame_import import import_into_project
    from embryograde_app.core.project.store import ProjectStore
    from models.inference.predictor import Predictor

    folder = tmp_path / "t16"
    folder.mkdir()
    for prefix, value in (("a", 60), ("b", 160)):
        for frame in range(2):
            cv2.imwrite(str(folder / f"{prefix}_{frame:04d}.tif"), np.full((64, 64), value + frame, np.uint8))
    out = tmp_path / "report.csv"
    grade_inputs_to_csv(Predictor.from_file(tiny_weights, "cpu"), [folder], out)
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert sorted((r["embryo_id"], r["frame"]) for r in rows) == [
        ("t16-a", "0"), ("t16-a", "1"), ("t16-b", "0"), ("t16-b", "1")
    ]
    summary = import_into_project(tmp_path / "proj", [folder])
    assert summary.added_frames == 4 and not summary.skipped
    with ProjectStore(tmp_path / "proj") as store:
        assert sorted(e["key"] for e in store.embryos()) == ["t16-a", "t16-b"]
