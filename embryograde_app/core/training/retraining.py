"""Retraining from the project's corrections: gather, train, compare; the candidate it leaves is published,
discarded or rolled back from by the model registry (core/project/registry.py).

Qt-free, so `train --project` and the window's background worker run the same code. A run writes only a
candidate file under PROJECT/models/candidates/; the active model changes in the registry's publish() and
rollback() alone, each one SQLite transaction. A cancelled, failed (NaN loss, out of memory) or discarded run
therefore leaves the model in use untouched. Features of the frozen network are cached on disk under
PROJECT/cache/features, keyed by the frozen weights and the frame's bytes, so a second retrain on a grown
dataset only runs the network on frames it has not seen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from embryograde_app.core.domain.schemes import DEFAULT_SCHEME
from embryograde_app.core.project.registry import (
    CANDIDATES_DIR,
    Candidate,
    RetrainError,
    ensure_active_model,
    register_weights,
    remove_weights,
    reserve_candidate_version,
    sweep_abandoned_candidates,
)
from embryograde_app.core.project.store import ProjectError, ProjectStore

FEATURE_CACHE_DIR = "cache/features"
DICE_TOLERANCE = 0.01  # ARCHITECTURE.md section 4: stage 2 must not lower fragment Dice by more than this
STAGES = {
    "2": "grading head (stage 2)",
    "1": "segmentation, then grading head (stage 1 + 2)",
    "refine": "mask edges: the boundary refiner, from corrected masks",
}
REFINE_WIDTH = 24  # the refiner given to a model that has none (the bundled model's width)


@dataclass(frozen=True)
class RetrainSettings:
    """Everything a run needs, copied on the caller's thread before the run starts."""

    project: str
    stage: str = "2"  # "2": grading head only; "1": fine-tune segmentation (stage 1), then stage 2; "refine"
    epochs: int = 30  # stage 2
    stage1_epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3  # stage 2
    stage1_lr: float = 3e-4  # fine-tuning: lower than training from scratch
    device: str = "auto"
    val_fraction: float = 0.25
    seed: int = 0
    patience: int = 8
    views: int = 4  # stage 2: flips/rotations of each frame
    crop: int | None = None  # stage 1: random crops around the embryo (faster steps)
    init_weights: str | None = None  # None: the project's active model
    scheme: str = DEFAULT_SCHEME
    max_minutes: float | None = None
    # Stage "1" follows the real-embryo recipe (models/training/real_recipe.py): the person's frames, repeated, mixed
    # with this many generator frames (made once into PROJECT/cache/generator), which keep what the generator
    # taught while a few corrections teach the real look.
    generator_frames: int = 64

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise RetrainError(f"stage must be one of {', '.join(STAGES)} (got {self.stage!r})")
        if min(self.epochs, self.stage1_epochs, self.batch_size) < 1:
            raise RetrainError("epochs and batch size must be at least 1")


@dataclass(frozen=True)
class RetrainUpdate:
    """One progress report: the phase, the training position and losses, and the whole run's fraction done."""

    phase: str  # "features", "stage 1", "stage 2", "stage refine", "evaluate"
    stage: str
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    train_loss: float | None = None
    val_loss: float | None = None  # set once per epoch, at its end
    fraction: float = 0.0

    @property
    def epoch_end(self) -> bool:
        return self.val_loss is not None


UpdateFn = Callable[[RetrainUpdate], None]
StopFn = Callable[[], bool]


# ------------------------------------------------------------------------------------ samples
def gather_samples(store: ProjectStore) -> list:
    """Every frame a person labelled (ProjectStore.person_labels): the latest human or imported mask gives the
    exact %, else the range label. A mask wins over a range label (it is the exact truth); model-authored masks
    are never training data.
    """
    from models.training.data import Sample

    labels = store.person_labels()
    return [
        Sample(
            str(frame.image_path),
            frame.embryo_key,
            frame.frame_number,
            None if label.mask_path is None else str(label.mask_path),
            label.lo,
            label.hi,
        )
        for frame in store.frames()
        if (label := labels.get(frame.id)) is not None
    ]


