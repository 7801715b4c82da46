"""Training samples, their masks, augmentation, datasets and the split by embryo (numpy + OpenCV,
deterministic per seed).

How a frame becomes the network's input (InputSpec, the normalisation, reading frame files) is
models/network/inputs.py: inference reads frames the same way without importing training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from models.network.canonical import EmbryoView
from models.network.inputs import InputSpec, read_grey_uint8, to_tensor
from models.training.losses import IGNORE_INDEX


@dataclass(frozen=True)
class Sample:
    """One training frame: image, optional exact mask, optional % interval (lo == hi for exact)."""

    image_path: str
    embryo_id: str
    frame: int
    mask_path: str | None = None
    lo_pct: float | None = None
    hi_pct: float | None = None

    @property
    def has_label(self) -> bool:
        return self.lo_pct is not None and self.hi_pct is not None


def read_mask(path: str | Path) -> np.ndarray:
    data = np.fromfile(str(path), dtype=np.uint8)
    mask = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if mask is None:
        raise ValueError(f"{path}: not a readable mask")
    return mask if mask.ndim == 2 else mask[..., 0]


def read_mask_at(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """A frame's mask at the frame's own size (a mask stored at another size is resized, nearest neighbour)."""
    mask = read_mask(path)
    if mask.shape != tuple(shape):
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask


def as_spec(size_or_spec: int | InputSpec) -> InputSpec:
    return size_or_spec if isinstance(size_or_spec, InputSpec) else InputSpec(int(size_or_spec))


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if mask.shape[:2] == (size, size):
        return mask
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flips, rotation, scale, intensity, blur and noise; geometry applied to image and mask alike."""
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if rng.random() < 0.5:
        image, mask = image[::-1], mask[::-1]
    k = int(rng.integers(4))
    image, mask = np.rot90(image, k), np.rot90(mask, k)
    h, w = image.shape
    angle = float(rng.uniform(-30, 30))
    scale = float(rng.uniform(0.88, 1.12))
    shift = rng.uniform(-0.04, 0.04, size=2) * (w, h)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += shift
    image = cv2.warpAffine(
        np.ascontiguousarray(image), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    mask = cv2.warpAffine(np.ascontiguousarray(mask), m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    img = image.astype(np.float32) / 255.0
    img = np.clip(img * rng.uniform(0.8, 1.2) + rng.uniform(-0.06, 0.06), 0, 1) ** rng.uniform(0.8, 1.25)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 1.2)))
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(0.005, 0.03), img.shape).astype(np.float32)
    image = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    return image, mask


class SegRegDataset(Dataset):
    """Frames with masks and/or % intervals, resized to the network's input size.

    Items: image (1,S,S) float, mask (S,S) long (IGNORE_INDEX where unknown), has_mask, lo, hi (fractions,
    NaN when unlabelled), index. Augmentation is seeded by (seed, epoch, index), so runs repeat exactly.
    """

    def __init__(
        self,
        samples: list[Sample],
        size: int | InputSpec,
        augment: bool = False,
        seed: int = 0,
        crop: int | None = None,
    ):
        self.samples = list(samples)
        self.spec = as_spec(size)
        self.size = size = self.spec.size
        self._views: dict[int, EmbryoView] = {}  # the detector's view of each frame (found once)
        self.augment = augment
        self.seed = seed
        self.crop = crop if crop and crop < size else None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        s = self.samples[index]
        image = read_grey_uint8(s.image_path)
        return image, read_mask_at(s.mask_path, image.shape) if s.mask_path else None

    def __getitem__(self, index: int) -> dict:
        s = self.samples[index]
        image, mask = self.load(index)
        has_mask = mask is not None
        if mask is None:
            mask = np.full(image.shape, IGNORE_INDEX, np.uint8)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        if self.spec.canonical:
            view = self._views.get(index)
            if view is None:
                view = self._views[index] = self.spec.view(image)
            if self.augment and not view.is_whole:
                view = view.jittered(rng)
            image, mask = view.image_to_input(image, self.size), view.mask_to_input(mask, self.size)
        else:
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
            mask = resize_mask(mask, self.size)
        if self.augment:
            image, mask = augment(image, mask, rng)
        if self.crop:
            image, mask = crop_around_embryo(image, mask, self.crop, rng)
        lo = s.lo_pct / 100.0 if s.has_label else float("nan")
        hi = s.hi_pct / 100.0 if s.has_label else float("nan")
        return {
            "image": to_tensor(image, image.shape[0], self.spec.norm),
            "mask": torch.from_numpy(np.ascontiguousarray(mask)).long(),
            "has_mask": torch.tensor(has_mask),
            "lo": torch.tensor(lo, dtype=torch.float32),
            "hi": torch.tensor(hi, dtype=torch.float32),
            "index": torch.tensor(index),
        }


def crop_around_embryo(
    image: np.ndarray, mask: np.ndarray, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random crop that contains the labelled embryo when it fits (stage 1 spends no time on corners).

    Segmentation is fully convolutional, so training on crops and grading whole frames is sound; it
    makes a stage-1 step about (size/crop)^2 times cheaper.
    """
    h, w = mask.shape
    ys, xs = np.nonzero((mask > 0) & (mask != IGNORE_INDEX))
    if len(ys):
        y_lo, y_hi = max(0, ys.max() + 1 - crop), min(ys.min(), h - crop)
        x_lo, x_hi = max(0, xs.max() + 1 - crop), min(xs.min(), w - crop)
    else:
        y_lo = x_lo = 0
        y_hi, x_hi = h - crop, w - crop
    if y_lo > y_hi:  # embryo larger than the crop: any window over its centre
        y_lo = y_hi = int(np.clip((ys.min() + ys.max() - crop) // 2, 0, h - crop))
    if x_lo > x_hi:
        x_lo = x_hi = int(np.clip((xs.min() + xs.max() - crop) // 2, 0, w - crop))
    y = int(rng.integers(y_lo, y_hi + 1))
    x = int(rng.integers(x_lo, x_hi + 1))
    return image[y : y + crop, x : x + crop], mask[y : y + crop, x : x + crop]


def split_by_embryo(samples: list[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Validation split by embryo, never by frame: frames of one embryo are near-duplicates."""
    embryos = sorted({s.embryo_id for s in samples})
    if len(embryos) < 2 or val_fraction <= 0:
        return list(samples), []
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(embryos))
    n_val = min(max(1, round(len(embryos) * val_fraction)), len(embryos) - 1)
    val_ids = {embryos[i] for i in order[:n_val]}
    train = [s for s in samples if s.embryo_id not in val_ids]
    val = [s for s in samples if s.embryo_id in val_ids]
    return train, val
