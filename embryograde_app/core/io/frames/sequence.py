"""Frame readers for time-lapse sequences: image folders, multi-page TIFF, video files.

Every reader returns 2-D grey frames (uint8 or uint16) through one lazy interface, `FrameSequence`:
opening a 1,000-frame folder only lists it and checks each file's first and last bytes (cheap problems:
empty files, non-images, truncated PNG/JPEG/BMP are reported at once); pixels are decoded on demand and
kept in a bounded LRU cache, so scrubbing through a long time-lapse never holds more than the cache.

Bad files never stop a sequence from loading: they become `FrameProblem`s (file name + human reason);
a decode failure at read time raises `FrameReadError` and is recorded in `problems` too.

Qt-free and torch-free on purpose: the GUI, the batch grader and the importers all use it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv"})
FRAME_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES

DEFAULT_CACHE_FRAMES = 64
# How far from the end of a file the end marker (PNG IEND, JPEG EOI) may sit: writers sometimes pad.
_END_MARKER_WINDOW = 1024
# Open file handles (multi-page TIFF, video) kept at once; reopening costs an IFD walk or a seek.
_MAX_OPEN_HANDLES = 4


# --------------------------------------------------------------------------------------------------
# Errors and records
# --------------------------------------------------------------------------------------------------


class FrameReadError(ValueError):
    """One frame could not be read; str() names the file and the reason so it can be shown as-is."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")


def naming(path: str | os.PathLike, exc: BaseException) -> str:
    """ "path: reason" for a problem list, without naming the path twice when the message already does."""
    text = str(exc)
    return text if str(path) in text else f"{path}: {text}"


class NoFramesError(ValueError):
    """Nothing readable at a path (empty folder, no image files, every file bad).

    `problems` lists the per-file reasons when there were candidate files.
    """

    def __init__(self, message: str, problems: Sequence[FrameProblem] = ()) -> None:
        self.problems = list(problems)
        super().__init__(message)


class FramePathNotFoundError(NoFramesError, FileNotFoundError):
    """The path does not exist; catchable both as ValueError (bad input) and as FileNotFoundError."""


@dataclass(frozen=True)
class FrameInfo:
    """Where one frame comes from and what its file name says about it."""

    source: Path
    page: int | None  # TIFF page / video frame index; None for a single-image file
    frame_number: int  # from the name when present (gaps kept), else the position in the sequence
    well: int | None
    focal_plane: int | None
    slide: str | None
    name: str  # display name


