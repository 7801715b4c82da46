"""Frame readers for time-lapse sequences: image folders, multi-page TIFF, video files.

Every reader returns 2-D grey frames (uint8 or uint16) through one lazy interface, `FrameSequence`:
opening a 1,000-frame folder only lists it and checks each file's first and last bytes (cheap problems:
empty files, non-images, truncated PNG/JPEG/BMP are reported at once); pixels are decoded on demand and
kept in a bounded LRU cache, so scrubbing through a long time-lapse never holds more than the cache.

Bad files never stop a sequence from loading: they become `FrameProblem`s (file name + human reason);
a decode failure at read time raises `FrameReadError` and is recorded in `problems` too.

Qt-free and torch-free on purpose: the GUI, the batch grader and the importers all use it.

One module per concern; import the public names from here:

- `errors`: FrameReadError, NoFramesError, FramePathNotFoundError, FrameInfo, FrameProblem, CacheInfo
- `names`: natural_key, parse_frame_name, group_by_well_and_focal (EmbryoScope and generic file names)
- `pixels`: conversion to the stored grey uint8/uint16 and `to_uint8` for display and inference
- `formats`: file suffixes, `sniff_format` and the first/last-bytes checks for empty or truncated files
- `sequence`: FrameSequence with its LRU cache, shared handles and per-format decoders
- `listing`: `open_frames` (folder, file or list of paths -> FrameSequence)

Internals (cache limits, decoders) are looked up in the submodule that defines them: patch them there.
"""

from __future__ import annotations

from .errors import (
    CacheInfo,
    FrameInfo,
    FramePathNotFoundError,
    FrameProblem,
    FrameReadError,
    NoFramesError,
    naming,
)
from .formats import FRAME_SUFFIXES, IMAGE_SUFFIXES, TIFF_SUFFIXES, VIDEO_SUFFIXES, sniff_format
from .listing import open_frames
from .names import group_by_well_and_focal, natural_key, parse_frame_name
from .pixels import MIN_FRAME_SIDE, to_uint8
from .sequence import DEFAULT_CACHE_FRAMES, FrameSequence

__all__ = [
    "DEFAULT_CACHE_FRAMES",
    "FRAME_SUFFIXES",
    "IMAGE_SUFFIXES",
    "MIN_FRAME_SIDE",
    "TIFF_SUFFIXES",
    "VIDEO_SUFFIXES",
    "CacheInfo",
    "FrameInfo",
    "FramePathNotFoundError",
    "FrameProblem",
    "FrameReadError",
    "FrameSequence",
    "NoFramesError",
    "group_by_well_and_focal",
    "naming",
    "natural_key",
    "open_frames",
    "parse_frame_name",
    "sniff_format",
    "to_uint8",
]
