"""A full disk, said as a person can act on it: which path, how much space is free, how much was needed.

Writers of every layer (weights, feature caches, the project store, exports) wrap their writes in
`explain_disk_full(path, needed)`: ENOSPC/EDQUOT, and the libraries' own wording of it (safetensors'
"No space left on device", SQLite's "database or disk is full"), become one `DiskFullError` whose message is
"PATH: the disk is full (1.2 MB free, about 27.8 MB needed)". Deliberately free of the app and of Qt.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FULL_WORDS = ("No space left on device", "database or disk is full", "Disk quota exceeded")


def free_bytes(path: str | Path) -> int | None:
    """Free space on the disk that holds path (its nearest existing folder); None if it cannot be asked."""
    p = Path(path)
    for candidate in (p, *p.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def tensor_bytes(tensors: dict) -> int:
    """Bytes a dict of tensors takes on disk (what a safetensors write needs, headers aside)."""
    return sum(t.numel() * t.element_size() for t in tensors.values())


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, DiskFullError):
        return True
    if getattr(exc, "errno", None) in _FULL_ERRNOS:
        return True
    return any(words in str(exc) for words in _FULL_WORDS)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class DiskFullError(OSError):
    """ENOSPC with the path, the free space and (when known) the space the write needed."""

    def __init__(self, path: str | Path, needed: int | None = None):
        free = free_bytes(path)
        parts = [f"{_mb(free)} free" if free is not None else None, f"about {_mb(needed)} needed" if needed else None]
        detail = ", ".join(p for p in parts if p)
        reason = "the disk is full" + (f" ({detail})" if detail else "")
        super().__init__(errno.ENOSPC, reason, str(path))
        self.path, self.needed, self.free = Path(path), needed, free

    def __str__(self) -> str:
        return f"{self.path}: {self.strerror}"


@contextmanager
def explain_disk_full(path: str | Path, needed: int | None = None) -> Iterator[None]:
    """Re-raise a full-disk failure of the block as DiskFullError(path, needed); anything else passes."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise DiskFullError(path, needed) from exc
        raise
