"""What a frame's file name says: natural ordering, EmbryoScope/generic name parsing, well/focal grouping.

Pure string work (no file access), so listing, subsets and importers share one reading of a name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .formats import FRAME_SUFFIXES

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
