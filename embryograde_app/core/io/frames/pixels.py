"""Pixel conversion: any decoded image to the 2-D grey uint8/uint16 a sequence stores, and to uint8.

`_as_grey` and `_to_storage_dtype` run once per decoded frame; `to_uint8` makes the 8-bit view for display
and inference.  Kept separate from the decoders so the conversions can be used (and tested) on arrays.
"""

from __future__ import annotations

import cv2
import numpy as np

# The smallest frame side graded: a cleavage-stage embryo needs tens of pixels to be seen at all.
MIN_FRAME_SIDE = 32


def _as_grey(image: np.ndarray, *, bgr: bool) -> np.ndarray:
    """2-D grey from grey, grey+alpha, RGB or RGBA (cv2 decodes to BGR order, tifffile to RGB)."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[0] in (3, 4) and image.shape[-1] not in (2, 3, 4):
        image = np.moveaxis(image, 0, -1)  # planar (samples, H, W) TIFF page
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[-1] in (2, 3, 4):
        channels = image.shape[-1]
        if channels == 2:  # grey + alpha
            return np.ascontiguousarray(image[..., 0])
        if image.dtype not in (np.uint8, np.uint16, np.float32):
            image = image.astype(np.float32)
        if channels == 3:
            code = cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY
        else:
            code = cv2.COLOR_BGRA2GRAY if bgr else cv2.COLOR_RGBA2GRAY
        return cv2.cvtColor(np.ascontiguousarray(image), code)
    raise ValueError(f"unsupported image shape {image.shape} (expected grey, RGB or RGBA)")


def _to_storage_dtype(image: np.ndarray) -> np.ndarray:
    """uint8 and uint16 pass through (12-bit data stays uint16); other depths map onto uint16.

    Float: data in [0, 1] is scaled by 65535, anything else is min-max stretched to 0..65535 (NaN -> 0).
    Other integers: kept when they fit 0..65535 (uint8 if the source was 8-bit), else min-max stretched.
    """
    dtype = image.dtype
    if dtype in (np.uint8, np.uint16):
        return image
    if dtype == np.bool_:
        return image.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(dtype, np.floating):
        finite = np.isfinite(image)
        if not finite.any():
            raise ValueError("floating-point image has no finite pixel values")
        data = np.where(finite, image, 0).astype(np.float64)
        lo, hi = float(data.min()), float(data.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.round(data * 65535.0).astype(np.uint16)
        if hi <= lo:
            return np.zeros(image.shape, np.uint16)
        return np.round((data - lo) * (65535.0 / (hi - lo))).astype(np.uint16)
    if np.issubdtype(dtype, np.integer):
        lo, hi = int(image.min()), int(image.max())
        if lo >= 0 and hi <= 255 and dtype.itemsize == 1:
            return image.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return image.astype(np.uint16)
        if hi <= lo:
            return np.zeros(image.shape, np.uint16)
        scaled = (image.astype(np.float64) - lo) * (65535.0 / (hi - lo))
        return np.round(scaled).astype(np.uint16)
    raise ValueError(f"unsupported pixel type {dtype}")


def to_uint8(img: np.ndarray, *, low_percentile: float = 0.5, high_percentile: float = 99.5) -> np.ndarray:
    """8-bit view of a frame for display and inference.

    uint8 is returned unchanged (same object). uint16 (and other integers) get a robust contrast stretch:
    the `low_percentile`..`high_percentile` grey levels map to 0..255, so 12-bit data in uint16 and
    single hot pixels do not leave the frame dark; a flat image falls back to full-range scaling
    (value / 257). Float data in [0, 1] is scaled by 255, other floats are min-max stretched.
    The shape is kept (grey or colour).
    """
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * np.uint8(255)
    if img.size == 0:
        return np.zeros(img.shape, np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        data = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(data.min()), float(data.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.round(data * 255.0).astype(np.uint8)
    else:
        data = img
        # Percentiles of a strided sample: as robust as the full frame and ~4x cheaper on 800x800.
        sample = img[::2, ::2] if img.ndim >= 2 and img.shape[0] > 64 and img.shape[1] > 64 else img
        lo, hi = (float(v) for v in np.percentile(sample, (low_percentile, high_percentile)))
        if hi <= lo:
            if img.dtype == np.uint16:
                return (img // 257).astype(np.uint8)
            lo, hi = float(img.min()), float(img.max())
    if hi <= lo:
        return np.zeros(img.shape, np.uint8)
    scaled = (data.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
