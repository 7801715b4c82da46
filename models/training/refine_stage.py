"""The "refine" stage: trains only the boundary refiner (seg_head.refine.*) over a finished network.

Everything else is frozen, so the network's own logits are computed once per frame and kept (float16); each
step then costs one pass of a few narrow convolutions over random crops, which lets the refiner see many more
frames than stage 1 in a few minutes. Crops are turned by a random flip/rotation together with their logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from models.inference.device import channels_last, is_distributed, rank
from models.network.attnregdeeplab import AttnRegDeepLab
from models.network.inputs import InputSpec, read_grey_uint8
from models.training.data import Sample, read_mask_at
from models.training.features import dihedral
from models.training.losses import segmentation_loss
from models.training.steps import ValTally, dice_from_counts, optimiser_step, report_every, seg_counts, wrap_ddp


@dataclass
class RefineItem:
    image: np.ndarray  # (1, S, S) float16, normalised as the network sees it
    logits: np.ndarray  # (3, S, S) float16: the frozen network's logits before refinement
    mask: np.ndarray  # (S, S) uint8


def build_refine_items(
    model: AttnRegDeepLab,
    samples: list[Sample],
    device: torch.device,
    check: Callable[[], None] = lambda: None,
    batch_size: int = 16,
) -> list[RefineItem]:
    """The frozen network's logits of every masked frame (one forward pass each, in batches)."""
    spec = InputSpec.of(model.cfg)
    size = spec.size
    items: list[RefineItem] = []
    masked = [s for s in samples if s.mask_path]
    model.eval()
    for start in range(0, len(masked), batch_size):
        check()
        chunk = masked[start : start + batch_size]
        frames = [read_grey_uint8(s.image_path) for s in chunk]
        views = [spec.view(f) for f in frames]
        images = torch.stack([spec.tensor(spec.image(f, v)) for f, v in zip(frames, views, strict=True)])
        with torch.no_grad():
            dec, pooled, _ = model.frozen_features(images.to(device))
            logits = model.heads(dec, pooled, (size, size))[0]
        for s, frame, view, image, lg in zip(chunk, frames, views, images, logits, strict=True):
            mask = view.mask_to_input(read_mask_at(s.mask_path, frame.shape), size)
            items.append(RefineItem(image.half().numpy(), lg.half().cpu().contiguous().numpy(), mask))
    return items


def _stack(arrays: list[np.ndarray], device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).to(device)


class RefineRun:
    """One epoch = every training frame once, as a random crop in a random orientation."""

    def __init__(self, cfg, model: AttnRegDeepLab, train_s, val_s, device, stopper):
        self.cfg, self.model, self.device, self.stopper = cfg, model, device, stopper
        with channels_last(model, device):
            self.train_items = build_refine_items(model, train_s, device, stopper.check)
            self.val_items = build_refine_items(model, val_s, device, stopper.check)
        if not self.train_items:
            raise ValueError("the refine stage needs frames with masks")
        self.rank = rank()
        self.world = torch.distributed.get_world_size() if is_distributed() else 1
        self.size = model.cfg.input_size
        self.crop = min(cfg.crop or self.size, self.size)
        self.net = wrap_ddp(model.seg_head.refine, device)
        # What validation starts from never changes: the frozen network's own Dice, counted once.
        unrefined = np.zeros((3, 3), np.int64)
        for _images, logits, masks in self._val_chunks():
            unrefined += seg_counts(_stack(logits, device).float(), _stack(masks, device).long())
        self.unrefined_dice = dice_from_counts(unrefined, 2)
        self.steps_per_epoch = max(1, math.ceil(len(self.train_items) / self.world / cfg.batch_size))

    def _batch(self, picks: list[int], rng: np.random.Generator):
        c, images, logits, masks = self.crop, [], [], []
        for i in picks:
            item = self.train_items[i]
            y, x = rng.integers(0, self.size - c + 1, 2)
            view = int(rng.integers(0, 8))
            window = (..., slice(y, y + c), slice(x, x + c))
            images.append(dihedral(item.image[window], view))
            logits.append(dihedral(item.logits[window], view))
            masks.append(dihedral(item.mask[window], view))
        to = self.device
        return _stack(images, to).float(), _stack(logits, to).float(), _stack(masks, to).long()

    def _val_chunks(self, size: int = 16):
        """(images, logits, masks) of the validation frames, in chunks."""
        for start in range(0, len(self.val_items), size):
            chunk = self.val_items[start : start + size]
            yield [it.image for it in chunk], [it.logits for it in chunk], [it.mask for it in chunk]

    def train_epoch(self, epoch: int, opt, sched, progress) -> float:
        self.model.eval()
        self.model.seg_head.refine.train()
        rng = np.random.default_rng((self.cfg.seed, epoch))
        order = rng.permutation(len(self.train_items))[self.rank :: self.world].tolist()
        bs, total = self.cfg.batch_size, 0.0
        for step in range(self.steps_per_epoch):
            self.stopper.check()
            picks = order[step * bs : (step + 1) * bs] or order[:bs]
            image, logits, mask = self._batch(picks, rng)
            loss = segmentation_loss(self.net(image, logits), mask, self.cfg.fragment_weight)
            total += optimiser_step(loss, opt, sched, epoch, step)
            report_every(progress, 10, "refine", epoch, self.cfg.epochs, step, self.steps_per_epoch, total / (step + 1))
        self.model.eval()
        return total / self.steps_per_epoch

    def validate(self, _loader) -> tuple[float, dict]:
        """Whole validation frames through the refiner, against the frozen network's logits it starts from."""
        self.model.eval()
        tally = ValTally()
        total = 0.0
        with torch.no_grad():
            for images, logits, masks in self._val_chunks():
                mask = _stack(masks, self.device).long()
                refined = self.model.seg_head.refine(
                    _stack(images, self.device).float(), _stack(logits, self.device).float()
                )
                total += float(segmentation_loss(refined, mask)) * len(masks)
                tally.add_seg(refined, mask)
        n = max(len(self.val_items), 1)
        return total / n, {**tally.seg_metrics(), "dice_fragment_unrefined": self.unrefined_dice}
