"""Two-stage training of AttnRegDeepLab (ARCHITECTURE.md section 4), usable from the CLI and from a GUI worker.

Stage 1 trains encoder + ASPP + gated decoder + seg head on masks (CE + Dice). Stage 2 freezes that
part, caches what it computes, and trains the regression head (range loss; MAE for exact labels) plus the
feature injection and a seg-head refinement on the cached maps (models/training/stage2.py). "e2e" trains
everything at once (the ablation baseline). "refine" trains only the boundary refiner over a finished network
(models/training/refine_stage.py). The same function runs under torchrun: it then wraps the trained module in DDP.

Here: train() (the split, optimiser, schedule, early stopping, resume checkpoint and progress every stage
shares) and the image stages (1, e2e). What a run is asked to do (TrainConfig) and the network it starts
from are models/training/config.py.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from models.inference.device import init_distributed, is_distributed, rank, release_device_memory, select_device
from models.inference.weights import save_tensors_atomic, state_dict_float
from models.network.attnregdeeplab import AttnRegDeepLab
from models.network.inputs import InputSpec
from models.training.config import (  # noqa: F401  (the run's configuration and result are public here too)
    TrainConfig,
    TrainResult,
    build_model,
    describe,
    set_trainable,
    summarise,
)
from models.training.data import Sample, SegRegDataset, split_by_embryo
from models.training.losses import segmentation_loss
from models.training.refine_stage import RefineRun
from models.training.stage2 import Stage2Run
from models.training.steps import (  # noqa: F401  (TrainingError, TrainProgress and dice_from_counts are public here)
    ProgressFn,
    TrainingError,
    TrainProgress,
    ValTally,
    dice_from_counts,
    optimiser_step,
    reg_loss,
    report_every,
    wrap_ddp,
)


class TrainingCancelled(RuntimeError):
    """The stop flag was set; the caller keeps its previous model."""


StopFn = Callable[[], bool]


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


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


def _evaluate_images(
    model: AttnRegDeepLab, loader: DataLoader, device: torch.device, use_reg: bool = True
) -> tuple[float, dict]:
    """Validation through the whole network: micro Dice, MAE and range violations, and the loss of what the
    stage trains: with use_reg=False (stage 1) the untrained regression head's drifting error stays out of
    the loss that picks the best epoch and stops early (it was as large as the seg loss and as noisy)."""
    model.eval()
    tally = ValTally()
    total, n = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            image, mask = batch["image"].to(device), batch["mask"].to(device)
            lo, hi = batch["lo"].to(device), batch["hi"].to(device)
            out = model(image)
            loss = segmentation_loss(out.seg_logits, mask)
            if use_reg:
                loss = loss + reg_loss(out.fraction, lo, hi)
            total += float(loss.detach()) * len(image)
            n += len(image)
            tally.add_seg(out.seg_logits, mask)
            tally.add_reg(out.fraction, lo, hi)
    return (total / n if n else float("nan")), tally.metrics()


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
        save_tensors_atomic(self.tensors, tensors, durable=False)
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
        run = Stage2Run(cfg, model, train_s, val_s, device, stopper)
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
                loss = loss + self.cfg.reg_weight * reg_loss(out.fraction, lo, hi)
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
