"""What the network reads: a frame file decoded to grey uint8, and how that frame becomes its input tensor.

Shared by inference (the predictor, the weights sidecar's normalisation record) and training (datasets, the
stage-2 feature cache, the refine stage), so the two can never see a frame differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from models.network.canonical import EmbryoView, view_for

NORM_MEAN = 0.25
NORM_STD = 0.20

_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}


def _undecodable_reason(data: np.ndarray) -> str:
    """Why bytes did not decode, from their signature: what a person needs to find and fix the file."""
    if data.size == 0:
        return "empty file (0 bytes)"
    head = data[:8].tobytes()
    kind = next((name for sig, name in _SIGNATURES.items() if head.startswith(sig)), None)
    if kind is None:
        return "not an image file (no PNG, JPEG, TIFF or BMP signature)"
    return f"corrupt or truncated {kind} ({data.size} bytes)"


def read_grey_uint8(path: str | Path) -> np.ndarray:
    """Grey uint8 image from any 8/16-bit grey or colour file (16-bit scaled by its full range)."""
    return decode_grey_uint8(np.fromfile(str(path), dtype=np.uint8), path)


def decode_grey_uint8(data: np.ndarray | bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """read_grey_uint8 on bytes already in memory (the feature cache hashes them too)."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ValueError(f"{path}: {_undecodable_reason(data)}")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) * (255.0 / 65535.0)).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"{path}: unsupported pixel type {img.dtype}")
    return img


def to_tensor(image: np.ndarray, size: int, norm: str = "fixed") -> torch.Tensor:
    """(1, size, size) float tensor, normalised; area interpolation keeps small fragments visible.

    norm "fixed" uses the training set's constants; "per_image" standardises each input by its own mean and
    spread (so a dark and a light well look alike).
    """
    if image.shape[:2] != (size, size):
        interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
        image = cv2.resize(image, (size, size), interpolation=interp)
    x = torch.from_numpy(np.ascontiguousarray(image)).float().div_(255.0)
    if norm == "per_image":
        return x.sub_(x.mean()).div_(x.std().clamp_min(0.02)).unsqueeze(0)
    return x.sub_(NORM_MEAN).div_(NORM_STD).unsqueeze(0)


@dataclass(frozen=True)
class InputSpec:
    """How a frame becomes the network's input: size, the canonical embryo view or the whole frame, and
    the intensity normalisation (all from the weights' ModelConfig)."""

    size: int
    canonical: bool = False
    margin: float = 1.4
    norm: str = "fixed"

    @classmethod
    def of(cls, cfg) -> InputSpec:
        return cls(cfg.input_size, cfg.canonical_crop, cfg.crop_margin, cfg.input_norm)

    @property
    def key(self) -> str:
        """Part of every cache key: features of one input convention are no use to another."""
        return f"s{self.size}" + (f"c{self.margin:g}" if self.canonical else "") + ("p" if self.norm != "fixed" else "")

    def view(self, image: np.ndarray) -> EmbryoView:
        return view_for(image, self.canonical, self.margin)

    def image(self, image: np.ndarray, view: EmbryoView | None = None) -> np.ndarray:
        """The (size, size) uint8 input of a frame."""
        return (view or self.view(image)).image_to_input(image, self.size)

    def tensor(self, image_in: np.ndarray) -> torch.Tensor:
        return to_tensor(image_in, self.size, self.norm)

    def frame_tensor(self, image: np.ndarray) -> tuple[torch.Tensor, EmbryoView]:
        view = self.view(image)
        return self.tensor(self.image(image, view)), view
