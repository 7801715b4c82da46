"""File suffixes and cheap file checks: which format a file's first bytes announce, and whether it is whole.

Opening a folder runs `_check_image_file` on every file (its first and last bytes only), so empty files,
non-images and truncated PNG/JPEG/BMP are reported at once, before anything is decoded; the readers
re-check truncation at decode time with the same helpers.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv"})
FRAME_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES

# How far from the end of a file the end marker (PNG IEND, JPEG EOI) may sit: writers sometimes pad.
_END_MARKER_WINDOW = 1024

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