@dataclass(frozen=True)
class FrameProblem:
    """A file (or one frame of it) that was skipped, with a reason a person can act on."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path.name}: {self.reason}"


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    frames: int
    nbytes: int
    max_frames: int
    max_bytes: int | None


# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------

_NATURAL_SPLIT = re.compile(r"(\d+)")


def natural_key(s: str) -> tuple:
    """Sort key that orders embedded numbers by value (RUN2 before RUN10), case-insensitively.

    The original string is the last element so that keys of different strings never tie.
    """
    parts = tuple((0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in _NATURAL_SPLIT.split(s) if t)
    return (*parts, (2, 0, s))


# D2013.01.28_S0717_I132_WELL7_RUN185.jpeg (EmbryoScope export): slide S0717, well 7, frame 185
_EMBRYOSCOPE_RUN = re.compile(
    r"^D(?P<date>\d{4}\.\d{2}\.\d{2})_(?P<slide>S\d+)_I\d+_WELL(?P<well>\d+)_RUN(?P<frame>\d+)"
    r"(?:_F(?:P)?(?P<focal>[+-]?\d+))?$",
    re.IGNORECASE,
)
# 20230304-17097-3-F15-157.jpg: date, slide 17097, well 3, focal plane +15 (F-15 -> -15), frame 157
_EMBRYOSCOPE_DASH = re.compile(
    r"^(?P<date>\d{8})-(?P<slide>\d+)-(?P<well>\d+)-(?:F(?P<focal>[+-]?\d+)-)?(?P<frame>\d+)$",
    re.IGNORECASE,
)
_GENERIC_WELL = re.compile(r"(?:^|[^a-z])well[_-]?(\d+)", re.IGNORECASE)
_GENERIC_FOCAL = re.compile(r"(?:^|[_-])(?:f|fp|focal)_?([+-]?\d+)(?=$|[_-])", re.IGNORECASE)
_GENERIC_FRAME = re.compile(r"(?:run|frame)[_-]?(\d+)", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(r"(\d+)$")
_LEADING_NUMBER = re.compile(r"^(\d+)")


def _strip_frame_suffix(name: str) -> str:
    """Drop a known image/video extension only: EmbryoScope names contain dots (D2013.01.28_...)."""
    name = Path(name).name
    root, ext = os.path.splitext(name)
    return root if ext.lower() in FRAME_SUFFIXES else name


def parse_frame_name(name: str) -> dict:
    """What a frame's file name says: keys well, focal_plane, frame_number, slide (None when absent).

    Knows both EmbryoScope export styles and plain names ("0001.png" -> frame 1, "well3_frame12.png").
    """
    stem = _strip_frame_suffix(name)
    result: dict[str, Any] = {"well": None, "focal_plane": None, "frame_number": None, "slide": None}
    for pattern in (_EMBRYOSCOPE_RUN, _EMBRYOSCOPE_DASH):
        m = pattern.match(stem)
        if m:
            focal = m.group("focal")
            result.update(
                well=int(m.group("well")),
                focal_plane=int(focal) if focal is not None else None,
                frame_number=int(m.group("frame")),
                slide=m.group("slide").upper() if pattern is _EMBRYOSCOPE_RUN else m.group("slide"),
            )
            return result

    taken: list[tuple[int, int]] = []  # spans already claimed by well/focal numbers
    m = _GENERIC_WELL.search(stem)
    if m:
        result["well"] = int(m.group(1))
        taken.append(m.span(1))
    m = _GENERIC_FOCAL.search(stem)
    if m:
        result["focal_plane"] = int(m.group(1))
        taken.append(m.span(1))
    m = _GENERIC_FRAME.search(stem)
    for fallback in (_TRAILING_NUMBER, _LEADING_NUMBER):  # "0001_F15" -> focal 15 (taken), frame 1
        if m is not None:
            break
        m = fallback.search(stem)
        if m and any(a <= m.start(1) < b for a, b in taken):
            m = None
    if m:
        result["frame_number"] = int(m.group(1))
    return result


def group_by_well_and_focal(
    paths: Iterable[str | os.PathLike],
) -> dict[tuple[int | None, int | None], list[Path]]:
    """Split a mixed EmbryoScope export into (well, focal_plane) groups, each in natural order.

    Keys are sorted (None first), so a navigator can list wells and focal planes in a stable order.
    """
    groups: dict[tuple[int | None, int | None], list[Path]] = {}
    for p in sorted((Path(p) for p in paths), key=lambda p: natural_key(p.name)):
        parsed = parse_frame_name(p.name)
        groups.setdefault((parsed["well"], parsed["focal_plane"]), []).append(p)
    return {k: groups[k] for k in sorted(groups, key=lambda k: (_none_first(k[0]), _none_first(k[1])))}


def _none_first(value: int | None) -> tuple[int, int]:
    return (0, 0) if value is None else (1, value)


# --------------------------------------------------------------------------------------------------
# Pixels
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# File checks
# --------------------------------------------------------------------------------------------------

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"BM", "bmp"),
)
_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "bmp": "BMP"}


def sniff_format(head: bytes) -> str | None:
    """The image format ("png", "jpeg", "tiff", "bmp") a file's first bytes announce; None for anything else."""
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    return None


