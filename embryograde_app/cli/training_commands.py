"""The model commands: `synth` (a synthetic dataset), `train` (a weights file, or a project's new model
version with --project) and `evaluate` (a weights file's metrics on a labelled dataset)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from embryograde_app import __version__
from embryograde_app.cli.common import CommandError, progress_bar


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
    with progress_bar(total, "synth") as bar:
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
    from embryograde_app.core.project.registry import RetrainError, publish
    from embryograde_app.core.project.store import ProjectError, ProjectStore
    from embryograde_app.core.training.retraining import RetrainSettings, retrain
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
        with progress_bar(0, "evaluate") as bar:

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

