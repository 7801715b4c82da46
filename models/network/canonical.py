"""The embryo-centred canonical view: where the network looks in a frame, and how its answer goes back.

Frames differ in size and optics (a 500-px EmbryoScope well, an 800-px bright-field dish in which the
embryo is a third of the frame). Resizing the whole frame to the network's input makes the same embryo
100 or 190 px wide and shrinks small fragments to a few pixels. A canonical view instead finds the embryo
(a classical texture detector, no network), takes a square window around it (``margin`` times its extent),
and resizes that window to the input size, so every embryo reaches the network at about the same scale.
The network's logits are resized back onto that window of the frame; outside it is background.

A view is a rectangle of the frame (it may reach past the frame's edges, which are then replicated).
``EmbryoView.whole`` is the plain whole-frame resize older models were trained with.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

_DETECT_SIDE = 256  # the detector works on the frame shrunk to this size (the texture it reads is coarse)
_BORDER_BAND = 0.06  # burnt-in text ("Well 4", "43.1 h") and the frame's edge: never the embryo
_MIN_SIDE_FRACTION = 0.15  # a window narrower than this share of the frame is a detector failure


@dataclass(frozen=True)
class EmbryoView:
    """A rectangle (x0, y0, width, height) of a frame of shape frame_shape, shown to the network at size x size."""

    frame_shape: tuple[int, int]
    x0: int
    y0: int
    width: int
    height: int

    @classmethod
    def whole(cls, frame_shape: tuple[int, int]) -> EmbryoView:
        h, w = frame_shape[:2]
        return cls((h, w), 0, 0, w, h)

    @property
    def is_whole(self) -> bool:
        return (self.x0, self.y0, self.width, self.height) == (0, 0, self.frame_shape[1], self.frame_shape[0])

    def window(self, a: np.ndarray) -> np.ndarray:
        """The view's pixels of a frame-sized array; outside the frame its edge pixels are replicated."""
        h, w = self.frame_shape
        top, left = max(0, -self.y0), max(0, -self.x0)
        bottom = max(0, self.y0 + self.height - h)
        right = max(0, self.x0 + self.width - w)
        inner = a[max(0, self.y0) : min(h, self.y0 + self.height), max(0, self.x0) : min(w, self.x0 + self.width)]
        if top or left or bottom or right:
            inner = cv2.copyMakeBorder(np.ascontiguousarray(inner), top, bottom, left, right, cv2.BORDER_REPLICATE)
        return inner

    def image_to_input(self, image: np.ndarray, size: int) -> np.ndarray:
        """Grey frame -> (size, size) network input; area averaging when shrinking keeps small fragments."""
        win = self.window(image)
        if win.shape[:2] == (size, size):
            return np.ascontiguousarray(win)
        interp = cv2.INTER_AREA if self.height > size else cv2.INTER_LINEAR
        return cv2.resize(win, (size, size), interpolation=interp)

    def mask_to_input(self, mask: np.ndarray, size: int) -> np.ndarray:
        """Class mask -> (size, size), nearest neighbour (labels are never blended)."""
        return resize_nearest(self.window(mask), (size, size))

    def mask_to_frame(self, mask: np.ndarray, fill: int = 0) -> np.ndarray:
        """A (size, size) class mask back onto the frame, nearest neighbour; outside the view is ``fill``.

        When the view is no larger than the input (size >= width, height), mask_to_frame(mask_to_input(m))
        gives back m exactly inside the view.
        """
        win = resize_nearest(mask, (self.height, self.width))
        out = np.full(self.frame_shape, fill, dtype=mask.dtype)
        self._paste(out, win)
        return out

    def tensor_to_frame(self, t: torch.Tensor, fill: float | list[float]) -> torch.Tensor:
        """(N, C, size, size) logits or maps back onto the frame (bilinear); outside the view each channel
        takes its ``fill`` value (for logits: a clear 'background')."""
        n, c = t.shape[:2]
        win = F.interpolate(t, size=(self.height, self.width), mode="bilinear", align_corners=False)
        if self.is_whole:
            return win
        fills = torch.as_tensor(fill if isinstance(fill, list) else [fill] * c, dtype=t.dtype, device=t.device)
        out = fills.view(1, c, 1, 1).expand(n, c, *self.frame_shape).clone()
        self._paste(out, win)
        return out

    def _paste(self, out, win) -> None:
        h, w = self.frame_shape
        ys, xs = max(0, self.y0), max(0, self.x0)
        ye, xe = min(h, self.y0 + self.height), min(w, self.x0 + self.width)
        if ye <= ys or xe <= xs:
            return
        out[..., ys:ye, xs:xe] = win[..., ys - self.y0 : ye - self.y0, xs - self.x0 : xe - self.x0]

    def jittered(self, rng: np.random.Generator, scale: float = 0.12, shift: float = 0.06) -> EmbryoView:
        """A slightly larger or smaller, slightly moved square (training: the detector is not exact)."""
        side = max(8, round(self.width * float(rng.uniform(1 - scale, 1 + scale))))
        cx = self.x0 + self.width / 2 + float(rng.uniform(-shift, shift)) * self.width
        cy = self.y0 + self.height / 2 + float(rng.uniform(-shift, shift)) * self.height
        return EmbryoView(self.frame_shape, round(cx - side / 2), round(cy - side / 2), side, side)


