"""Command line (ARCHITECTURE.md section 6): `python main.py <command>` == `embryograde <command>`.

Torch and Qt are imported inside the commands that need them, so `--help` and `synth` start fast.
Every failure on bad input is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sqlite3
import sys
from pathlib import Path

from embryograde_app import __version__
from embryograde_app.core.domain.schemes import DEFAULT_SCHEME
from embryograde_app.core.io.atomic import describe_os_error


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def _progress_bar(total: int, desc: str):
    """tqdm bar that stays quiet when stderr is not a terminal (CI, pipes, the GUI)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not sys.stderr.isatty(), leave=False)


# ----------------------------------------------------------------------------------------------- synth
def cmd_synth(args: argparse.Namespace) -> int:
    from embryograde_app.core.io.atomic import atomic_write_text
    from embryograde_app.core.synth.generator import generate_dataset

    if args.embryos < 1 or args.frames < 1:
        raise CommandError("--embryos and --frames must be at least 1")
    if args.size < 64:
        raise CommandError("--size must be at least 64")
    if not 0 <= args.range_fraction <= 1:
        raise CommandError("--range-fraction must be between 0 and 1")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not (out / "labels.csv").exists():
        raise CommandError(f"{out}: folder exists and is not empty (refusing to mix with other files)")
    total = args.embryos * args.frames
    with _progress_bar(total, "synth") as bar:
        summary = generate_dataset(
            out,
            args.embryos,
            args.frames,
            size=args.size,
            seed=args.seed,
            range_label_fraction=args.range_fraction,
            progress=lambda done, _total: bar.update(done - bar.n),
        )
    meta = {
        "generator": "embryograde synth",
        "version": __version__,
        "embryos": args.embryos,
        "frames": args.frames,
        "size": args.size,
        "seed": args.seed,
        "range_label_fraction": args.range_fraction,
        "summary": summary,
    }
    atomic_write_text(out / "synth.json", json.dumps(meta, indent=2))
    print(
        f"wrote {summary['frames']} frames of {summary['embryos']} embryos to {out} "
        f"(grades {summary['grade_counts']}, {summary['frag_pct_min']:.1f}-{summary['frag_pct_max']:.1f} %)"
    )
    return 0


# ----------------------------------------------------------------------------------------------- train
def _data_seed(data: Path) -> int | None:
    try:
        return json.loads((data / "synth.json").read_text())["seed"]
    except (OSError, ValueError, KeyError):
        return None


def _init_overrides(args: argparse.Namespace) -> dict:
    """Architecture switches laid over an --init file's own (its tensors they reshape start fresh)."""
    if not args.init:
        return {}
    overrides = {}
    if args.area_input:
        overrides["area_input"] = True
    if args.refine_width:
        overrides["refine_width"] = args.refine_width
    return overrides


