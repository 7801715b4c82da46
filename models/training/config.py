"""What a training run is asked to do and the network it starts from: TrainConfig, TrainResult, the parameters
each stage trains (STAGE_TRAINABLE, set_trainable) and build_model (fresh, or the --init weights).

models/training/loop.py runs a TrainConfig; the stage modules read it. Nothing here runs a step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from models.inference.weights import load_model
from models.network.attnregdeeplab import AttnRegDeepLab, ModelConfig
from models.training.data import Sample
from models.training.steps import TrainingError

STAGE_TRAINABLE = {
    "1": ("encoder.", "aspp.", "decoder.", "seg_head."),
    "2": ("reg_head.", "injection.", "seg_head."),
    "e2e": ("encoder.", "aspp.", "decoder.", "seg_head.", "reg_head.", "injection."),
    "refine": ("seg_head.refine.",),
}
# Stage 2 trains the seg head on cached decoder maps, without the image the boundary refiner reads.
STAGE_EXCLUDED = {"2": ("seg_head.refine.",)}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs, copied once (a GUI worker gets a frozen copy made on the main thread)."""

    stage: str = "1"
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    seed: int = 0
    patience: int = 8
    device: str = "auto"
    num_workers: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    init_weights: str | None = None
    # ModelConfig switches applied over the --init file's own architecture (e.g. {"area_input": True} for a
    # stage 2 on plain stage-1 weights); tensors they reshape start fresh and must be trainable in this stage.
    init_overrides: dict = field(default_factory=dict, hash=False)
    checkpoint: str | None = None  # resume file prefix; None = no checkpoints
    refine_seg: bool = True  # stage 2: train injection + seg head on cached decoder maps
    refine_seg_frames: int = 256  # cap on cached decoder maps (each is C x S/4 x S/4 float16)
    stage2_views: int = 4  # flips/rotations of each frame cached for stage 2
    cache_dir: str | None = None  # stage-2 feature cache on disk (None = memory only)
    val_embryos: tuple[str, ...] | None = None  # held-out embryos chosen by the caller (None: split by val_fraction)
    max_minutes: float | None = None
    # The cosine schedule spans this many epochs when it is more than `epochs`: a run stopped before the end of
    # its schedule on purpose (the real-embryo recipe) keeps a higher learning rate throughout.
    schedule_epochs: int | None = None
    crop: int | None = None  # stage 1 / e2e: train on random crops around the embryo (None = whole frame)
    seg_weight: float = 1.0
    fragment_weight: float = 2.0  # cross-entropy weight of fragment pixels
    reg_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.stage not in STAGE_TRAINABLE:
            raise ValueError(f"stage must be one of {', '.join(STAGE_TRAINABLE)} (got {self.stage!r})")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")


@dataclass
class TrainResult:
    model: AttnRegDeepLab
    history: list[dict]
    best_epoch: int
    best_val: float
    val_metrics: dict
    data_summary: dict
    device: str
    seconds: float
    stopped_early: bool = False


def build_model(cfg: TrainConfig, device: torch.device) -> tuple[AttnRegDeepLab, dict]:
    """A fresh network, or the --init weights (whose own architecture wins over cfg.model, but for
    cfg.init_overrides)."""
    if not cfg.init_weights:
        return AttnRegDeepLab(cfg.model).to(device), {}
    model, meta = load_model(cfg.init_weights, device)
    if not cfg.init_overrides:
        return model, meta
    try:
        new_cfg = replace(model.cfg, **cfg.init_overrides)
    except TypeError as exc:
        raise TrainingError(f"unknown model setting in {sorted(cfg.init_overrides)}: {exc}") from None
    if new_cfg == model.cfg:
        return model, meta
    rebuilt = AttnRegDeepLab(new_cfg).to(device)
    old, new = model.state_dict(), rebuilt.state_dict()
    kept = {k: v for k, v in old.items() if k in new and new[k].shape == v.shape}
    fresh = sorted(set(new) - set(kept))
    trainable = stage_trainable_prefixes(rebuilt, cfg.stage)
    frozen_fresh = [k for k in fresh if not k.startswith(trainable)]
    if frozen_fresh:
        raise TrainingError(
            f"{cfg.init_weights}: {cfg.init_overrides} would change tensors that stage {cfg.stage} keeps frozen, "
            f"e.g. {frozen_fresh[0]}"
        )
    rebuilt.load_state_dict({**new, **kept})
    return rebuilt.eval(), meta


def stage_trainable_prefixes(model: AttnRegDeepLab, stage: str) -> tuple[str, ...]:
    """The stage's prefixes; stage 2 also leaves alone what this architecture puts in its frozen half."""
    prefixes = STAGE_TRAINABLE[stage]
    if stage == "2":
        prefixes = tuple(p for p in prefixes if p not in model.frozen_prefixes)
    return prefixes


def set_trainable(model: AttnRegDeepLab, stage: str) -> list[nn.Parameter]:
    prefixes = stage_trainable_prefixes(model, stage)
    excluded = STAGE_EXCLUDED.get(stage, ())
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefixes) and not name.startswith(excluded))
        if p.requires_grad:
            params.append(p)
    return params


def summarise(samples: list[Sample]) -> dict:
    return {
        "frames": len(samples),
        "embryos": len({s.embryo_id for s in samples}),
        "with_mask": sum(s.mask_path is not None for s in samples),
        "exact_labels": sum(s.has_label and s.lo_pct == s.hi_pct for s in samples),
        "range_labels": sum(s.has_label and s.lo_pct != s.hi_pct for s in samples),
    }


def describe(cfg: TrainConfig) -> dict:
    d = asdict(replace(cfg, model=cfg.model))
    d["model"] = cfg.model.to_dict()
    d["init_overrides"] = dict(cfg.init_overrides)
    return d
