"""Two-stage training of AttnRegDeepLab (ARCHITECTURE.md section 4), usable from the CLI and from a GUI worker.

Stage 1 trains encoder + ASPP + gated decoder + seg head on masks (CE + Dice). Stage 2 freezes that
part, caches what it computes, and trains the regression head (range loss; MAE for exact labels) plus the
feature injection and a seg-head refinement on the cached maps. "e2e" trains everything at once (the
ablation baseline). "refine" trains only the boundary refiner over a finished network
(models/training/refine_stage.py). The same function runs under torchrun: it then wraps the trained module in DDP.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from models.inference.device import (
    channels_last,
    init_distributed,
    is_distributed,
    rank,
    release_device_memory,
    select_device,
)
from models.inference.weights import load_model, state_dict_float
from models.network.attnregdeeplab import AttnRegDeepLab, ModelConfig
from models.training.data import InputSpec, Sample, SegRegDataset, split_by_embryo
from models.training.features import FeatureCache, build_stage2_items
from models.training.losses import range_loss, segmentation_loss
from models.training.refine_stage import RefineRun
from models.training.steps import (  # noqa: F401  (TrainingError, TrainProgress and dice_from_counts are public here)
    ProgressFn,
    TrainingError,
    TrainProgress,
    dice_from_counts,
    optimiser_step,
    report_every,
    seg_counts,
    wrap_ddp,
)

STAGE_TRAINABLE = {
    "1": ("encoder.", "aspp.", "decoder.", "seg_head."),
    "2": ("reg_head.", "injection.", "seg_head."),
    "e2e": ("encoder.", "aspp.", "decoder.", "seg_head.", "reg_head.", "injection."),
    "refine": ("seg_head.refine.",),
}
# Stage 2 trains the seg head on cached decoder maps, without the image the boundary refiner reads.
STAGE_EXCLUDED = {"2": ("seg_head.refine.",)}


class TrainingCancelled(RuntimeError):
    """The stop flag was set; the caller keeps its previous model."""


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


StopFn = Callable[[], bool]


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


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


class _Stopper:
    def __init__(self, should_stop: StopFn | None, max_minutes: float | None):
        self.should_stop = should_stop
        self.deadline = time.monotonic() + max_minutes * 60 if max_minutes else None
        self.out_of_time = False

    def check(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise TrainingCancelled("training was cancelled")
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.out_of_time = True


class _Heads(nn.Module):
    """Stage 2's trainable part as one module, so DDP can wrap it like the full network."""

    def __init__(self, model: AttnRegDeepLab):
        super().__init__()
        self.model = model

    def forward(self, pooled: torch.Tensor, dec: torch.Tensor | None, out_size: tuple[int, int]):
        m = self.model
        fraction, embedding = m.reg_head(pooled)
        if dec is None:
            return None, fraction
        if m.injection is not None:
            dec = m.injection(dec, embedding)
        return m.segment(dec, out_size), fraction


def _agree(value: float, device: torch.device, op: str = "mean") -> float:
    """Under DDP every rank must take the same early-stopping and time-limit decisions."""
    if not (is_distributed() and torch.distributed.is_initialized()):
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(
        t, op=torch.distributed.ReduceOp.MAX if op == "max" else torch.distributed.ReduceOp.SUM
    )
    return float(t) if op == "max" else float(t) / torch.distributed.get_world_size()


def _loader(dataset, batch_size: int, shuffle: bool, seed: int, workers: int, drop_last: bool) -> DataLoader:
    sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last) if is_distributed() else None
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        generator=gen,
        # Not persistent: a persistent worker keeps the dataset copy it was forked with, so set_epoch would
        # never reach it and every epoch would repeat epoch 0's augmentations.
        persistent_workers=False,
    )


