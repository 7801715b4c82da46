"""The command line: synth writes layout v1, train/evaluate round trip, clear one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from embryograde_app.cli import main
from embryograde_app.core.io.layout import DatasetLayout, read_labels

REPO_MAIN = [sys.executable, "main.py"]


def test_synth_command_writes_layout_v1(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", str(out), "--embryos", "4", "--frames", "6", "--seed", "1", "--size", "96"]) == 0
    layout = DatasetLayout(out)
    assert layout.embryo_ids() == ["E000", "E001", "E002", "E003"]
    assert len(list(layout.items())) == 24
    assert all(item.mask_path is not None for item in layout.items())
    assert len(read_labels(layout.labels_csv)) == 24
    assert json.loads((out / "synth.json").read_text())["seed"] == 1
    assert "wrote 24 frames" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["synth", "{tmp}/x", "--embryos", "0", "--frames", "2"], "--embryos and --frames must be at least 1"),
        (["train", "{tmp}/w.safetensors", "--data", "{tmp}/missing", "--stage", "1"], "not a layout-v1 dataset"),
        (["train", "{tmp}/w.pt", "--data", "{tmp}", "--stage", "1"], "must be a .safetensors file"),
        (["evaluate", "--weights", "{tmp}/none.safetensors", "--data", "{tmp}"], "weights file not found"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_every_command_has_help():
    for command in ["synth", "train", "evaluate", "gui"]:
        result = subprocess.run([*REPO_MAIN, command, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "usage:" in result.stdout


def test_help_does_not_import_torch_or_qt():
    code = "import sys; from embryograde_app.cli import main\n"
    code += "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    code += "print('torch' in sys.modules, 'PySide6.QtWidgets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "False False"


def test_train_then_evaluate_round_trip(tiny_dataset, tmp_path, capsys):
    w1 = tmp_path / "s1.safetensors"
    w2 = tmp_path / "s2.safetensors"
    common = ["--epochs", "1", "--batch-size", "4", "--device", "cpu", "--input-size", "64", "--width", "16"]
    stage1 = ["train", str(w1), "--data", str(tiny_dataset), "--stage", "1", "--skip-strides", "4", "8"]
    assert main([*stage1, *common]) == 0
    assert (
        main(
            [
                "train",
                str(w2),
                "--data",
                str(tiny_dataset),
                "--stage",
                "2",
                "--init",
                str(w1),
                "--epochs",
                "2",
                "--device",
                "cpu",
                "--views",
                "1",
                "--area-input",
            ]
        )
        == 0
    )
    meta = json.loads(w2.with_suffix(".json").read_text())
    assert meta["stage"] == "2" and meta["parent"]["sha256"]
    assert meta["command"].startswith("embryograde train")
    assert meta["config"]["input_size"] == 64
    assert meta["config"]["skip_strides"] == [4, 8] and meta["config"]["area_input"] is True
    report = tmp_path / "eval.json"
    capsys.readouterr()
    assert (
        main(["evaluate", "--weights", str(w2), "--data", str(tiny_dataset), "--json", str(report), "--device", "cpu"])
        == 0
    )
    result = json.loads(report.read_text())
    for key in [
        "dice_fragment",
        "dice_blastomere",
        "mae_pct",
        "grade_accuracy",
        "n_frames",
        "kappa_linear",
        "grade_confusion",
    ]:
        assert key in result
    assert result["n_frames"] == 18
    assert sum(map(sum, result["grade_confusion"])) == 18


def test_an_unusable_output_path_is_one_line_naming_it(tiny_dataset, tmp_path, capsys):
    from embryograde_app.core.project.frame_import import import_into_project

    project = tmp_path / "proj"
    import_into_project(project, [tiny_dataset])
    folder = tmp_path / "a-folder.csv"
    folder.mkdir()
    assert main(["export", str(project), "--csv", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(folder) in err and "Traceback" not in err


def test_a_project_damaged_after_it_opened_is_one_line(tiny_dataset, tmp_path, capsys, monkeypatch):
    import sqlite3

    from embryograde_app.core.project import csv_export as export
    from embryograde_app.core.project.frame_import import import_into_project

    project = tmp_path / "proj"
    import_into_project(project, [tiny_dataset])

    def damaged(*args, **kwargs):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(export, "project_rows", damaged)
    assert main(["export", str(project), "--csv", str(tmp_path / "g.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the project database is damaged" in err and str(project) in err


def test_worker_error_messages_need_no_torch_and_name_the_file():
    import sqlite3

    from embryograde_app.workers import OUT_OF_MEMORY, describe_error

    assert describe_error(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)")) == OUT_OF_MEMORY
    assert describe_error(PermissionError(13, "Permission denied", "/ro/g.csv")) == "/ro/g.csv: Permission denied"
    assert "in use by another program" in describe_error(sqlite3.OperationalError("database is locked"))
