"""Command line (ARCHITECTURE.md section 6): `python main.py <command>` == `embryograde <command>`.

The parser and main() are here; the commands are in training_commands (synth, train, evaluate),
project_commands (import, models, timing, export, grade) and gui_command, with what they share in common.
Torch and Qt are imported inside the commands that need them, so `--help` and `synth` start fast.
Every failure on bad input is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from embryograde_app import __version__
from embryograde_app.cli.common import CommandError
from embryograde_app.cli.gui_command import cmd_gui
from embryograde_app.cli.project_commands import cmd_export, cmd_grade, cmd_import, cmd_models, cmd_timing
from embryograde_app.cli.training_commands import cmd_evaluate, cmd_synth, cmd_train
from embryograde_app.core.domain.schemes import DEFAULT_SCHEME
from embryograde_app.core.io.atomic import describe_os_error


# -------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="embryograde", description="Grade embryo fragmentation with AttnRegDeepLab.")
    p.add_argument("--version", action="version", version=f"embryograde {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser(
        "synth",
        help="write a synthetic time-lapse dataset (layout v1)",
        description="Synthetic EmbryoScope-like time-lapses with exact masks and labels.csv.",
    )
    s.add_argument("out", help="output folder (layout v1)")
    s.add_argument("--embryos", type=int, required=True, help="number of embryos (wells)")
    s.add_argument("--frames", type=int, required=True, help="frames per embryo")
    s.add_argument("--size", type=int, default=256, help="frame size in pixels (default 256)")
    s.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same bytes")
    s.add_argument(
        "--range-fraction",
        type=float,
        default=0.0,
        help="fraction of frames given only a range label (no mask), for weak-label training",
    )
    s.set_defaults(func=cmd_synth)

    t = sub.add_parser(
        "train",
        help="train AttnRegDeepLab (stage 1, 2 or end-to-end)",
        description="Train one stage on a layout-v1 dataset and write safetensors + JSON sidecar.",
    )
    t.add_argument("out", nargs="?", help="output weights, OUT.safetensors (sidecar OUT.json); not with --project")
    t.add_argument("--data", help="layout-v1 dataset folder")
    t.add_argument(
        "--project",
        help="retrain from this project's corrected masks and range labels and register the new model version "
        "(stage 2, --stage 1 for stage 1 then 2, --stage refine for the boundary refiner); starts from the active "
        "model",
    )
    t.add_argument(
        "--stage",
        choices=["1", "2", "e2e", "refine"],
        required=True,
        help="refine: train only the boundary refiner over the --init network",
    )
    t.add_argument("--init", help="start from these weights (required for stage 2 with --data)")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr", type=float, help="learning rate (default 1e-3; 3e-4 for stage 1 with --project)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="fraction of embryos held out for validation (0.2 for --data; 0.25 for --project, as in the window)",
    )
    t.add_argument("--patience", type=int, default=8, help="early stopping after this many epochs without gain")
    t.add_argument("--encoder", default="resnet18", choices=["resnet18", "resnet34", "resnet50"])
    t.add_argument("--input-size", type=int, default=256)
    t.add_argument("--width", type=int, default=128, help="ASPP/decoder channels")
    t.add_argument("--no-attention", action="store_true", help="ablation: plain skip connections")
    t.add_argument("--no-regression", action="store_true", help="ablation: no regression head")
    t.add_argument("--no-injection", action="store_true", help="ablation: no feature injection")
    t.add_argument(
        "--skip-strides",
        type=int,
        nargs="+",
        choices=[2, 4, 8],
        default=[4],
        help="gated skips: 4 always; 2 adds a full-detail stage from the stem, 8 a second semantic one",
    )
    t.add_argument(
        "--area-input",
        action="store_true",
        help="regression head also reads the seg head's area estimate (with --init: applied over its network)",
    )
    t.add_argument(
        "--refine-width",
        type=int,
        default=0,
        help="boundary refiner width (0 = none; with --init: added to its network, for --stage refine)",
    )
    t.add_argument("--resume", action="store_true", help="checkpoint every epoch and resume from OUT.ckpt.*")
    t.add_argument("--max-minutes", type=float, help="stop after this much wall time (best epoch kept)")
    t.add_argument("--workers", type=int, default=0, help="data loader processes")
    t.add_argument("--views", type=int, default=4, help="stage 2: flips/rotations of each frame to cache")
    t.add_argument("--cache-dir", help="stage 2: feature cache folder reused across runs")
    t.add_argument("--crop", type=int, help="stage 1 and refine: train on random crops of this size")
    t.add_argument("--fp32", action="store_true", help="store float32 weights (default float16)")
    t.add_argument("--no-activate", action="store_true", help="--project: register the version, keep the active one")
    t.add_argument("--force", action="store_true", help="--project: activate even if it did worse on held-out embryos")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "evaluate",
        help="metrics of a weights file on a labelled dataset",
        description=(
            "JSON with dice_fragment, dice_blastomere, dice_fragment_within_1px, mae_pct, grade_accuracy, "
            "kappa_linear, grade_confusion, range_violation_rate, area_mae_pct, area_grade_accuracy, n_frames, "
            "n_masks, n_range_labels."
        ),
    )
    e.add_argument("--weights", required=True)
    e.add_argument("--data", required=True, help="layout-v1 dataset with masks and/or labels")
    e.add_argument("--json", help="also write the metrics to this JSON file")
    e.add_argument("--device", default="auto")
    e.add_argument("--scheme", default=DEFAULT_SCHEME)
    e.set_defaults(func=cmd_evaluate)

    i = sub.add_parser(
        "import",
        help="import frames, layout-v1 datasets or labelme folders into a project",
        description="Create PROJECT if needed and import each SOURCE; importing twice adds nothing.",
    )
    i.add_argument("project")
    i.add_argument("sources", nargs="+", metavar="SOURCE")
    i.add_argument("--masks", help="folder of PNG masks paired with the sources' images by file name")
    i.set_defaults(func=cmd_import)

    x = sub.add_parser(
        "export",
        help="export a project's grades, masks or dataset",
        description="CSV grade report (+ OUT_embryos.csv summary), PNG masks, labelme, layout v1.",
    )
    x.add_argument("project")
    x.add_argument("--csv", help="grade report: one row per graded frame")
    x.add_argument("--report", help="printable HTML report: a page per embryo (day-2/3 grades, time course, frames)")
    x.add_argument("--masks", help="folder for PNG masks")
    x.add_argument("--labelme", help="folder for labelme JSON (+ images)")
    x.add_argument("--layout", help="folder for a layout-v1 dataset (trainable)")
    x.add_argument("--scheme", default=DEFAULT_SCHEME)
    x.set_defaults(func=cmd_export)

    tm = sub.add_parser(
        "timing",
        help="set when each embryo's frames were taken; show its day-2 and day-3 grades",
        description="Hours post-insemination where the frames do not carry them (EmbryoScope names): the hours "
        "of an embryo's first frame and the minutes between frames. Without options: each embryo's timing and its "
        "grades at 44 +/- 1 h (day 2) and 68 +/- 1 h (day 3).",
    )
    tm.add_argument("project")
    tm.add_argument("--first-h", type=float, help="hours post-insemination of the first frame")
    tm.add_argument("--interval-min", type=float, help="minutes between frames")
    tm.add_argument("--embryo", action="append", default=[], help="embryo key (repeatable; default: every embryo)")
    tm.add_argument("--clear", action="store_true", help="remove the timing")
    tm.add_argument("--scheme", default=DEFAULT_SCHEME)
    tm.set_defaults(func=cmd_timing)

    m = sub.add_parser(
        "models",
        help="list a project's model versions, or roll back to one",
        description="The project's model versions (* = in use) with parent and held-out MAE; --rollback VERSION "
        "makes a registered version the one in use after checking its file against the recorded sha256.",
    )
    m.add_argument("project")
    m.add_argument("--rollback", metavar="VERSION", help="version to use again")
    m.set_defaults(func=cmd_models)

    gr = sub.add_parser(
        "grade",
        help="batch grading of folders, files or a project",
        description="Grade INPUT folders/files into --csv OUT, or grade a PROJECT in place. "
        "Re-running skips frames already graded by the same model version.",
    )
    gr.add_argument("inputs", nargs="+", metavar="INPUT")
    gr.add_argument("--csv", help="report file (required for folders and files)")
    gr.add_argument("--weights", help="weights file (default: the project's active model, else the bundled one)")
    gr.add_argument("--scheme", default=DEFAULT_SCHEME)
    gr.add_argument("--batch-size", type=int, default=8)
    gr.add_argument("--device", default="auto")
    gr.set_defaults(func=cmd_grade)

    g = sub.add_parser("gui", help="open the grading window", description="Open the EmbryoGrade window.")
    g.add_argument("project", nargs="?", help="project or image folder to open")
    g.add_argument("--demo", help="demo project folder to create (from the generator) when no project is given")
    g.set_defaults(func=cmd_gui)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ["gui"]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = argv
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"embryograde {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # an output path that is a folder, read-only, on a full disk...
        print(f"embryograde {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:  # a project damaged or locked after it opened
        from embryograde_app.core.project.records import describe_database_error

        message = describe_database_error(exc, getattr(args, "project", None))
        print(f"embryograde {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"embryograde {args.command}: interrupted", file=sys.stderr)
        return 130