def _reg_loss(fraction: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    labelled = ~torch.isnan(lo)
    if not bool(labelled.any()):
        return fraction.sum() * 0.0
    return range_loss(fraction[labelled], lo[labelled], hi[labelled])


def _evaluate_images(
    model: AttnRegDeepLab, loader: DataLoader, device: torch.device, use_reg: bool = True
) -> tuple[float, dict]:
    """Validation through the whole network: micro Dice, MAE and range violations, and the loss of what the
    stage trains: with use_reg=False (stage 1) the untrained regression head's drifting error stays out of
    the loss that picks the best epoch and stops early (it was as large as the seg loss and as noisy)."""
    model.eval()
    counts = np.zeros((3, 3), np.int64)
    total, n = 0.0, 0
    abs_err, n_exact, violations, n_range = 0.0, 0, 0, 0
    with torch.no_grad():
        for batch in loader:
            image, mask = batch["image"].to(device), batch["mask"].to(device)
            lo, hi = batch["lo"].to(device), batch["hi"].to(device)
            out = model(image)
            loss = segmentation_loss(out.seg_logits, mask)
            if use_reg:
                loss = loss + _reg_loss(out.fraction, lo, hi)
            total += float(loss.detach()) * len(image)
            n += len(image)
            counts += seg_counts(out.seg_logits, mask)
            e, x, v, r = _reg_stats(out.fraction, lo, hi)
            abs_err, n_exact, violations, n_range = abs_err + e, n_exact + x, violations + v, n_range + r
    metrics = {
        "dice_fragment": dice_from_counts(counts, 2),
        "dice_blastomere": dice_from_counts(counts, 1),
        "mae_pct": 100 * abs_err / n_exact if n_exact else None,
        "range_violation_rate": violations / n_range if n_range else None,
    }
    return (total / n if n else float("nan")), metrics


def _reg_stats(fraction: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> tuple[float, int, int, int]:
    labelled = ~torch.isnan(lo)
    exact = labelled & (lo == hi)
    ranged = labelled & (lo != hi)
    abs_err = float((fraction[exact] - lo[exact]).abs().sum())
    viol = int(((fraction[ranged] < lo[ranged]) | (fraction[ranged] > hi[ranged])).sum())
    return abs_err, int(exact.sum()), viol, int(ranged.sum())


class _Checkpoint:
    """Resume file: model + optimizer tensors in safetensors, counters and history in JSON."""

    def __init__(self, prefix: str | None):
        self.tensors = Path(prefix + ".ckpt.safetensors") if prefix else None
        self.meta = Path(prefix + ".ckpt.json") if prefix else None

    def save(self, model: nn.Module, best: dict, opt: torch.optim.Optimizer, sched, state: dict) -> None:
        if self.tensors is None or rank() != 0:
            return
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        tensors.update({f"best.{k}": v.contiguous() for k, v in best.items()})
        opt_state = opt.state_dict()
        for pid, st in opt_state["state"].items():
            for key, value in st.items():
                if torch.is_tensor(value):
                    tensors[f"opt.{pid}.{key}"] = value.detach().cpu().contiguous()
        meta = dict(state, param_groups=opt_state["param_groups"], scheduler=sched.state_dict())
        tmp = self.tensors.with_suffix(".tmp")
        save_file(tensors, str(tmp))
        tmp.replace(self.tensors)
        tmp = self.meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, default=float))
        tmp.replace(self.meta)

    def load(self, model: nn.Module, opt: torch.optim.Optimizer, sched) -> tuple[dict, dict] | None:
        if self.tensors is None or not (self.tensors.exists() and self.meta.exists()):
            return None
        tensors = load_file(str(self.tensors))
        meta = json.loads(self.meta.read_text())
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        state: dict = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value
        opt.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
        sched.load_state_dict(meta.pop("scheduler"))
        return meta, best

    def remove(self) -> None:
        if self.tensors is not None and rank() == 0:
            self.tensors.unlink(missing_ok=True)
            self.meta.unlink(missing_ok=True)