# ------------------------------------------------------------------------------------ the run
def retrain(
    settings: RetrainSettings, on_update: UpdateFn | None = None, should_stop: StopFn | None = None
) -> Candidate:
    """Train on the project's labels and save a candidate; the active model is not changed.

    Raises models.training.loop.TrainingCancelled when should_stop() turns true, TrainingError on NaN loss or
    out-of-memory, RetrainError on too few labels; in every case no candidate file is left behind.
    """
    import torch

    from models.inference.device import describe_device, release_device_memory, select_device
    from models.inference.weights import WeightsError, read_metadata
    from models.training.data import split_by_embryo
    from models.training.loop import TrainingError

    root = Path(settings.project)
    emit = on_update or (lambda _u: None)
    with ProjectStore(root) as store:
        try:
            if settings.init_weights:  # a starting point only: registered, but the model in use stays as it is
                parent_version, parent_path = register_weights(store, settings.init_weights, activate=False)
            else:
                parent_version, parent_path = ensure_active_model(store)
        except (WeightsError, ProjectError, OSError) as exc:
            raise RetrainError(f"cannot use the starting model: {exc}") from exc
        active = store.active_model()
        active_version = active["version"] if active is not None else None
        samples = gather_samples(store)
    labelled = [s for s in samples if settings.stage == "2" or s.mask_path]
    if len(labelled) < 2:
        what = "a corrected mask or a range label" if settings.stage == "2" else "a corrected mask"
        raise RetrainError(f"retraining needs at least 2 frames with {what}; this project has {len(labelled)}")
    # One split by embryo for every stage and for the before/after comparison: nothing seen in training is scored.
    _, held_out = split_by_embryo(labelled, settings.val_fraction, settings.seed)
    val_embryos = tuple(sorted({s.embryo_id for s in held_out}))
    device = select_device(settings.device)
    parent_meta = read_metadata(parent_path)
    sweep_abandoned_candidates(root)
    version = reserve_candidate_version(root, settings.stage)
    candidates = root / CANDIDATES_DIR
    candidates.mkdir(parents=True, exist_ok=True)
    out = candidates / f"{version}.safetensors"
    stage1_out = candidates / f"{version}.stage1.safetensors"
    plan = {"1": [("1", 0.7), ("2", 0.25)], "2": [("2", 0.95)], "refine": [("refine", 0.95)]}[settings.stage]
    t0 = time.monotonic()
    try:
        init, history, summary, done = str(parent_path), [], {}, 0.0
        generator = _generator_samples(root, settings.generator_frames) if settings.stage == "1" else []
        for stage, weight in plan:
            if settings.stage == "1":  # segmentation and grading: the real-embryo recipe
                cfg, stage_samples = _recipe_stage(settings, stage, init, root, val_embryos, samples, generator)
            else:
                cfg, stage_samples = _train_config(settings, stage, init, root, val_embryos), samples
            emit(RetrainUpdate("features" if stage == "2" else f"stage {stage}", stage, fraction=done))
            result = _train_stage(cfg, stage_samples, emit, should_stop, done, weight)
            history += [dict(h, stage=stage) for h in result.history]
            summary[f"stage{stage}"] = result.data_summary
            done += weight
            if stage == "1":
                _save(stage1_out, result.model, {"version": f"{version}-stage1"}, parent_meta)
                init = str(stage1_out)
        cache = {k[len("cache_") :]: v for k, v in result.val_metrics.items() if k.startswith("cache_")}
        meta = {
            "version": version,
            "parent": {"version": parent_version, "sha256": parent_meta.get("sha256")},
            "stage": settings.stage,
            "data": summary,
            "history": history,
            "device": str(device),
            "train_seconds": round(time.monotonic() - t0, 1),
        }
        _save(out, result.model, meta, parent_meta)
        del result
        emit(RetrainUpdate("evaluate", settings.stage, fraction=done))
        val = [s for s in samples if s.embryo_id in set(val_embryos)]
        before = _evaluate(parent_path, val, settings, device, should_stop)
        after = _evaluate(out, val, settings, device, should_stop)
        if device.type == "cpu":  # a workstation without a GPU grades on ONNX Runtime
            _export_for_the_cpu(out)
        emit(RetrainUpdate("evaluate", settings.stage, fraction=1.0))
    except torch.OutOfMemoryError as exc:
        remove_weights(out)
        raise TrainingError(f"out of memory on {device}: lower the batch size or use the CPU") from exc
    except BaseException:
        remove_weights(out)
        raise
    finally:
        remove_weights(stage1_out)
        release_device_memory(device)
    return Candidate(
        project=str(root),
        version=version,
        parent_version=parent_version,
        stage=settings.stage,
        weights=str(out),
        before=before,
        after=after,
        data_summary={"stages": summary, "val_embryos": list(val_embryos), "frames": len(samples)},
        history=history,
        device=describe_device(device),
        seconds=time.monotonic() - t0,
        cache=cache,
        warnings=compare(before, after, bool(val)),
        active_version=active_version,
    )


