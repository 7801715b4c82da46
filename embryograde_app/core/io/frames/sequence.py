"""The lazy `FrameSequence`: a bounded LRU frame cache, shared open handles, and the per-format decoders.

A sequence and its subsets share one `_SharedState` (cache, open multi-page TIFF / video handles, known
failures); a frame is decoded on first read by `_decode` (PNG/JPEG/BMP through cv2, TIFF through tifffile
with cv2 as fallback, video through a position-keeping VideoCapture) and converted to grey by `pixels`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import CacheInfo, FrameInfo, FrameProblem, FrameReadError
from .formats import _END_MARKER_WINDOW, _FORMAT_NAMES, TIFF_SUFFIXES, VIDEO_SUFFIXES, _truncation_reason
from .names import _none_first, parse_frame_name
from .pixels import MIN_FRAME_SIDE, _as_grey, _to_storage_dtype, to_uint8

log = logging.getLogger(__name__)

DEFAULT_CACHE_FRAMES = 64
# Open file handles (multi-page TIFF, video) kept at once; reopening costs an IFD walk or a seek.
_MAX_OPEN_HANDLES = 4


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