def train(
    cfg: TrainConfig,
    samples: list[Sample],
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> TrainResult:
    """Run one stage; returns the best-validation model (kept in memory, not written)."""
    t0 = time.monotonic()
    device = select_device(cfg.device)
    distributed = init_distributed(device)
    _seed_everything(cfg.seed)
    try:
        return _train(cfg, samples, device, progress, should_stop, t0)
    except torch.OutOfMemoryError as exc:
        raise TrainingError(
            f"out of memory on {device}: lower the batch size (now {cfg.batch_size}) or use the CPU"
        ) from exc
    finally:
        release_device_memory(device)
        if distributed and torch.distributed.is_initialized():
            torch.distributed.barrier()


def _train(cfg, samples, device, progress, should_stop, t0) -> TrainResult:
    model, init_meta = build_model(cfg, device)
    usable = [s for s in samples if s.mask_path or s.has_label]
    if cfg.stage in ("1", "refine"):
        usable = [s for s in usable if s.mask_path]
    elif cfg.stage == "2":
        usable = [s for s in usable if s.has_label or (cfg.refine_seg and s.mask_path)]
    if len(usable) < 2:
        raise TrainingError(f"stage {cfg.stage} needs at least 2 labelled frames, found {len(usable)}")
    if cfg.val_embryos is not None:  # the caller keeps one split across stages and its own evaluation
        held_out = set(cfg.val_embryos)
        train_s = [s for s in usable if s.embryo_id not in held_out]
        val_s = [s for s in usable if s.embryo_id in held_out]
        if not train_s:
            raise TrainingError(f"stage {cfg.stage}: every labelled frame belongs to a validation embryo")
    else:
        train_s, val_s = split_by_embryo(usable, cfg.val_fraction, cfg.seed)
    summary = {
        "train": summarise(train_s),
        "val": summarise(val_s),
        "val_embryos": sorted({s.embryo_id for s in val_s}),
    }
    params = set_trainable(model, cfg.stage)
    if cfg.stage == "2" and model.reg_head is None:
        raise TrainingError("this model has no regression head; stage 2 has nothing to train")
    stopper = _Stopper(should_stop, cfg.max_minutes)
    val_ds = SegRegDataset(val_s, InputSpec.of(model.cfg), augment=False)
    val_loader = _loader(val_ds, cfg.batch_size, False, cfg.seed, 0, False) if val_s else None
    if val_loader is not None and is_distributed():
        val_loader = DataLoader(val_ds, batch_size=cfg.batch_size)  # every rank scores the whole val set

    if cfg.stage == "2":
        run = _Stage2Run(cfg, model, train_s, val_s, device, stopper)
    elif cfg.stage == "refine":
        if model.seg_head.refine is None:
            raise TrainingError("this model has no boundary refiner; give it one (--refine-width N) to train it")
        run = RefineRun(cfg, model, train_s, val_s, device, stopper)
    else:
        run = _ImageRun(cfg, model, train_s, device, stopper)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total_steps = max(1, max(cfg.epochs, cfg.schedule_epochs or 0) * run.steps_per_epoch)
    warmup = min(50, total_steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(1.0, (s + 1) / (warmup + 1)) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)),
    )
    ckpt = _Checkpoint(cfg.checkpoint)
    history: list[dict] = []
    best_state = state_dict_float(model)
    best_val, best_epoch, best_metrics, start_epoch, bad_epochs = float("inf"), -1, {}, 0, 0
    resumed = ckpt.load(model, opt, sched)
    if resumed is not None:
        meta, best_state = resumed
        history, start_epoch = meta["history"], meta["epoch"] + 1
        best_val, best_epoch, best_metrics, bad_epochs = (
            meta["best_val"],
            meta["best_epoch"],
            meta["best_metrics"],
            meta["bad_epochs"],
        )

    stopped_early = False
    for epoch in range(start_epoch, cfg.epochs):
        train_loss = run.train_epoch(epoch, opt, sched, progress)
        if val_loader is not None or cfg.stage in ("2", "refine") and val_s:
            val_loss, metrics = run.validate(val_loader)
        else:  # no validation embryos: judge by the training loss
            val_loss, metrics = train_loss, {}
        val_loss = _agree(val_loss, device)
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, **metrics})
        if val_loss < best_val - 1e-6:
            best_val, best_epoch, best_metrics, bad_epochs = val_loss, epoch, metrics, 0
            best_state = state_dict_float(model)
        else:
            bad_epochs += 1
        ckpt.save(
            model,
            best_state,
            opt,
            sched,
            {
                "epoch": epoch,
                "history": history,
                "best_val": best_val,
                "best_epoch": best_epoch,
                "best_metrics": best_metrics,
                "bad_epochs": bad_epochs,
                "stage": cfg.stage,
            },
        )
        if progress is not None:
            progress(
                TrainProgress(
                    cfg.stage,
                    epoch + 1,
                    cfg.epochs,
                    run.steps_per_epoch,
                    run.steps_per_epoch,
                    train_loss,
                    val_loss,
                    metrics,
                    done=epoch + 1 == cfg.epochs,
                )
            )
        if bad_epochs >= cfg.patience:
            stopped_early = True
            break
        if _agree(float(stopper.out_of_time), device, "max"):
            stopped_early = True
            break
    model.load_state_dict(best_state)
    model.eval()
    ckpt.remove()
    summary["init"] = init_meta.get("version") or cfg.init_weights
    return TrainResult(
        model=model,
        history=history,
        best_epoch=best_epoch + 1,
        best_val=best_val,
        val_metrics=best_metrics,
        data_summary=summary,
        device=str(device),
        seconds=time.monotonic() - t0,
        stopped_early=stopped_early,
    )


