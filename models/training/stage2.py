"""Stage 2: the regression head (range loss; MAE for exact labels), the feature injection and a seg-head
refinement, trained on what the frozen encoder/ASPP/decoder computes, cached once per frame and view
(models/training/features.py). Each epoch then costs a few small matrix products per frame.

Run by models/training/loop.py like models/training/refine_stage.py's RefineRun: train_epoch, validate and
steps_per_epoch; `stopper.check()` raises when the run is cancelled.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from models.inference.device import channels_last, is_distributed, rank
from models.network.attnregdeeplab import AttnRegDeepLab
from models.training.config import TrainConfig
from models.training.features import FeatureCache, build_stage2_items
from models.training.losses import range_loss, segmentation_loss
from models.training.steps import ProgressFn, ValTally, optimiser_step, reg_loss, report_every, wrap_ddp


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


class Stage2Run:
    """Stage 2 on cached frozen features: each epoch costs a few small matrix products per frame."""

    def __init__(self, cfg: TrainConfig, model: AttnRegDeepLab, train_s, val_s, device, stopper):
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
            loss = loss + self.cfg.reg_weight * reg_loss(fraction, lo, hi)
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
        tally = ValTally()
        total, n = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(items), 32):
                chunk = list(range(start, min(start + 32, len(items))))
                pooled, _, _, lo, hi = self._stack(chunk, items, False)
                fraction, _ = self.model.reg_head(pooled)
                lab = ~torch.isnan(lo)
                if bool(lab.any()):
                    total += float(range_loss(fraction[lab], lo[lab], hi[lab])) * int(lab.sum())
                    n += int(lab.sum())
                tally.add_reg(fraction, lo, hi)
                seg = [i for i in chunk if items[i].dec is not None]
                if seg:
                    pooled, dec, mask, _, _ = self._stack(seg, items, True)
                    logits, _ = self.heads(pooled, dec, (self.size, self.size))
                    tally.add_seg(logits, mask)
        metrics = {**tally.metrics(), **{f"cache_{k}": v for k, v in self.cache_stats.items()}}
        return (total / n if n else 0.0), metrics