def resize_nearest(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize by pixel centres (cv2's INTER_NEAREST rounds down instead), so that a
    mask enlarged and shrunk back comes back exactly."""
    h, w = a.shape[:2]
    if (h, w) == tuple(shape):
        return np.ascontiguousarray(a)
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * (h / shape[0])).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * (w / shape[1])).astype(np.int64), w - 1)
    return a[rows[:, None], cols[None, :]]


def locate_embryo(image: np.ndarray) -> tuple[float, float, float] | None:
    """(centre x, centre y, extent) of the embryo in frame pixels, or None on a frame without one.

    The embryo is the largest patch of fine texture (granular cytoplasm, cell edges, fragments); the well's
    rim and crescent are smooth, and the burnt-in text sits in a border band that is ignored. Texture is
    measured relative to the local brightness, so dark EmbryoScope wells and light bright-field dishes read
    alike.
    """
    h, w = image.shape[:2]
    s = _DETECT_SIDE / max(h, w)
    small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32)
    texture = np.abs(small - cv2.GaussianBlur(small, (0, 0), 1.5))
    texture /= cv2.GaussianBlur(small, (0, 0), 8) + 10.0
    sh, sw = texture.shape
    by, bx = int(_BORDER_BAND * sh), int(_BORDER_BAND * sw)
    inner = np.zeros_like(texture)
    inner[by : sh - by, bx : sw - bx] = texture[by : sh - by, bx : sw - bx]
    detail = cv2.GaussianBlur(inner, (0, 0), 6)
    blob = cv2.GaussianBlur(inner, (0, 0), 18)  # favours a large textured disc over edges and specks
    if float(blob.max()) <= 1e-6:
        return None
    y, x = np.unravel_index(int(np.argmax(blob)), blob.shape)
    peak = float(detail[max(0, y - 10) : y + 11, max(0, x - 10) : x + 11].max())
    n, labels, stats, _ = cv2.connectedComponentsWithStats((detail > 0.45 * peak).astype(np.uint8))
    k = labels[y, x] or (int(np.argmax(stats[1:, cv2.CC_STAT_AREA])) + 1 if n > 1 else 0)
    if k == 0:
        return None
    x0, y0, bw, bh = (int(v) for v in stats[k, :4])
    return (x0 + bw / 2) / s, (y0 + bh / 2) / s, max(bw, bh) / s


def canonical_view(image: np.ndarray, margin: float) -> EmbryoView:
    """The square window around the embryo, ``margin`` times its extent; the whole frame if none is found."""
    h, w = image.shape[:2]
    found = locate_embryo(image)
    if found is None:
        return EmbryoView.whole((h, w))
    cx, cy, extent = found
    side = int(round(np.clip(extent * margin, _MIN_SIDE_FRACTION * min(h, w), max(h, w))))
    return EmbryoView((h, w), int(round(cx - side / 2)), int(round(cy - side / 2)), side, side)


def view_for(image: np.ndarray, canonical: bool, margin: float) -> EmbryoView:
    """The view a network of this kind reads: canonical, or the whole frame (models trained before it)."""
    return canonical_view(image, margin) if canonical else EmbryoView.whole(image.shape[:2])
