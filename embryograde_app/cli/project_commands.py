"""The project commands: `import`, `models` (versions, rollback), `timing`, `export` and `grade` (a project
in place, or folders and files into a CSV report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from embryograde_app.cli.common import CommandError, print_skipped, progress_bar

MAX_WARNINGS_SHOWN = 20  # e.g. one "no mask" per image of a long time-lapse: the first few say enough


# ------------------------------------------------------------------------------------------ import/export
def cmd_import(args: argparse.Namespace) -> int:
    from embryograde_app.core.project.frame_import import import_into_project
    from embryograde_app.core.project.store import ProjectError

    bar = progress_bar(0, "import")

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
    print_skipped(summary.skipped)
    return 1 if summary.skipped else 0


def cmd_models(args: argparse.Namespace) -> int:
    """A project's model versions (the window's versions table, headless), and rolling back to one."""
    from embryograde_app.core.project.registry import model_versions, rollback
    from embryograde_app.core.project.store import ProjectError, ProjectStore

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
    from embryograde_app.core.project.records import Timing
    from embryograde_app.core.project.store import ProjectError, ProjectStore
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
            from embryograde_app.core.project import dataset_export
            with ProjectStore(args.project) as store:
                for target, fn, what in (
                    (args.masks, dataset_export.export_png_masks, "PNG masks"),
                    (args.labelme, dataset_export.export_labelme, "labelme files"),
                    (args.layout, dataset_export.export_layout_v1, "layout-v1 frames"),
                ):
                    if target:
                        with dataset_export.all_or_nothing(target):
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
    bar = progress_bar(0, "grade")

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
            from embryograde_app.core.project.registry import resolve_weights
            from embryograde_app.paths import BUNDLED_WEIGHTS

            weights = resolve_weights(args.weights)  # --weights, else the bundled model
            if weights is None:
                raise CommandError(f"{BUNDLED_WEIGHTS}: weights file not found (give --weights)")
            predictor = Predictor.from_file(weights, args.device)
            summary = grade_inputs_to_csv(predictor, inputs, args.csv, args.scheme, args.batch_size, progress)
    except (ProjectError, WeightsError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        bar.close()
    print(summary.line() + (f"; report {args.csv}" if args.csv and not projects else ""))
    print_skipped(summary.skipped)
    return 1 if summary.skipped else 0