class _ImageRun:
    """Stage 1 and e2e: batches of augmented images through the network."""

    def __init__(self, cfg: TrainConfig, model: AttnRegDeepLab, train_s: list[Sample], device, stopper: _Stopper):
        self.cfg, self.model, self.device, self.stopper = cfg, model, device, stopper
        crop = cfg.crop if cfg.stage == "1" else None  # the regression target needs the whole frame
        self.dataset = SegRegDataset(train_s, InputSpec.of(model.cfg), augment=True, seed=cfg.seed, crop=crop)
        drop_last = len(train_s) > cfg.batch_size  # BatchNorm needs 2+ samples; ASPP pooling needs it too
        self.loader = _loader(self.dataset, cfg.batch_size, True, cfg.seed, cfg.num_workers, drop_last)
        self.net = wrap_ddp(model, device)
        self.steps_per_epoch = len(self.loader)

    def train_epoch(self, epoch: int, opt, sched, progress: ProgressFn | None) -> float:
        self.model.train()
        self.dataset.set_epoch(epoch)
        if isinstance(self.loader.sampler, DistributedSampler):
            self.loader.sampler.set_epoch(epoch)
        use_reg = self.cfg.stage == "e2e"
        total, n = 0.0, 0
        for step, batch in enumerate(self.loader):
            self.stopper.check()
            image, mask = batch["image"].to(self.device), batch["mask"].to(self.device)
            out = self.net(image)
            loss = self.cfg.seg_weight * segmentation_loss(out.seg_logits, mask, self.cfg.fragment_weight)
            if use_reg:
                lo, hi = batch["lo"].to(self.device), batch["hi"].to(self.device)
                loss = loss + self.cfg.reg_weight * _reg_loss(out.fraction, lo, hi)
            elif self.model.reg_head is not None:
                loss = loss + 0.0 * out.fraction.sum()  # keeps DDP's every-parameter-used contract
            total += optimiser_step(loss, opt, sched, epoch, step) * len(image)
            n += len(image)
            report_every(progress, 1, self.cfg.stage, epoch, self.cfg.epochs, step, self.steps_per_epoch, total / n)
            if self.stopper.out_of_time and not is_distributed():
                break
        return total / max(n, 1)

    def validate(self, loader) -> tuple[float, dict]:
        return _evaluate_images(self.model, loader, self.device, use_reg=self.cfg.stage == "e2e")


