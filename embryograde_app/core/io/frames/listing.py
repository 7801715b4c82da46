"""Opening a source: `open_frames` lists a folder, a file or a list of paths into a `FrameSequence`.

Listing decodes nothing: `_Collector` checks each file by its first/last bytes (`formats`), counts TIFF
pages from the IFD chain and video frames from the container, and turns names into `FrameInfo`s; bad files
become `FrameProblem`s and the rest loads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2

from .errors import FrameInfo, FramePathNotFoundError, FrameProblem, NoFramesError
from .formats import FRAME_SUFFIXES, VIDEO_SUFFIXES, _check_image_file
from .names import natural_key, parse_frame_name
from .sequence import DEFAULT_CACHE_FRAMES, FrameSequence, _open_tiff

log = logging.getLogger(__name__)


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