def _train_config(settings: RetrainSettings, stage: str, init: str, root: Path, val_embryos: tuple[str, ...]):
    from models.inference.weights import model_config_of
    from models.training.loop import TrainConfig

    overrides = {}
    if stage == "refine" and model_config_of(init).refine_width == 0:
        overrides["refine_width"] = REFINE_WIDTH
    return TrainConfig(
        stage=stage,
        epochs=settings.stage1_epochs if stage == "1" else settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.stage1_lr if stage == "1" else settings.lr,
        val_fraction=settings.val_fraction,
        seed=settings.seed,
        patience=settings.patience,
        device=settings.device,
        init_weights=init,
        init_overrides=overrides,
        stage2_views=settings.views,
        cache_dir=str(root / FEATURE_CACHE_DIR),
        crop=settings.crop,
        max_minutes=settings.max_minutes,
        val_embryos=val_embryos,
    )


def _recipe(settings: RetrainSettings):
    from models.training.real_recipe import RealRecipe

    default = RealRecipe()
    return RealRecipe(
        stage1_minutes=settings.max_minutes,
        stage1_epochs=settings.stage1_epochs,
        stage1_schedule_epochs=default.stage1_schedule_epochs,
        stage1_lr=settings.stage1_lr,
        stage1_crop=settings.crop or default.stage1_crop,
        synth_frames=settings.generator_frames,
        real_repeats=8,  # with 64 generator frames: the mix bench.correction_curve measured
        stage2_epochs=settings.epochs,
        stage2_lr=settings.lr,
        stage2_views=settings.views,
        batch_size=settings.batch_size,
        seed=settings.seed,
        device=settings.device,
    )


def _recipe_stage(settings: RetrainSettings, stage: str, init: str, root: Path, val_embryos, samples, generator):
    """Stage 1 or 2 of the real-embryo recipe on the project's frames; the held-out embryos validate."""
    from models.training import real_recipe
    recipe = _recipe(settings)
    held_out = set(val_embryos)
    common = {
        "val_embryos": val_embryos,
        "patience": settings.patience,
        "cache_dir": str(root / FEATURE_CACHE_DIR),
    }
    if stage == "1":
        cfg = real_recipe.stage1_config(recipe, init, **common)
        return cfg, real_recipe.stage1_samples(samples, generator, recipe, held_out)
    cfg = real_recipe.stage2_config(recipe, init, **common)
    return cfg, real_recipe.stage2_samples(samples, generator, recipe, held_out)


GENERATOR_DIR = "cache/generator"
GENERATOR_SEED = 1004  # not a seed of the bundled model's training or test sets


