"""How a generator-trained network is taught real embryos from a handful of labelled real frames.

One function serves the bundled model (scripts/train_real.py), the leave-one-embryo-out validation
(bench/real_eval.py) and any experiment, so the numbers measured are those of the recipe that ships.

The recipe, chosen by leave-one-embryo-out numbers (docs/ARCHITECTURE.md and bench/results/real_eval.md):
- the network reads the whole embryo-centred canonical view (models/network/canonical.py) with per-image intensity
  normalisation, so 500-px dark EmbryoScope wells, 800-px light bright-field dishes and generator frames
  reach it at one scale and one brightness; stage 1 trains on that whole view, not on crops of it (192-px
  crops lost fragment Dice on every held-out embryo, bench/results/gpu_sweep_1.json);
- stage 1 fine-tunes the whole segmentation network from the generator model on the real frames (repeated,
  each repetition a different augmentation) mixed with generator frames, which keep what the generator
  taught (cells, zona, small fragments) while the real frames teach the real look;
- stage 2 trains the grading head with the segmentation's own area estimate as an input (area_input): a
  fragmentation % is a ratio of areas, and a head reading pooled features cannot learn the real look's
  mapping from a few frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from models.network.attnregdeeplab import AttnRegDeepLab
from models.training.data import Sample
from models.training.loop import TrainConfig, TrainResult, train

StopFn = Callable[[], bool]


@dataclass(frozen=True)
class RealRecipe:
    """Knobs of the real-embryo fine-tune (defaults: what the bundled model was trained with)."""

    stage1_minutes: float | None = None  # a cap for callers on a clock (the window's retrain); None: epochs decide
    stage1_epochs: int = 18
    # 18 epochs of a 40-epoch cosine: as good as all 40 by leave-one-embryo-out, in less than half the time
    # (bench/results/gpu_sweep_2.json: pooled fragment Dice 0.639 against 0.647)
    stage1_schedule_epochs: int | None = 40
    stage1_lr: float = 5e-4
    stage1_crop: int = 0  # 0: the whole canonical view (crops of 192 lost fragment Dice on every held-out embryo)
    real_repeats: int = 6  # each real frame appears this often per stage-1 epoch (different augmentations)
    synth_frames: int = 192  # generator frames per stage-1 epoch (with 64 the synthetic guard failed)
    stage2_epochs: int = 20
    stage2_lr: float = 2e-3
    stage2_real_repeats: int = 8
    stage2_views: int = 2
    crop_margin: float = 1.4
    input_norm: str = "per_image"
    area_input: bool = True
    batch_size: int = 8
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0  # stage-1 data-loader processes (a GPU outruns augmentation on one core)

    def overrides(self) -> dict:
        return {"canonical_crop": True, "crop_margin": self.crop_margin, "input_norm": self.input_norm}


# A few steps of everything, for smoke tests on tiny models and data.
QUICK_RECIPE = RealRecipe(
    stage1_minutes=1.0, stage1_epochs=1, stage1_crop=0, real_repeats=1, synth_frames=4, stage2_epochs=1,
    stage2_real_repeats=1, stage2_views=1, batch_size=4,
)


@dataclass
class RecipeResult:
    model: AttnRegDeepLab
    stage1: TrainResult
    stage2: TrainResult | None
    seconds: float
    data: dict


def _repeat(samples: list[Sample], times: int) -> list[Sample]:
    return [s for _ in range(max(1, times)) for s in samples]


def stage1_samples(real: list[Sample], synth: list[Sample], recipe: RealRecipe, held_out: set[str] = frozenset()):
    """Masked real frames, repeated (each copy another augmentation), plus the generator frames; frames of
    held-out embryos once (they only validate)."""
    masked = [s for s in real if s.mask_path]
    train = [s for s in masked if s.embryo_id not in held_out]
    val = [s for s in masked if s.embryo_id in held_out]
    return _repeat(train, recipe.real_repeats) + val + [s for s in synth[: recipe.synth_frames] if s.mask_path]


def stage2_samples(real: list[Sample], synth: list[Sample], recipe: RealRecipe, held_out: set[str] = frozenset()):
    """Real frames with a % (from a mask or a range label), repeated, plus the labelled generator frames."""
    labelled = [s for s in real if s.has_label or s.mask_path]
    train = [s for s in labelled if s.embryo_id not in held_out]
    val = [s for s in labelled if s.embryo_id in held_out]
    return _repeat(train, recipe.stage2_real_repeats) + val + [s for s in synth if s.has_label]


def _config(recipe: RealRecipe, stage: str, init_weights: str, epochs: int, **fields) -> TrainConfig:
    """A stage of the recipe without a validation split: it runs its epochs (or minutes) in full."""
    return TrainConfig(
        stage=stage,
        epochs=epochs,
        val_fraction=0.0,
        patience=epochs,
        seed=recipe.seed,
        device=recipe.device,
        init_weights=init_weights,
        val_embryos=(),
        **fields,
    )


def stage1_config(recipe: RealRecipe, init_weights: str, **changes) -> TrainConfig:
    """Stage 1: the whole segmentation network, on the canonical view (the overrides move a whole-frame
    generator model to it)."""
    cfg = _config(
        recipe,
        "1",
        init_weights,
        recipe.stage1_epochs,
        batch_size=recipe.batch_size,
        lr=recipe.stage1_lr,
        init_overrides=recipe.overrides(),
        max_minutes=recipe.stage1_minutes,
        crop=recipe.stage1_crop or None,
        num_workers=recipe.num_workers,
        schedule_epochs=recipe.stage1_schedule_epochs,
    )
    return replace(cfg, **changes)


def stage2_config(recipe: RealRecipe, init_weights: str, **changes) -> TrainConfig:
    """Stage 2: the grading head (reading the masks' area), injection and seg head on cached features."""
    cfg = _config(
        recipe,
        "2",
        init_weights,
        recipe.stage2_epochs,
        batch_size=32,
        lr=recipe.stage2_lr,
        init_overrides={"area_input": True} if recipe.area_input else {},
        stage2_views=recipe.stage2_views,
    )
    return replace(cfg, **changes)


def train_on_real(
    init_weights: str,
    real: list[Sample],
    synth: list[Sample],
    recipe: RealRecipe = RealRecipe(),
    progress: Callable | None = None,
    should_stop: StopFn | None = None,
    work_dir: str | None = None,
) -> RecipeResult:
    """Stage 1 then stage 2 of the recipe; returns the stage-2 model in memory (the caller saves it).

    No validation split is taken from ``real``: with a few embryos every one is needed for training, and
    the caller measures on embryos it kept out (leave-one-embryo-out) instead.
    """
    import tempfile
    from pathlib import Path

    from models.inference.weights import save_model

    t0 = time.monotonic()
    r1 = train(stage1_config(recipe, init_weights), stage1_samples(real, synth, recipe), progress, should_stop)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        stage1_path = str(Path(tmp) / "stage1.safetensors")
        save_model(stage1_path, r1.model, {"version": "real-stage1"}, fp16=False)
        r2 = train(stage2_config(recipe, stage1_path), stage2_samples(real, synth, recipe), progress, should_stop)
    data = {
        "real_frames": len(real),
        "real_embryos": sorted({s.embryo_id for s in real}),
        "synth_frames_stage1": len(synth[: recipe.synth_frames]),
        "synth_frames_stage2": len([s for s in synth if s.has_label]),
        "recipe": dict(recipe.__dict__),
    }
    return RecipeResult(r2.model, r1, r2, time.monotonic() - t0, data)


def with_overrides(recipe: RealRecipe, args) -> RealRecipe:
    """The recipe with what a command line asked for (synth_frames, real_repeats, crop_margin; None = as it is)."""
    knobs = ("synth_frames", "real_repeats", "crop_margin")
    changes = {k: getattr(args, k) for k in knobs if getattr(args, k, None) is not None}
    return replace(recipe, **changes)