def _unrecognised_reason(head: bytes) -> str:
    text_like = head and all(b in b"\t\n\r\f" or 32 <= b < 127 or b >= 0x80 for b in head[:64])
    if text_like:
        return "not an image (unrecognised header; looks like a text file)"
    return "not an image (unrecognised header)"


def _truncation_reason(fmt: str, size: int, head: bytes, tail: bytes) -> str | None:
    """Why a file whose header looks fine is cut short, from its first and last bytes; None if whole.

    cv2 decodes a half JPEG into a half-grey image with only a warning, so check end markers ourselves.
    """
    if fmt == "png" and b"IEND" not in tail:
        return "truncated PNG (no IEND chunk at the end; the file was cut short)"
    if fmt == "jpeg" and b"\xff\xd9" not in tail:
        return "truncated JPEG (no end-of-image marker; the file was cut short)"
    if fmt == "bmp" and len(head) >= 6:
        declared = int.from_bytes(head[2:6], "little")
        if declared and size < declared:
            return f"truncated BMP ({size} of {declared} bytes)"
    return None


def _check_image_file(path: Path) -> tuple[str | None, str | None]:
    """(format, None) for a file worth decoding later, or (None, reason) for one to skip now."""
    try:
        size = path.stat().st_size
        if size == 0:
            return None, "file is empty (0 bytes)"
        with open(path, "rb") as fh:
            head = fh.read(32)
            fh.seek(max(0, size - _END_MARKER_WINDOW))
            tail = fh.read(_END_MARKER_WINDOW)
    except FileNotFoundError:
        return None, "file not found"
    except PermissionError:
        return None, "cannot be read (permission denied)"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    fmt = sniff_format(head)
    if fmt is None:
        return None, _unrecognised_reason(head)
    reason = _truncation_reason(fmt, size, head, tail)
    return (None, reason) if reason else (fmt, None)


# --------------------------------------------------------------------------------------------------
# The lazy sequence
# --------------------------------------------------------------------------------------------------


class _SharedState:
    """What a sequence and its subsets share: the LRU frame cache, open handles, known failures."""

    def __init__(self, cache_frames: int, cache_bytes: int | None) -> None:
        if cache_frames < 0:
            raise ValueError("cache_frames must be >= 0")
        self.max_frames = cache_frames
        self.max_bytes = cache_bytes
        self.cache: OrderedDict[tuple[Path, int | None], np.ndarray] = OrderedDict()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self.lock = threading.RLock()
        self.handles: OrderedDict[Path, Any] = OrderedDict()
        # "png" | "jpeg" | "bmp" | "tiff" | "tiff-cv2" (tifffile lacks the codec) | "video"
        self.formats: dict[Path, str] = {}
        self.failures: dict[tuple[Path, int | None], str] = {}

    def get(self, key: tuple[Path, int | None]) -> np.ndarray | None:
        with self.lock:
            image = self.cache.get(key)
            if image is None:
                self.misses += 1
                return None
            self.cache.move_to_end(key)
            self.hits += 1
            return image

    def put(self, key: tuple[Path, int | None], image: np.ndarray) -> None:
        if self.max_frames == 0 or (self.max_bytes is not None and image.nbytes > self.max_bytes):
            return
        with self.lock:
            old = self.cache.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self.cache[key] = image
            self.nbytes += image.nbytes
            while len(self.cache) > self.max_frames or (self.max_bytes is not None and self.nbytes > self.max_bytes):
                _, evicted = self.cache.popitem(last=False)
                self.nbytes -= evicted.nbytes

    def clear(self) -> None:
        with self.lock:
            self.cache.clear()
            self.nbytes = 0

    def handle(self, path: Path, opener) -> Any:
        """An open TIFF/video handle, reopened on demand; at most _MAX_OPEN_HANDLES stay open."""
        handle = self.handles.get(path)
        if handle is not None:
            self.handles.move_to_end(path)
            return handle
        handle = opener(path)
        self.handles[path] = handle
        while len(self.handles) > _MAX_OPEN_HANDLES:
            _, old = self.handles.popitem(last=False)
            _close_handle(old)
        return handle

    def drop_handle(self, path: Path) -> None:
        handle = self.handles.pop(path, None)
        if handle is not None:
            _close_handle(handle)

    def close(self) -> None:
        with self.lock:
            while self.handles:
                _, handle = self.handles.popitem()
                _close_handle(handle)


