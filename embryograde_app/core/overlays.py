"""Mask and attention overlays as RGBA arrays (numpy only, so they are tested without a window)."""

from __future__ import annotations

import numpy as np

# Class colours chosen to stay distinct on grey Hoffman images and for red-green colour blindness.
CLASS_COLOURS = {1: (0, 190, 255), 2: (255, 140, 0)}  # blastomere: sky blue, fragment: orange


def mask_rgba(
    mask: np.ndarray, opacity: float, outline: bool = False, colours: dict[int, tuple[int, int, int]] | None = None
) -> np.ndarray:
    """(H, W, 4) uint8 overlay: class colours, alpha = opacity where a class is present."""
    lut = np.zeros((256, 4), np.uint8)
    alpha = int(round(255 * min(max(opacity, 0.0), 1.0)))
    for cls, rgb in (colours or CLASS_COLOURS).items():
        lut[cls] = (*rgb, alpha)
    if outline:
        edges = np.zeros(mask.shape, bool)
        edges[:-1] |= mask[:-1] != mask[1:]
        edges[1:] |= mask[1:] != mask[:-1]
        edges[:, :-1] |= mask[:, :-1] != mask[:, 1:]
        edges[:, 1:] |= mask[:, 1:] != mask[:, :-1]
        return lut[np.where(edges, mask, 0)]
    return lut[mask]


def heat_lut(n: int = 256) -> np.ndarray:
    """A perceptually ordered dark-red-yellow-white ramp ("hot"), alpha rising with the value."""
    t = np.linspace(0, 1, n)
    r = np.clip(3 * t, 0, 1)
    g = np.clip(3 * t - 1, 0, 1)
    b = np.clip(3 * t - 2, 0, 1)
    a = np.clip(0.15 + 0.85 * t, 0, 1)
    return (np.stack([r, g, b, a], 1) * 255).astype(np.uint8)