class _Stage2Run:
    """Stage 2 on cached frozen features: each epoch costs a few small matrix products per frame."""

    def __init__(self, cfg: TrainConfig, model: AttnRegDeepLab, train_s, val_s, device, stopper: _Stopper):
        self.cfg, self.model, self.device, self.stopper = cfg, model, device, stopper
        model.eval()  # frozen half keeps its BatchNorm statistics
        cache = FeatureCache(cfg.cache_dir, model)
        with channels_last(model, device):
            self.train_items = build_stage2_items(
                model, train_s, cache, device, cfg.stage2_views, cfg.refine_seg, cfg.refine_seg_frames, stopper.check
            )
            self.val_items = build_stage2_items(
                model, val_s, cache, device, 1, cfg.refine_seg, cfg.refine_seg_frames, stopper.check
            )
        self.cache_stats = cache.stats()
        self.heads = _Heads(model)
        self.net = wrap_ddp(self.heads, device)
        self.reg_idx = [i for i, it in enumerate(self.train_items) if it.has_label]
        self.seg_idx = [i for i, it in enumerate(self.train_items) if it.dec is not None]
        n = max(len(self.reg_idx), len(self.seg_idx))
        self.steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
        self.size = model.cfg.input_size
        self.world = torch.distributed.get_world_size() if is_distributed() else 1

    def _batches(self, idx: list[int], epoch: int) -> list[list[int]]:
        if not idx:
            return []
        rng = np.random.default_rng((self.cfg.seed, epoch, len(idx)))
        order = [idx[i] for i in rng.permutation(len(idx))]
        order = order[rank() :: self.world]
        bs = self.cfg.batch_size
        batches = [order[i : i + bs] for i in range(0, len(order), bs)]
        reps = math.ceil(self.steps_per_epoch / max(len(batches), 1))
        return (batches * reps)[: self.steps_per_epoch]

    def _stack(self, batch: list[int], items, with_maps: bool):
        pooled = torch.stack([items[i].pooled for i in batch]).to(self.device).float()
        lo = torch.tensor([items[i].lo for i in batch], device=self.device)
        hi = torch.tensor([items[i].hi for i in batch], device=self.device)
        if not with_maps:
            return pooled, None, None, lo, hi
        dec = torch.stack([items[i].dec for i in batch]).to(self.device).float()
        mask = torch.stack([items[i].mask for i in batch]).to(self.device).long()
        return pooled, dec, mask, lo, hi

    def _step_loss(self, reg_batch, seg_batch, items) -> torch.Tensor:
        loss = torch.zeros((), device=self.device)
        if reg_batch:
            pooled, _, _, lo, hi = self._stack(reg_batch, items, False)
            _, fraction = self.net(pooled, None, (self.size, self.size))
            loss = loss + self.cfg.reg_weight * _reg_loss(fraction, lo, hi)
        if seg_batch:
            pooled, dec, mask, _, _ = self._stack(seg_batch, items, True)
            logits, _ = self.net(pooled, dec, (self.size, self.size))
            loss = loss + self.cfg.seg_weight * segmentation_loss(logits, mask, self.cfg.fragment_weight)
        return loss

    def train_epoch(self, epoch: int, opt, sched, progress: ProgressFn | None) -> float:
        self.model.reg_head.train()
        reg_batches = self._batches(self.reg_idx, epoch)
        seg_batches = self._batches(self.seg_idx, epoch + 10_000) if self.cfg.refine_seg else []
        total = 0.0
        for step in range(self.steps_per_epoch):
            self.stopper.check()
            rb = reg_batches[step] if step < len(reg_batches) else []
            sb = seg_batches[step] if step < len(seg_batches) else []
            loss = self._step_loss(rb, sb, self.train_items)
            total += optimiser_step(loss, opt, sched, epoch, step)
            report_every(progress, 10, "2", epoch, self.cfg.epochs, step, self.steps_per_epoch, total / (step + 1))
        self.model.eval()
        return total / self.steps_per_epoch

    def validate(self, _loader) -> tuple[float, dict]:
        """Validation on cached features of the validation embryos (exactly what inference computes)."""
        items = self.val_items
        self.model.eval()
        counts = np.zeros((3, 3), np.int64)
        abs_err, n_exact, viol, n_range, total, n = 0.0, 0, 0, 0, 0.0, 0
        with torch.no_grad():
            for start in range(0, len(items), 32):
                chunk = list(range(start, min(start + 32, len(items))))
                pooled, _, _, lo, hi = self._stack(chunk, items, False)
                fraction, _ = self.model.reg_head(pooled)
                lab = ~torch.isnan(lo)
                if bool(lab.any()):
                    total += float(range_loss(fraction[lab], lo[lab], hi[lab])) * int(lab.sum())
                    n += int(lab.sum())
                e, x, v, r = _reg_stats(fraction, lo, hi)
                abs_err, n_exact, viol, n_range = abs_err + e, n_exact + x, viol + v, n_range + r
                seg = [i for i in chunk if items[i].dec is not None]
                if seg:
                    pooled, dec, mask, _, _ = self._stack(seg, items, True)
                    logits, _ = self.heads(pooled, dec, (self.size, self.size))
                    counts += seg_counts(logits, mask)
        metrics = {
            "dice_fragment": dice_from_counts(counts, 2),
            "dice_blastomere": dice_from_counts(counts, 1),
            "mae_pct": 100 * abs_err / n_exact if n_exact else None,
            "range_violation_rate": viol / n_range if n_range else None,
            **{f"cache_{k}": v for k, v in self.cache_stats.items()},
        }
        return (total / n if n else 0.0), metrics


def describe(cfg: TrainConfig) -> dict:
    d = asdict(replace(cfg, model=cfg.model))
    d["model"] = cfg.model.to_dict()
    d["init_overrides"] = dict(cfg.init_overrides)
    return d