class _VideoHandle:
    """A VideoCapture that remembers its position, so sequential reads need no seek."""

    def __init__(self, path: Path) -> None:
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            raise OSError("cannot open video (unsupported codec or corrupt file)")
        self.next_index = 0

    def read(self, index: int) -> np.ndarray | None:
        if index != self.next_index:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = self.capture.read()
        self.next_index = index + 1 if ok else -1
        return frame if ok else None

    def close(self) -> None:
        self.capture.release()


def _close_handle(handle: Any) -> None:
    try:
        handle.close()
    except Exception:  # closing must never mask the error that made us drop it
        log.debug("closing frame handle failed", exc_info=True)


def _open_tiff(path: Path):
    import tifffile

    return tifffile.TiffFile(str(path))


class FrameSequence:
    """Frames of one time-lapse (or a mixed export), read lazily through a bounded LRU cache.

    `read(i)` returns a fresh copy of frame i as a 2-D uint8/uint16 array (callers may modify it);
    a frame that cannot be decoded raises FrameReadError and is added to `problems` once.
    Subsets share the cache, open handles and known failures with their parent.
    Thread-safe: the GUI and a prefetch/inference thread may read at the same time.
    """

    def __init__(
        self,
        infos: Sequence[FrameInfo],
        problems: Sequence[FrameProblem] = (),
        *,
        cache_frames: int = DEFAULT_CACHE_FRAMES,
        cache_bytes: int | None = None,
        _shared: _SharedState | None = None,
        _parent: FrameSequence | None = None,
    ) -> None:
        self.infos: list[FrameInfo] = list(infos)
        self.problems: list[FrameProblem] = list(problems)
        self._shared = _shared if _shared is not None else _SharedState(cache_frames, cache_bytes)
        self._parent = _parent

    # -- size and lookup -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.infos)

    def __repr__(self) -> str:
        return f"<FrameSequence {len(self)} frames, {len(self.problems)} problems>"

    def __enter__(self) -> FrameSequence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close open TIFF/video handles (they reopen on the next read); the cache is kept."""
        self._shared.close()

    def frame_numbers(self) -> list[int]:
        return [info.frame_number for info in self.infos]

    def index_of(self, frame_number: int) -> int | None:
        """Position of a frame number in this sequence (None for a gap), for navigators and labels."""
        for i, info in enumerate(self.infos):
            if info.frame_number == frame_number:
                return i
        return None

    def focal_planes(self) -> list[int | None]:
        """Distinct focal planes, sorted (None first), for the focal-plane selector."""
        return sorted({info.focal_plane for info in self.infos}, key=_none_first)

    def wells(self) -> list[int | None]:
        return sorted({info.well for info in self.infos}, key=_none_first)

    def slides(self) -> list[str | None]:
        return sorted({info.slide for info in self.infos}, key=lambda s: (s is not None, s or ""))

    def subset(
        self, *, well: int | None = None, focal_plane: int | None = None, slide: str | None = None
    ) -> FrameSequence:
        """Frames of one well and/or focal plane (None = any); shares this sequence's cache."""

        def keep(well_: int | None, focal_: int | None, slide_: str | None) -> bool:
            return (
                (well is None or well_ == well)
                and (focal_plane is None or focal_ == focal_plane)
                and (slide is None or slide_ == slide)
            )

        infos = [i for i in self.infos if keep(i.well, i.focal_plane, i.slide)]
        problems = []
        for problem in self.problems:
            parsed = parse_frame_name(problem.path.name)
            # A bad file whose name says nothing about well/plane may belong to any subset: keep it.
            if keep(
                parsed["well"] if parsed["well"] is not None else well,
                parsed["focal_plane"] if parsed["focal_plane"] is not None else focal_plane,
                parsed["slide"] if parsed["slide"] is not None else slide,
            ):
                problems.append(problem)
        return FrameSequence(infos, problems, _shared=self._shared, _parent=self)

    def groups(self) -> dict[tuple[int | None, int | None], FrameSequence]:
        """One subset per (well, focal_plane), keys sorted; all share the cache."""
        keys = sorted(
            {(i.well, i.focal_plane) for i in self.infos},
            key=lambda k: (_none_first(k[0]), _none_first(k[1])),
        )
        return {k: self._subset_exact(*k) for k in keys}

    def _subset_exact(self, well: int | None, focal_plane: int | None) -> FrameSequence:
        infos = [i for i in self.infos if i.well == well and i.focal_plane == focal_plane]
        return FrameSequence(infos, [], _shared=self._shared, _parent=self)

    # -- cache -----------------------------------------------------------------------------------
    def cache_info(self) -> CacheInfo:
        s = self._shared
        with s.lock:
            return CacheInfo(s.hits, s.misses, len(s.cache), s.nbytes, s.max_frames, s.max_bytes)

    def clear_cache(self) -> None:
        self._shared.clear()

    # -- reading ---------------------------------------------------------------------------------
    def read(self, i: int) -> np.ndarray:
        """Frame i as a 2-D grey uint8/uint16 array (a copy); FrameReadError if it cannot be decoded."""
        info = self.infos[i]  # IndexError for a bad index, like a list
        key = (info.source, info.page)
        shared = self._shared
        cached = shared.get(key)
        if cached is not None:
            return cached.copy()
        known = shared.failures.get(key)
        if known is not None:
            raise FrameReadError(info.source, known)
        try:
            image = self._decode(info)
        except FrameReadError as exc:
            self._record_failure(key, exc)
            raise
        image.flags.writeable = False
        shared.put(key, image)
        return image.copy()

    def read_uint8(self, i: int) -> np.ndarray:
        """Frame i scaled to uint8 for display and inference (see `to_uint8`)."""
        image = self.read(i)
        return image if image.dtype == np.uint8 else to_uint8(image)

    def iter_frames(self, *, skip_bad: bool = True) -> Iterator[tuple[FrameInfo, np.ndarray]]:
        """(info, frame) in order; bad frames are skipped (and recorded) unless skip_bad is False."""
        for i, info in enumerate(self.infos):
            try:
                yield info, self.read(i)
            except FrameReadError:
                if not skip_bad:
                    raise

    def _record_failure(self, key: tuple[Path, int | None], exc: FrameReadError) -> None:
        with self._shared.lock:
            self._shared.failures[key] = exc.reason
        reason = exc.reason if key[1] is None else f"frame {key[1]}: {exc.reason}"
        problem = FrameProblem(key[0], reason)
        seq: FrameSequence | None = self
        while seq is not None:
            if problem not in seq.problems:
                seq.problems.append(problem)
            seq = seq._parent
        log.info("skipping frame: %s", problem)

    def _decode(self, info: FrameInfo) -> np.ndarray:
        fmt = self._shared.formats.get(info.source) or _format_from_suffix(info.source)
        try:
            if fmt == "video":
                raw, bgr = self._read_video_frame(info), True
            elif fmt in ("tiff", "tiff-cv2"):
                raw, bgr = self._read_tiff_page(info)
            else:
                raw, bgr = _read_image_file(info.source, fmt), True
        except FrameReadError:
            raise
        except FileNotFoundError:
            raise FrameReadError(info.source, "file not found (moved or deleted after opening)") from None
        except PermissionError:
            raise FrameReadError(info.source, "cannot be read (permission denied)") from None
        except MemoryError:
            raise FrameReadError(info.source, "too large to load into memory") from None
        except Exception as exc:  # decoders (cv2, tifffile, codecs) raise their own error types
            raise FrameReadError(info.source, _describe(exc)) from exc
        try:
            grey = _to_storage_dtype(_as_grey(raw, bgr=bgr))
        except ValueError as exc:  # odd shape or pixel type: our own message says what and why
            raise FrameReadError(info.source, str(exc)) from None
        if min(grey.shape) < MIN_FRAME_SIDE:  # a 1x1 PNG graded as "0.18 %" would be a number from nothing
            size = f"{grey.shape[1]}x{grey.shape[0]} px"
            minimum = f"at least {MIN_FRAME_SIDE} px a side"
            raise FrameReadError(info.source, f"{size} is too small to hold an embryo ({minimum})")
        return grey

    def _read_tiff_page(self, info: FrameInfo) -> tuple[np.ndarray, bool]:
        """(pixels, is_bgr) of one TIFF page: tifffile first, OpenCV's libtiff when tifffile cannot.

        tifffile needs the optional imagecodecs package for LZW/JPEG-compressed TIFFs (which cv2 writes),
        so those fall back to cv2 (BGR order for colour).
        """
        page = info.page or 0
        if self._shared.formats.get(info.source) == "tiff-cv2":
            image = _read_tiff_page_cv2(info.source, page)
            if image is None:
                raise FrameReadError(info.source, f"corrupt TIFF (page {page} could not be decoded)")
            return image, True
        with self._shared.lock:
            try:
                tif = self._shared.handle(info.source, _open_tiff)
                tiff_page = tif.pages[page]
                _check_tiff_page_complete(info.source, tiff_page, tif.filehandle.size)
                return tiff_page.asarray(), False
            except FrameReadError:
                raise
            except Exception as exc:
                self._shared.drop_handle(info.source)
                first_error = exc
        image = _read_tiff_page_cv2(info.source, page)
        if image is None:
            raise first_error
        self._shared.formats[info.source] = "tiff-cv2"  # skip tifffile for the other pages
        return image, True

    def _read_video_frame(self, info: FrameInfo) -> np.ndarray:
        index = info.page or 0
        with self._shared.lock:
            video = self._shared.handle(info.source, _VideoHandle)
            frame = video.read(index)
            if frame is None:
                self._shared.drop_handle(info.source)
                raise FrameReadError(
                    info.source, f"video frame {index} could not be decoded (file truncated or codec error)"
                )
            return frame


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, cv2.error):
        text = "OpenCV could not decode it"
    return f"cannot be decoded ({text})"


