"""Errors and plain records of the frame readers.

What a reader hands back besides pixels: `FrameInfo` (where a frame comes from), `FrameProblem` (a file
that was skipped, and why), `CacheInfo`, and the errors `FrameReadError` / `NoFramesError`.  They live
apart from the readers so importers, the store and the GUI can name them without pulling in the decoders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


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