def _generator_samples(root: Path, frames: int) -> list:
    """Generator frames for the recipe's mix, written once per project (to a temporary folder, then renamed,
    so a run killed half-way leaves nothing half-written that a later run would trust)."""
    import shutil
    import tempfile

    from embryograde_app.core.synth.generator import generate_dataset
    from embryograde_app.core.training.samples import samples_from_layout

    if frames <= 0:
        return []
    folder = root / GENERATOR_DIR / f"seed{GENERATOR_SEED}_{frames}"
    if not (folder / "labels.csv").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".gen-", dir=folder.parent))
        try:
            generate_dataset(tmp, (frames + 1) // 2, 2, size=256, seed=GENERATOR_SEED)
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return samples_from_layout(folder)[:frames]


def _train_stage(cfg, samples, emit: UpdateFn, should_stop: StopFn | None, start: float, weight: float):
    from models.training.loop import train

    def progress(p) -> None:
        within = (p.epoch - 1 + p.step / max(p.steps, 1)) / max(p.epochs, 1)
        emit(
            RetrainUpdate(
                f"stage {p.stage}",
                p.stage,
                p.epoch,
                p.epochs,
                p.step,
                p.steps,
                p.train_loss,
                p.val_loss,
                start + weight * min(within, 1.0),
            )
        )

    return train(cfg, samples, progress=progress, should_stop=should_stop)


def _save(path: Path, model, meta: dict, parent_meta: dict) -> None:
    """Same storage dtype as the parent: the frozen half then stays bit-identical and its cached features valid."""
    from models.inference.weights import save_model

    save_model(path, model, meta, fp16=parent_meta.get("storage_dtype", "float16") == "float16")


def _evaluate(weights: Path, samples: list, settings: RetrainSettings, device, should_stop: StopFn | None) -> dict:
    """The model as it will run (loaded from its file, whole network at frame size) on the held-out embryos."""
    from embryograde_app.core.training.evaluate import evaluate_predictor
    from models.inference.predictor import Predictor
    from models.inference.weights import load_model
    from models.training.loop import TrainingCancelled

    if not samples:
        return {}
    model, meta = load_model(weights, device)
    predictor = Predictor(model, meta, device)

    def progress(_done: int, _total: int) -> None:
        if should_stop is not None and should_stop():
            raise TrainingCancelled("training was cancelled")

    metrics = evaluate_predictor(predictor, samples, settings.scheme, progress=progress)
    keep = ("mae_pct", "range_violation_rate", "dice_fragment", "dice_blastomere", "grade_accuracy", "n_frames")
    return {k: metrics[k] for k in keep}


def compare(before: dict, after: dict, validated: bool) -> list[str]:
    """Reasons not to publish: nothing held out, a worse MAE or range-violation rate, fragment Dice lowered."""
    if not validated:
        return ["no held-out embryo to validate on: label frames of at least 2 embryos"]
    warnings = []
    for key, name, unit in (("mae_pct", "MAE", " %"), ("range_violation_rate", "range-violation rate", "")):
        b, a = before.get(key), after.get(key)
        if b is not None and a is not None and a > b + 1e-9:
            warnings.append(f"{name} rose from {b:.3g}{unit} to {a:.3g}{unit}")
    b, a = before.get("dice_fragment"), after.get("dice_fragment")
    if b is not None and a is not None and a < b - DICE_TOLERANCE:
        warnings.append(f"fragment Dice fell from {b:.3f} to {a:.3f} (more than {DICE_TOLERANCE})")
    for key, value in after.items():
        if isinstance(value, float) and not math.isfinite(value):
            warnings.append(f"{key} is {value}")
    return warnings


def _export_for_the_cpu(weights: Path) -> None:
    """Export the candidate for ONNX Runtime now, in a child process while the run still says "evaluating":
    otherwise the re-grade after publishing builds the torch network and exports it on the window's background
    threads, and those threads' Python work stalls the event loop (93-101 ms measured). Best effort: a failed
    export is made again at first use."""
    from models.inference import onnx_backend
    from models.inference.weights import read_metadata

    if not onnx_backend.available() or onnx_backend.chosen_backend() == "torch":
        return
    try:
        onnx_backend.ensure_exported(None, weights, str(read_metadata(weights)["sha256"]), in_process=False)
    except Exception as exc:  # noqa: BLE001 - the candidate stands without its export
        onnx_backend.log.warning("%s: not exported for ONNX Runtime yet (%s)", weights, exc)
