"""Atomic file writes: a temp file in the same folder, fsync, then os.replace.

A crash in the middle of a save leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from models.diskspace import explain_disk_full


def _default_mode() -> int:
    """What a plain open() would give (0o666 minus the umask); mkstemp's 0o600 would hide files from others."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _default_mode()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> None:
    """With ``overwrite=False`` the file is only ever created, never replaced: FileExistsError when the name is
    taken (a registered model, another process's file)."""
    path = Path(path)
    with explain_disk_full(path, len(data)):
        _write_new(path, data, overwrite)


def _write_new(path: Path, data: bytes, overwrite: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _create_from(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _create_from(tmp: str, path: Path) -> None:
    """Give the finished temp file the name ``path`` only if nothing has it yet."""
    try:
        os.link(tmp, path)  # fails, atomically, when the name is taken
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename (a narrow race, no clobber)
        if path.exists():
            raise FileExistsError(errno.EEXIST, "file exists", str(path)) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def describe_os_error(exc: OSError) -> str:
    """ "PATH: reason" rather than Python's "[Errno 21] Is a directory: 'PATH'"."""
    if exc.filename is None:
        return exc.strerror or str(exc)
    target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{exc.filename}{target}: {exc.strerror or exc}"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a grey uint8/uint16 image (lossless; masks keep their exact class ids)."""
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG needs uint8 or uint16, got {image.dtype}")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def atomic_write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    atomic_write_bytes(path, encode_png(image))
