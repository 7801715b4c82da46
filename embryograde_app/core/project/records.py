"""What the project store hands out and takes in: its records, its error, and who it records as acting.

Plain values and helpers, no database access; ProjectStore (store.py) reads and writes them.
"""

from __future__ import annotations

import getpass
import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from embryograde_app.core.project.schema import DB_NAME
from models.diskspace import DiskFullError, free_bytes, is_disk_full


class ProjectError(ValueError):
    """A project folder that cannot be opened or an operation it refuses (message says why)."""


def describe_database_error(exc: sqlite3.Error, root: str | Path | None = None) -> str:
    """One line a person can act on for an SQLite failure met after the project opened."""
    where = f"{root}: " if root is not None else ""
    text = str(exc)
    if _disk_full(exc, Path(root)) if root is not None else is_disk_full(exc):
        return str(DiskFullError(root if root is not None else "."))
    if "locked" in text or "busy" in text:
        return f"{where}the project is in use by another program ({text}); close it there and try again"
    if type(exc) is sqlite3.DatabaseError or any(w in text for w in ("malformed", "not a database", "disk image")):
        return f"{where}the project database is damaged ({text}); restore {DB_NAME} from a backup"
    return f"{where}project database error ({text})"


def _disk_full(exc: BaseException, root: Path) -> bool:
    """SQLite says "disk I/O error" when it cannot create its WAL files on a full disk: ask the disk."""
    if is_disk_full(exc):
        return True
    free = free_bytes(root)
    return "disk I/O error" in str(exc) and free is not None and free < 1_000_000


_PERSON: str | None = None  # the name the person gave in Preferences (the window sets it)


def set_person(name: str | None) -> None:
    """Who reviews, labels and corrects in this process: recorded instead of the login name (often "root" or
    a shared lab account on a workstation)."""
    global _PERSON
    _PERSON = (name or "").strip() or None


def current_user() -> str:
    return _PERSON or login_name()


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FrameRecord:
    id: int
    embryo_id: int
    embryo_key: str
    focal_plane: int
    frame_number: int
    time_h: float | None
    image_path: Path
    width: int
    height: int
    source: str


@dataclass(frozen=True)
class MaskRevision:
    id: int
    frame_id: int
    parent_id: int | None
    author_kind: str
    author: str
    created_at: float
    path: Path
    frag_pct: float


@dataclass(frozen=True)
class PersonLabel:
    """A person's label of one frame: an exact % with its mask, or a range without one."""

    lo: float
    hi: float
    mask_path: Path | None = None


@dataclass(frozen=True)
class Timing:
    """When an embryo's frames were taken: hours post-insemination of its first frame, minutes between frames."""

    first_frame_h: float
    interval_min: float

    def hours(self, frame_number: int, first_number: int) -> float:
        return self.first_frame_h + (frame_number - first_number) * self.interval_min / 60.0


LabelValue = tuple[float, float, str]  # a range label as (lo, hi, author)


def _label_value(row: sqlite3.Row | None) -> LabelValue | None:
    return None if row is None else (float(row["lo"]), float(row["hi"]), str(row["author"]))


class Row(dict):
    """A row of ``ProjectStore.fetch_all``: by column name, like sqlite3.Row, and by position."""

    def __getitem__(self, key):
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)


def _decode(typed: list) -> list:
    """[type, value, type, value, ...] of one row (see fetch_all) -> its values, exact."""
    values = []
    for kind, value in zip(typed[::2], typed[1::2], strict=True):
        if kind == "real":
            values.append(float(value))
        elif kind == "blob":
            values.append(bytes.fromhex(value))
        else:
            values.append(value)
    return values