def cmd_train(args: argparse.Namespace) -> int:
    if args.project:
        return _train_project(args)
    if not args.out or not args.data:
        raise CommandError("give OUT.safetensors and --data DIR, or --project PROJECT")
    from embryograde_app.core.io.layout import LayoutError
    from embryograde_app.core.training.samples import samples_from_layout
    from models import ModelConfig
    from models.inference.weights import WeightsError, read_metadata, save_model, sha256_of
    from models.training.loop import TrainConfig, TrainingCancelled, TrainingError, describe, train

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise CommandError(f"{out}: the output must be a .safetensors file")
    try:
        samples = samples_from_layout(args.data)
    except LayoutError as exc:
        raise CommandError(str(exc)) from None
    model_cfg = ModelConfig(
        encoder=args.encoder,
        input_size=args.input_size,
        aspp_channels=args.width,
        decoder_channels=args.width,
        skip_channels=max(8, args.width * 3 // 8),
        embedding_dim=args.width,
        attention_gates=not args.no_attention,
        regression_head=not args.no_regression,
        feature_injection=not args.no_injection,
        area_input=args.area_input,
        skip_strides=tuple(args.skip_strides),
        fine_channels=max(8, args.width * 3 // 16),
        fine_skip_channels=max(4, args.width * 3 // 32),
        refine_width=args.refine_width,
    )
    cfg = TrainConfig(
        stage=args.stage,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr or 1e-3,
        seed=args.seed,
        val_fraction=TrainConfig.val_fraction if args.val_fraction is None else args.val_fraction,
        patience=args.patience,
        device=args.device,
        model=model_cfg,
        init_weights=args.init,
        init_overrides=_init_overrides(args),
        checkpoint=str(out.with_suffix("")) if args.resume else None,
        max_minutes=args.max_minutes,
        num_workers=args.workers,
        stage2_views=args.views,
        cache_dir=args.cache_dir,
        crop=args.crop,
    )
    from tqdm import tqdm

    bar = tqdm(total=cfg.epochs, desc=f"stage {cfg.stage}", unit="epoch", disable=not sys.stderr.isatty())

    def progress(p) -> None:
        if p.val_loss is not None:
            bar.update(p.epoch - bar.n)
            shown = {k: round(v, 4) for k, v in p.val_metrics.items() if isinstance(v, float)}
            bar.set_postfix(train=f"{p.train_loss:.4f}", val=f"{p.val_loss:.4f}", **shown)
            if not sys.stderr.isatty():
                print(f"epoch {p.epoch}/{p.epochs} train {p.train_loss:.4f} val {p.val_loss:.4f} {shown}", flush=True)

    try:
        result = train(cfg, samples, progress=progress)
    except (TrainingError, WeightsError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    except TrainingCancelled as exc:
        raise CommandError(str(exc)) from None
    finally:
        bar.close()
    from models.inference.device import rank

    if rank() != 0:
        return 0
    parent = None
    if args.init:
        parent_meta = read_metadata(args.init)
        parent = {"path": str(args.init), "sha256": sha256_of(args.init), "version": parent_meta.get("version")}
    meta = {
        "version": f"{out.stem}-stage{cfg.stage}",
        "command": "embryograde " + " ".join(shlex.quote(a) for a in args.argv),
        "stage": cfg.stage,
        "data": {"path": str(args.data), "seed": _data_seed(Path(args.data)), **result.data_summary},
        "train_config": describe(cfg),
        "metrics": {"validation": _jsonable(result.val_metrics), "best_epoch": result.best_epoch},
        "history": _jsonable(result.history),
        "parent": parent,
        "device": result.device,
        "train_seconds": round(result.seconds, 1),
    }
    save_model(out, result.model, meta, fp16=not args.fp32)
    print(
        f"wrote {out} (best epoch {result.best_epoch}, validation {_jsonable(result.val_metrics)}, "
        f"{result.seconds / 60:.1f} min on {result.device})"
    )
    return 0


def _train_project(args: argparse.Namespace) -> int:
    """Retrain from a project's corrections (as the window's Retrain button), then register the version.

    It becomes the active model when it is no worse on the held-out embryos (or with --force); --no-activate
    only registers it (the window can switch to it later).
    """
    from embryograde_app.core.project.store import ProjectError, ProjectStore
    from embryograde_app.core.training.retraining import RetrainError, RetrainSettings, publish, retrain
    from models.inference.weights import WeightsError
    from models.training.loop import TrainingCancelled, TrainingError

    if args.out or args.data:
        raise CommandError("--project trains inside the project: give neither OUT nor --data")
    if args.stage not in ("1", "2", "refine"):
        raise CommandError(
            "--project trains stage 2, stage 1 then 2 (--stage 1) or the boundary refiner (--stage refine); "
            "e2e is for --data"
        )
    if not ProjectStore.is_project(args.project):
        raise CommandError(f"{args.project}: not an EmbryoGrade project (no project.sqlite)")
    try:
        settings = RetrainSettings(
            project=str(args.project),
            stage=args.stage,
            epochs=args.epochs,
            stage1_epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr or 1e-3,
            stage1_lr=args.lr or 3e-4,
            device=args.device,
            val_fraction=RetrainSettings.val_fraction if args.val_fraction is None else args.val_fraction,
            seed=args.seed,
            patience=args.patience,
            views=args.views,
            crop=args.crop,
            init_weights=args.init,
            max_minutes=args.max_minutes,
        )
    except RetrainError as exc:
        raise CommandError(str(exc)) from None
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=f"retrain stage {args.stage}", unit="‰", disable=not sys.stderr.isatty())

    def progress(update) -> None:
        bar.update(int(1000 * update.fraction) - bar.n)
        if update.epoch_end:
            bar.set_postfix(stage=update.stage, train=f"{update.train_loss:.4f}", val=f"{update.val_loss:.4f}")
            if not sys.stderr.isatty():
                print(
                    f"stage {update.stage} epoch {update.epoch}/{update.epochs} "
                    f"train {update.train_loss:.4f} val {update.val_loss:.4f}",
                    flush=True,
                )

    try:
        candidate = retrain(settings, progress)
    except (TrainingError, TrainingCancelled, RetrainError, ProjectError, WeightsError, ValueError) as exc:
        raise CommandError(f"{exc} (the active model is unchanged)") from None
    finally:
        bar.close()
    activate = not args.no_activate and (candidate.acceptable or args.force)
    try:
        path = publish(candidate, activate=activate)
    except (RetrainError, ProjectError) as exc:
        raise CommandError(str(exc)) from None
    for key in ("mae_pct", "range_violation_rate", "dice_fragment"):
        print(f"{key}: {_fmt_metric(candidate.before.get(key))} -> {_fmt_metric(candidate.after.get(key))}")
    for warning in candidate.warnings:
        print(f"warning: {warning}")
    state = "now active" if activate else "registered, not active (use --force, or switch in the window)"
    print(
        f"version {candidate.version} (parent {candidate.parent_version}) -> {path}: {state}; "
        f"{candidate.seconds:.0f} s on {candidate.device}, features cached {candidate.cache}"
    )
    return 0


def _fmt_metric(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


# -------------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from embryograde_app.core.io.atomic import atomic_write_text
    from embryograde_app.core.io.layout import LayoutError
    from embryograde_app.core.training.evaluate import evaluate_dataset
    from models.inference.weights import WeightsError

    try:
        with _progress_bar(0, "evaluate") as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            result = evaluate_dataset(
                args.weights, args.data, device=args.device, scheme_name=args.scheme, progress=progress
            )
    except (LayoutError, WeightsError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    text = json.dumps(_jsonable(result), indent=2)
    if args.json:
        atomic_write_text(args.json, text + "\n")
    print(text)
    return 0


# ------------------------------------------------------------------------------------------ import/export
MAX_WARNINGS_SHOWN = 20  # e.g. one "no mask" per image of a long time-lapse: the first few say enough


def _print_skipped(skipped: list[str]) -> None:
    if skipped:
        print(f"{len(skipped)} problem(s):", file=sys.stderr)
        for line in skipped:
            print(f"  {line}", file=sys.stderr)


def cmd_import(args: argparse.Namespace) -> int:
    from embryograde_app.core.project.frame_import import import_into_project
    from embryograde_app.core.project.store import ProjectError

    bar = _progress_bar(0, "import")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        summary = import_into_project(args.project, args.sources, progress, masks_dir=args.masks)
    except ProjectError as exc:
        raise CommandError(str(exc)) from None
    finally:
        bar.close()
    print(f"{args.project}: {summary.line()}")
    for line in summary.warnings[:MAX_WARNINGS_SHOWN]:
        print(f"warning: {line}", file=sys.stderr)
    if len(summary.warnings) > MAX_WARNINGS_SHOWN:
        print(f"warning: … and {len(summary.warnings) - MAX_WARNINGS_SHOWN} more", file=sys.stderr)
    _print_skipped(summary.skipped)
    return 1 if summary.skipped else 0


def cmd_models(args: argparse.Namespace) -> int:
    """A project's model versions (the window's versions table, headless), and rolling back to one."""
    from embryograde_app.core.project.store import ProjectError, ProjectStore
    from embryograde_app.core.training.retraining import model_versions, rollback

    if not ProjectStore.is_project(args.project):
        raise CommandError(f"{args.project}: not an EmbryoGrade project (no project.sqlite)")
    try:
        if args.rollback:
            path = rollback(args.project, args.rollback)
            print(f"{args.project}: now using {args.rollback} ({path.name}, sha256 checked)")
        versions = model_versions(args.project)
    except ProjectError as exc:
        raise CommandError(str(exc)) from None
    if not versions:
        print(f"{args.project}: no model versions yet (the bundled model is registered at the first grading)")
        return 0
    print(f"{'':2}{'version':<34}{'parent':<34}{'held-out MAE before -> after':<30}")
    for v in versions:
        before, after = v.metrics.get("before") or {}, v.metrics.get("after") or {}
        change = (
            f"{before['mae_pct']:.2f} -> {after['mae_pct']:.2f}"
            if isinstance(before.get("mae_pct"), float) and isinstance(after.get("mae_pct"), float)
            else "—"
        )
        print(f"{'*' if v.active else ' '} {v.version:<34}{v.parent_version or '—':<34}{change:<30}")
    return 0


def cmd_timing(args: argparse.Namespace) -> int:
    """When each embryo's frames were taken (hours post-insemination), and its grades at day 2 and day 3."""
    from embryograde_app.core.domain.schemes import get_scheme
    from embryograde_app.core.project.store import ProjectError, ProjectStore, Timing
    from embryograde_app.core.project.timing import project_day_grades

    if not ProjectStore.is_project(args.project):
        raise CommandError(f"{args.project}: not an EmbryoGrade project (no project.sqlite)")
    if (args.first_h is None) != (args.interval_min is None):
        raise CommandError("give both --first-h and --interval-min (or --clear)")
    try:
        with ProjectStore(args.project) as store:
            embryos = {row["key"]: int(row["id"]) for row in store.embryos()}
            unknown = [key for key in args.embryo if key not in embryos]
            if unknown:
                raise CommandError(f"{args.project}: no embryo {', '.join(unknown)} (it has {', '.join(embryos)})")
            chosen = [embryos[key] for key in args.embryo] if args.embryo else list(embryos.values())
            if args.clear:
                store.set_timing(chosen, None)
            elif args.first_h is not None:
                store.set_timing(chosen, Timing(args.first_h, args.interval_min))
            timings = store.timings()
            grades = project_day_grades(store, get_scheme(args.scheme))
    except ProjectError as exc:
        raise CommandError(str(exc)) from None
    for key, embryo_id in embryos.items():
        timing = timings.get(embryo_id)
        when = f"first frame {timing.first_frame_h:g} h, every {timing.interval_min:g} min" if timing else "no timing"
        days = grades.get(key, {}).values()
        said = "; ".join(f"{d.day}: grade {d.grade} ({d.pct:.1f} %, {d.source}, {d.frames} frame(s))" for d in days)
        print(f"{key}: {when}; {said or 'no frame within 44 +/- 1 h or 68 +/- 1 h'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from embryograde_app.core.project.store import ProjectError, ProjectStore

    if not (args.csv or args.masks or args.labelme or args.layout or args.report):
        raise CommandError("nothing to export: give --csv, --report, --masks, --labelme and/or --layout")
    try:
        if args.report:
            from embryograde_app.core.domain.schemes import get_scheme
            from embryograde_app.core.project.printable_report import write_embryo_report

            with ProjectStore(args.project) as store:
                n = write_embryo_report(store, args.report, get_scheme(args.scheme))
            print(f"wrote the printable report of {n} embryo(s) to {args.report}")
        if args.csv:
            from embryograde_app.core.project.csv_export import export_project_csv

            n, summary_file = export_project_csv(args.project, args.csv, args.scheme)
            print(f"wrote {n} row(s) to {args.csv} and the per-embryo summary to {summary_file}")
        if args.masks or args.labelme or args.layout:
            from embryograde_app.core.project import dataset_export as project_export
            with ProjectStore(args.project) as store:
                for target, fn, what in (
                    (args.masks, project_export.export_png_masks, "PNG masks"),
                    (args.labelme, project_export.export_labelme, "labelme files"),
                    (args.layout, project_export.export_layout_v1, "layout-v1 frames"),
                ):
                    if target:
                        with project_export.all_or_nothing(target):
                            count = fn(store, Path(target))
                        print(f"wrote {count} {what} to {target}")
    except (ProjectError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    return 0


# ----------------------------------------------------------------------------------------------- grade
def cmd_grade(args: argparse.Namespace) -> int:
    from embryograde_app.core.grading.batch import grade_inputs_to_csv, grade_project
    from embryograde_app.core.project.store import ProjectError, ProjectStore
    from models.inference.predictor import Predictor
    from models.inference.weights import WeightsError

    inputs = [Path(p) for p in args.inputs]
    projects = [p for p in inputs if ProjectStore.is_project(p)]
    bar = _progress_bar(0, "grade")

    def progress(done: int, total: int) -> None:
        bar.total = total or None
        bar.update(done - bar.n)

    try:
        if projects:
            if len(inputs) != 1:
                raise CommandError("grade one project at a time (a project folder cannot be mixed with other inputs)")
            summary = grade_project(
                projects[0],
                lambda path: Predictor.from_file(path, args.device),
                args.scheme,
                args.batch_size,
                weights=args.weights,
                progress=progress,
            )
        else:
            if not args.csv:
                raise CommandError("--csv OUT is required when grading folders or files")
            from embryograde_app.paths import BUNDLED_WEIGHTS

            predictor = Predictor.from_file(args.weights or BUNDLED_WEIGHTS, args.device)
            summary = grade_inputs_to_csv(predictor, inputs, args.csv, args.scheme, args.batch_size, progress)
    except (ProjectError, WeightsError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        bar.close()
    print(summary.line() + (f"; report {args.csv}" if args.csv and not projects else ""))
    _print_skipped(summary.skipped)
    return 1 if summary.skipped else 0


# ------------------------------------------------------------------------------------------------- gui
def cmd_gui(args: argparse.Namespace) -> int:
    from embryograde_app import platform_check

    report = platform_check.check()
    if not report.ok:  # Qt would abort the process; say why instead
        print(platform_check.message(report), file=sys.stderr)
        return 2
    from embryograde_app.ui.app import run_gui

    return run_gui(project=args.project, demo=args.demo)


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
        from embryograde_app.core.project.store import describe_database_error

        message = describe_database_error(exc, getattr(args, "project", None))
        print(f"embryograde {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"embryograde {args.command}: interrupted", file=sys.stderr)
        return 130