def _check_tiff_page_complete(path: Path, page: Any, file_size: int) -> None:
    """tifffile silently reads a cut-off TIFF as zeros past the end: compare strip extents to the size."""
    offsets = getattr(page, "dataoffsets", ()) or ()
    counts = getattr(page, "databytecounts", ()) or ()
    ends = [int(o) + int(c) for o, c in zip(offsets, counts, strict=False) if int(c) > 0]
    if ends and max(ends) > file_size:
        raise FrameReadError(path, f"truncated TIFF (pixel data needs {max(ends)} bytes, file has {file_size})")


def _read_tiff_page_cv2(path: Path, page: int) -> np.ndarray | None:
    try:
        ok, images = cv2.imreadmulti(str(path), start=page, count=1, flags=cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    return images[0] if ok and images else None


def _format_from_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    return {".png": "png", ".bmp": "bmp"}.get(suffix, "jpeg")


def _read_image_file(path: Path, fmt: str) -> np.ndarray:
    """Decode a PNG/JPEG/BMP with cv2, keeping 16-bit; re-checks truncation (the file may have changed)."""
    data = path.read_bytes()
    if not data:
        raise FrameReadError(path, "file is empty (0 bytes)")
    reason = _truncation_reason(fmt, len(data), data[:32], data[-_END_MARKER_WINDOW:])
    if reason:
        raise FrameReadError(path, reason)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FrameReadError(path, f"corrupt {_FORMAT_NAMES.get(fmt, fmt.upper())} (could not be decoded)")
    return image


# --------------------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------------------


def _tiff_page_count(path: Path) -> tuple[int, str | None]:
    """(pages, problem) of a TIFF from its IFD chain (headers only, no pixel decoding).

    tifffile stops quietly at a cut-off IFD chain; the problem then says how many pages survive.
    """
    import struct

    with _open_tiff(path) as tif:
        pages = len(tif.pages)
        if pages == 0:
            return 0, None
        fmt, fh = tif.tiff, tif.filehandle
        last_offset = tif.pages[-1].offset
        try:
            fh.seek(last_offset)
            tag_count = struct.unpack(fmt.tagnoformat, fh.read(fmt.tagnosize))[0]
            fh.seek(last_offset + fmt.tagnosize + tag_count * fmt.tagsize)
            next_offset = struct.unpack(fmt.offsetformat, fh.read(fmt.offsetsize))[0]
        except (struct.error, OSError):
            next_offset = -1
        if next_offset == -1 or next_offset >= fh.size:
            return pages, f"truncated TIFF (only {pages} page(s) readable; the rest is cut off)"
        return pages, None


def _video_frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise OSError("cannot open video (unsupported codec or corrupt file)")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:  # some containers do not store it: count by demuxing (no pixel decoding)
            count = 0
            while capture.grab():
                count += 1
        return count
    finally:
        capture.release()


class _Collector:
    """Accumulates infos, problems and per-file formats while a source is being listed."""

    def __init__(self) -> None:
        self.entries: list[tuple[Path, int | None, dict]] = []
        self.problems: list[FrameProblem] = []
        self.formats: dict[Path, str] = {}

    def add_file(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            self._add_video(path)
            return
        fmt, reason = _check_image_file(path)
        if reason:
            self.problems.append(FrameProblem(path, reason))
            return
        assert fmt is not None
        self.formats[path] = fmt
        parsed = parse_frame_name(path.name)
        if fmt != "tiff":
            self.entries.append((path, None, parsed))
            return
        try:
            pages, chain_problem = _tiff_page_count(path)
        except Exception as exc:  # tifffile raises its own error types for broken IFDs
            self.problems.append(FrameProblem(path, f"corrupt TIFF ({_first_line(exc)})"))
            return
        if chain_problem:
            self.problems.append(FrameProblem(path, chain_problem))
        if pages == 0:
            self.problems.append(FrameProblem(path, "TIFF has no pages"))
        elif pages == 1:
            self.entries.append((path, None, parsed))
        else:
            self.entries.extend((path, page, parsed) for page in range(pages))

    def _add_video(self, path: Path) -> None:
        try:
            if path.stat().st_size == 0:
                self.problems.append(FrameProblem(path, "file is empty (0 bytes)"))
                return
            count = _video_frame_count(path)
        except FileNotFoundError:
            self.problems.append(FrameProblem(path, "file not found"))
            return
        except (OSError, cv2.error) as exc:
            self.problems.append(FrameProblem(path, _first_line(exc)))
            return
        if count == 0:
            self.problems.append(FrameProblem(path, "video has no frames"))
            return
        self.formats[path] = "video"
        parsed = parse_frame_name(path.name)
        self.entries.extend((path, index, parsed) for index in range(count))

    def infos(self) -> list[FrameInfo]:
        infos = []
        for position, (path, page, parsed) in enumerate(self.entries):
            if page is not None:
                frame_number, name = page, f"{path.name} [{page}]"
            else:
                number = parsed["frame_number"]
                frame_number, name = (position if number is None else number), path.name
            infos.append(
                FrameInfo(path, page, frame_number, parsed["well"], parsed["focal_plane"], parsed["slide"], name)
            )
        return infos


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _summarise(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _list_folder(folder: Path) -> list[Path]:
    """Frame files of a folder in natural order; hidden files (incl. macOS ._ twins) are ignored."""
    try:
        entries = list(folder.iterdir())
    except PermissionError:
        raise NoFramesError(f"{folder}: cannot list folder (permission denied)") from None
    visible = [p for p in entries if not p.name.startswith(".")]
    frames = [p for p in visible if p.suffix.lower() in FRAME_SUFFIXES and not p.is_dir()]
    if frames:
        return sorted(frames, key=lambda p: natural_key(p.name))
    if not visible:
        raise NoFramesError(f"{folder}: folder is empty (no image or video files)")
    folders = sorted((p.name + "/" for p in visible if p.is_dir()), key=natural_key)
    files = sorted((p.name for p in visible if not p.is_dir()), key=natural_key)
    found = []
    if files:
        found.append(f"{len(files)} other file(s): {_summarise(files)}")
    if folders:
        found.append(f"{len(folders)} folder(s): {_summarise(folders)}")
    expected = ", ".join(sorted(FRAME_SUFFIXES))
    raise NoFramesError(f"{folder}: no image or video files ({expected}); found {'; '.join(found)}")


def open_frames(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    cache_frames: int = DEFAULT_CACHE_FRAMES,
    cache_bytes: int | None = None,
) -> FrameSequence:
    """Open a folder of images, one file (multi-page TIFF, video, single image) or a list of files.

    Nothing is decoded here: files are listed in natural order and checked by their first/last bytes;
    bad ones go to `problems` and the rest loads. Raises FramePathNotFoundError for a missing path and
    NoFramesError when nothing readable is there (empty folder, no images, every file bad).
    The cache keeps at most `cache_frames` decoded frames (and at most `cache_bytes`, when given).
    """
    collector = _Collector()
    if isinstance(path, (str, os.PathLike)):
        root = Path(path)
        if not root.exists():
            raise FramePathNotFoundError(f"{root}: no such file or folder")
        if root.is_dir():
            for file in _list_folder(root):
                collector.add_file(file)
            where = str(root)
        else:
            if root.suffix.lower() not in FRAME_SUFFIXES:
                expected = ", ".join(sorted(FRAME_SUFFIXES))
                raise NoFramesError(f"{root}: unsupported file type '{root.suffix}' (expected {expected})")
            collector.add_file(root)
            where = str(root)
    else:
        items = [Path(p) for p in path]
        if not items:
            raise NoFramesError("no files given")
        for item in items:
            if item.is_dir():
                for file in _list_folder(item):
                    collector.add_file(file)
            elif not item.exists():
                collector.problems.append(FrameProblem(item, "file not found"))
            elif item.suffix.lower() not in FRAME_SUFFIXES:
                collector.problems.append(FrameProblem(item, f"unsupported file type '{item.suffix}'"))
            else:
                collector.add_file(item)
        where = f"{len(items)} given path(s)"

    infos = collector.infos()
    for problem in collector.problems:
        log.info("skipping frame file: %s", problem)
    if not infos:
        details = "; ".join(str(p) for p in collector.problems[:5])
        more = f" (and {len(collector.problems) - 5} more)" if len(collector.problems) > 5 else ""
        raise NoFramesError(f"{where}: no readable frames: {details}{more}", collector.problems)
    sequence = FrameSequence(infos, collector.problems, cache_frames=cache_frames, cache_bytes=cache_bytes)
    sequence._shared.formats.update(collector.formats)
    return sequence


__all__ = [
    "FRAME_SUFFIXES",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "CacheInfo",
    "FrameInfo",
    "FramePathNotFoundError",
    "FrameProblem",
    "FrameReadError",
    "FrameSequence",
    "NoFramesError",
    "group_by_well_and_focal",
    "natural_key",
    "open_frames",
    "parse_frame_name",
    "to_uint8",
]
