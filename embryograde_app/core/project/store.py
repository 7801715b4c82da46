"""The project store: the clinic's record of embryos, frames, masks, labels, predictions and models.

A project is a folder:

    PROJECT/project.sqlite        SQLite (WAL, foreign keys on, schema version + migrations)
    PROJECT/frames/ab/<sha>.png   frame images, content-addressed (original bytes of image files)
    PROJECT/masks/ab/<sha>.png    mask revisions, content-addressed PNG (class ids 0/1/2)
    PROJECT/models/<version>.safetensors (+ .json)

Masks are PNG files rather than BLOBs: they stay inspectable and exportable with any image tool, the
database stays small (cheap WAL checkpoints and backups), and because a file is named by its content hash
and written atomically *before* the transaction that refers to it, a crash leaves at most an unreferenced
file — never a row pointing at a half-written mask. Re-running the same work writes the same name.

Every change goes through one transaction that also appends to the audit log.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embryograde_app.core.domain.schemes import frag_pct
from embryograde_app.core.io.atomic import atomic_write_bytes, encode_png
from models.diskspace import DiskFullError, free_bytes, is_disk_full

DB_NAME = "project.sqlite"
NO_PERMISSION = "read-only (no write permission)"
OPEN_BUSY_SECONDS = 30.0  # how long opening waits out another process's brief exclusive hold of the file


class ProjectError(ValueError):
    """A project folder that cannot be opened or an operation it refuses (message says why)."""


_SCHEMA_V1 = """
CREATE TABLE embryos (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,            -- stable identity: e.g. 'S0717/well7' or a layout embryo_id
    name TEXT NOT NULL,
    slide TEXT,
    well INTEGER,
    created_at REAL NOT NULL
);
CREATE TABLE frames (
    id INTEGER PRIMARY KEY,
    embryo_id INTEGER NOT NULL REFERENCES embryos(id) ON DELETE CASCADE,
    focal_plane INTEGER NOT NULL DEFAULT 0,
    frame_number INTEGER NOT NULL,
    time_h REAL,
    image_path TEXT NOT NULL,            -- relative to the project folder
    image_sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    source TEXT NOT NULL,                -- where it was imported from (path[#page])
    imported_at REAL NOT NULL,
    UNIQUE (embryo_id, focal_plane, frame_number)
);
CREATE INDEX frames_by_sha ON frames(image_sha256);
CREATE TABLE mask_revisions (
    id INTEGER PRIMARY KEY,
    frame_id INTEGER NOT NULL REFERENCES frames(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES mask_revisions(id),
    author_kind TEXT NOT NULL CHECK (author_kind IN ('model', 'human', 'import')),
    author TEXT NOT NULL,                -- a model version or a person
    created_at REAL NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    frag_pct REAL NOT NULL
);
CREATE INDEX masks_by_frame ON mask_revisions(frame_id, id);
CREATE TABLE range_labels (
    id INTEGER PRIMARY KEY,
    frame_id INTEGER NOT NULL REFERENCES frames(id) ON DELETE CASCADE,
    lo REAL NOT NULL CHECK (lo >= 0 AND lo <= hi AND hi <= 100),
    hi REAL NOT NULL,
    author TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX labels_by_frame ON range_labels(frame_id, id);
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    version TEXT NOT NULL UNIQUE,
    parent_version TEXT,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',  -- JSON
    data_summary TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    active INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX one_active_model ON models(active) WHERE active = 1;
CREATE TABLE predictions (
    id INTEGER PRIMARY KEY,
    frame_id INTEGER NOT NULL REFERENCES frames(id) ON DELETE CASCADE,
    model_version TEXT NOT NULL,
    regression_pct REAL NOT NULL,
    area_pct REAL NOT NULL,
    grade TEXT NOT NULL,
    scheme TEXT NOT NULL,
    mask_revision_id INTEGER REFERENCES mask_revisions(id),
    created_at REAL NOT NULL,
    UNIQUE (frame_id, model_version)
);
CREATE TABLE reviews (
    frame_id INTEGER PRIMARY KEY REFERENCES frames(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('unreviewed', 'reviewed')),
    reviewer TEXT,
    reviewed_at REAL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id INTEGER,
    details TEXT NOT NULL DEFAULT '{}'
);
"""

# Version 2: when an embryo's frames were taken, where the frames themselves do not say (EmbryoScope names
# carry a run index, not a time): hours post-insemination of its first frame and the interval between frames.
_SCHEMA_V2 = """
CREATE TABLE embryo_timing (
    embryo_id INTEGER PRIMARY KEY REFERENCES embryos(id) ON DELETE CASCADE,
    first_frame_h REAL NOT NULL,
    interval_min REAL NOT NULL,
    set_by TEXT NOT NULL,
    set_at REAL NOT NULL
);
"""

# Migration i upgrades schema version i to i + 1. Version 0 is an empty database.
MIGRATIONS: list[str] = [_SCHEMA_V1, _SCHEMA_V2]


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


_CHECKED: dict[Path, tuple[int, int, int]] = {}  # database -> (size, mtime, WAL size) when its pages checked ok


def _wal_size(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _disk_full(exc: BaseException, root: Path) -> bool:
    """SQLite says "disk I/O error" when it cannot create its WAL files on a full disk: ask the disk."""
    if is_disk_full(exc):
        return True
    free = free_bytes(root)
    return "disk I/O error" in str(exc) and free is not None and free < 1_000_000


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


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _writable(root: Path, db: Path) -> bool:
    """Whether this process may write the project (its folder, and its database if there is one)."""
    if not root.exists():
        return True  # a new project: creating it will say if the parent cannot be written
    return os.access(root, os.W_OK) and (not db.exists() or os.access(db, os.W_OK))


class ProjectStore:
    """One open project. Not thread-safe: each thread opens its own ProjectStore on the same folder."""

    def __init__(self, root: str | Path, create: bool = False, read_only: bool | None = None):
        """read_only: None opens read-only exactly when the project cannot be written (an archived copy, a
        folder without write permission): reports and model lists still work, writes say why they cannot."""
        self.root = Path(root)
        self.predictions_written = 0  # by add_prediction through this connection (what `grade` reports)
        db = self.root / DB_NAME
        if not db.exists() and not create:
            raise ProjectError(f"{self.root}: not an EmbryoGrade project (no {DB_NAME})")
        self.read_only = (not _writable(self.root, db)) if read_only is None else read_only
        self.read_only_reason = NO_PERMISSION if self.read_only else ""
        if self.read_only and db.exists():
            self._open_read_only(db)
            return
        if not db.exists() and self.root.is_dir() and any(not p.name.startswith(".") for p in self.root.iterdir()):
            # e.g. `import DATASET PROJECT` with the two swapped: never scatter a project through other files
            raise ProjectError(f"{self.root}: not empty and not a project; a new project needs an empty folder")
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._open_writable(db)
        except sqlite3.DatabaseError as exc:
            if db.exists() and _disk_full(exc, self.root):  # reports and model lists still work; writes say why not
                self.conn.close()
                self.read_only, self.read_only_reason = True, DiskFullError(self.root).strerror
                self._open_read_only(db)
                return
            raise ProjectError(f"{db}: cannot open the project database ({exc})") from exc

    def _open_writable(self, db: Path) -> None:
        """Open, check and migrate, again while another process holds the file busy in a way SQLite's busy
        timeout does not wait for (the last connection's WAL clean-up on close, a crashed writer's recovery)."""
        deadline = time.monotonic() + OPEN_BUSY_SECONDS
        while True:
            self.conn = sqlite3.connect(db, timeout=30, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            try:
                if self.schema_version == 0 and (held := self._project_data_folders()):  # before anything is written
                    raise ProjectError(
                        f"{db}: the project database is empty, but the folder holds project data "
                        f"({', '.join(held)}); restore {DB_NAME} from a backup instead of starting the project over"
                    )
                self._check_pages(db)
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA foreign_keys=ON")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
                return
            except sqlite3.OperationalError as exc:
                self.conn.close()
                if not _busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            except ProjectError:
                self.conn.close()
                raise

    def _check_pages(self, db: Path) -> None:
        """Every command checks the database's pages before it trusts them (a damaged page let `grade` report
        "graded 0" while `export` found the damage); once per process for an unchanged file (~10 ms per MB)."""
        if not db.exists() or db.stat().st_size == 0:
            return
        info, key = db.stat(), db.resolve()
        stamp = (info.st_size, info.st_mtime_ns, _wal_size(db))
        if _CHECKED.get(key) == stamp:
            return
        problem = str(self.conn.execute("PRAGMA quick_check(1)").fetchone()[0])
        if problem != "ok":
            self.conn.close()
            raise ProjectError(f"{db}: the project database is damaged ({problem}); restore {DB_NAME} from a backup")
        _CHECKED[key] = stamp

    def _open_read_only(self, db: Path) -> None:
        """SQLite's read-only mode; immutable where SQLite could not use the WAL's shared-memory file: a folder
        nobody may write (so nobody is writing the project) or a full disk (where even an empty -shm cannot grow)."""
        no_permission = self.read_only_reason == NO_PERMISSION
        shm_usable = no_permission and ((db.parent / f"{DB_NAME}-shm").exists() or os.access(db.parent, os.W_OK))
        uri = f"{db.resolve().as_uri()}?mode=ro" + ("" if shm_usable else "&immutable=1")
        try:
            self.conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            version = self.schema_version
            self._check_pages(db)
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{db}: cannot open the project database read-only ({exc})") from exc
        if version != len(MIGRATIONS):
            self.conn.close()
            raise ProjectError(
                f"{self.root}: a read-only project of schema {version} (this program reads {len(MIGRATIONS)}); "
                "open it once with write permission to upgrade it"
            )

    def _project_data_folders(self) -> list[str]:
        """The folders of stored frames, masks and models that already hold files (a database lost or emptied)."""
        return [
            f"{name}/"
            for name in ("frames", "masks", "models")
            if (self.root / name).is_dir() and any(p.is_file() for p in (self.root / name).rglob("*"))
        ]

    @classmethod
    def create(cls, root: str | Path) -> ProjectStore:
        return cls(root, create=True)

    @staticmethod
    def is_project(path: str | Path) -> bool:
        return (Path(path) / DB_NAME).is_file()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------ schema
    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise ProjectError(
                f"{self.root}: project schema version {version} is newer than this program ({len(MIGRATIONS)})"
            )
        for target in range(version, len(MIGRATIONS)):
            with self.transaction():
                if self.schema_version > target:  # another process migrated it while this one waited
                    continue
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={target + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; anything raised rolls the whole change back."""
        if self.read_only:
            raise ProjectError(f"{self.root}: cannot write the project: {self.read_only_reason}; nothing was changed")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def audit(self, action: str, entity: str, entity_id: int | None, actor: str | None = None, **details) -> None:
        """Append to the audit log; call inside the transaction that makes the change."""
        self.conn.execute(
            "INSERT INTO audit(at, actor, action, entity, entity_id, details) VALUES (?,?,?,?,?,?)",
            (time.time(), actor or current_user(), action, entity, entity_id, json.dumps(details, default=str)),
        )

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    # ------------------------------------------------------------------------------------ files
    def _store_file(self, folder: str, data: bytes, suffix: str) -> tuple[str, str]:
        """Write content-addressed bytes (atomically, once); returns (relative path, sha256)."""
        digest = sha256_bytes(data)
        rel = f"{folder}/{digest[:2]}/{digest}{suffix}"
        path = self.root / rel
        if not path.exists():
            atomic_write_bytes(path, data)
        return rel, digest

    def path_of(self, rel: str) -> Path:
        return self.root / rel

    # ------------------------------------------------------------------------------------ embryos
    def ensure_embryo(
        self, key: str, name: str | None = None, slide: str | None = None, well: int | None = None
    ) -> int:
        row = self.conn.execute("SELECT id FROM embryos WHERE key=?", (key,)).fetchone()
        if row:
            return int(row[0])
        with self.transaction():  # checked again under the write lock: another process may have just added it
            row = self.conn.execute("SELECT id FROM embryos WHERE key=?", (key,)).fetchone()
            if row:
                return int(row[0])
            cur = self.conn.execute(
                "INSERT INTO embryos(key, name, slide, well, created_at) VALUES (?,?,?,?,?)",
                (key, name or key, slide, well, time.time()),
            )
            self.audit("create", "embryo", cur.lastrowid, key=key)
        return int(cur.lastrowid)

    def embryos(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM embryos ORDER BY key").fetchall()

    def set_timing(self, embryo_ids: list[int], timing: Timing | None, author: str | None = None) -> None:
        """Set (or, with None, clear) the timing of these embryos in one transaction, audit-logged."""
        if timing is not None and not (-1000 <= timing.first_frame_h <= 1000 and 0 < timing.interval_min <= 24 * 60):
            raise ProjectError(
                f"timing {timing.first_frame_h:g} h, every {timing.interval_min:g} min: the interval must be "
                "above 0 and at most a day"
            )
        author = author or current_user()
        with self.transaction():
            for embryo_id in embryo_ids:
                if timing is None:
                    self.conn.execute("DELETE FROM embryo_timing WHERE embryo_id=?", (embryo_id,))
                    self.audit("untime", "embryo", embryo_id, actor=author)
                    continue
                self.conn.execute(
                    "INSERT INTO embryo_timing(embryo_id, first_frame_h, interval_min, set_by, set_at) "
                    "VALUES (?,?,?,?,?) ON CONFLICT(embryo_id) DO UPDATE SET first_frame_h=excluded.first_frame_h, "
                    "interval_min=excluded.interval_min, set_by=excluded.set_by, set_at=excluded.set_at",
                    (embryo_id, timing.first_frame_h, timing.interval_min, author, time.time()),
                )
                self.audit("time", "embryo", embryo_id, actor=author, first_frame_h=timing.first_frame_h,
                           interval_min=timing.interval_min)

    def timings(self) -> dict[int, Timing]:
        """embryo id -> its timing, for the embryos that have one."""
        rows = self.conn.execute("SELECT embryo_id, first_frame_h, interval_min FROM embryo_timing")
        return {int(e): Timing(float(h), float(m)) for e, h, m in rows}

    # ------------------------------------------------------------------------------------ frames
    def find_frame(self, embryo_id: int, focal_plane: int, frame_number: int) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM frames WHERE embryo_id=? AND focal_plane=? AND frame_number=?",
            (embryo_id, focal_plane, frame_number),
        ).fetchone()
        return int(row[0]) if row else None

    def add_frame(
        self,
        embryo_id: int,
        frame_number: int,
        image_bytes: bytes,
        suffix: str,
        shape: tuple[int, int],
        source: str,
        focal_plane: int = 0,
        time_h: float | None = None,
    ) -> tuple[int, bool]:
        """Add a frame (idempotent): returns (frame id, whether it was new).

        The same (embryo, focal plane, frame number) imported again adds nothing; a different image under
        the same number is refused, since silently replacing a graded frame would rewrite the record.
        """
        digest = sha256_bytes(image_bytes)
        found = self._existing_frame(embryo_id, focal_plane, frame_number, digest, source)
        if found is not None:
            return found, False
        rel, digest = self._store_file("frames", image_bytes, suffix)
        with self.transaction():  # checked again under the write lock: another import may have just added it
            found = self._existing_frame(embryo_id, focal_plane, frame_number, digest, source)
            if found is not None:
                return found, False
            cur = self.conn.execute(
                "INSERT INTO frames(embryo_id, focal_plane, frame_number, time_h, image_path, image_sha256, width,"
                " height, source, imported_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (embryo_id, focal_plane, frame_number, time_h, rel, digest, shape[1], shape[0], source, time.time()),
            )
            self.audit("import", "frame", cur.lastrowid, source=source)
        return int(cur.lastrowid), True

    def _existing_frame(self, embryo_id: int, focal_plane: int, frame_number: int, digest: str, source: str):
        """The id of this frame if it is in the project already; a different image under its number is refused."""
        existing = self.conn.execute(
            "SELECT id, image_sha256 FROM frames WHERE embryo_id=? AND focal_plane=? AND frame_number=?",
            (embryo_id, focal_plane, frame_number),
        ).fetchone()
        if existing is None:
            return None
        if existing["image_sha256"] != digest:
            raise ProjectError(
                f"{source}: frame {frame_number} (focal plane {focal_plane}) is already in the project "
                "with different pixels; not replaced"
            )
        return int(existing["id"])

    def next_frame_number(self, embryo_id: int, focal_plane: int = 0) -> int:
        """One past the embryo's last frame number on a focal plane (0 for none): for a frame whose name has none."""
        row = self.conn.execute(
            "SELECT MAX(frame_number) FROM frames WHERE embryo_id=? AND focal_plane=?", (embryo_id, focal_plane)
        ).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def _frame_record(self, row: Row | sqlite3.Row) -> FrameRecord:
        return FrameRecord(
            id=row["id"],
            embryo_id=row["embryo_id"],
            embryo_key=row["key"],
            focal_plane=row["focal_plane"],
            frame_number=row["frame_number"],
            time_h=row["time_h"],
            image_path=self.root / row["image_path"],
            width=row["width"],
            height=row["height"],
            source=row["source"],
        )

    _FRAME_SELECT = "SELECT f.*, e.key FROM frames f JOIN embryos e ON e.id = f.embryo_id"

    def frames(self, embryo_id: int | None = None, focal_plane: int | None = None) -> list[FrameRecord]:
        sql, args = self._FRAME_SELECT, []
        clauses = []
        if embryo_id is not None:
            clauses.append("f.embryo_id=?")
            args.append(embryo_id)
        if focal_plane is not None:
            clauses.append("f.focal_plane=?")
            args.append(focal_plane)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        records = [self._frame_record(r) for r in self.fetch_all(sql, args)]
        return sorted(records, key=lambda f: (f.embryo_key, f.focal_plane, f.frame_number))

    def set_frame_time(self, frame_id: int, time_h: float | None) -> None:
        with self.transaction():
            self.conn.execute("UPDATE frames SET time_h=? WHERE id=?", (time_h, frame_id))

    def frame(self, frame_id: int) -> FrameRecord:
        row = self.conn.execute(self._FRAME_SELECT + " WHERE f.id=?", (frame_id,)).fetchone()
        if row is None:
            raise ProjectError(f"no frame with id {frame_id}")
        return self._frame_record(row)

    def read_frame(self, frame_id: int) -> np.ndarray:
        """Grey uint8 pixels of a stored frame (named error when the file was damaged)."""
        from embryograde_app.core.io.frames import FrameReadError, open_frames

        record = self.frame(frame_id)
        try:
            return open_frames([record.image_path], cache_frames=1).read_uint8(0)
        except (FrameReadError, ValueError) as exc:
            where = f"{record.image_path.name} (frame {record.frame_number} of {record.embryo_key})"
            raise ProjectError(f"{where}: {exc}") from exc

    # ------------------------------------------------------------------------------------ masks
    def add_mask_revision(
        self, frame_id: int, mask: np.ndarray, author_kind: str, author: str, parent_id: int | None = None
    ) -> int:
        """A new mask revision; identical to the latest one by the same kind of author -> that one's id."""
        if mask.dtype != np.uint8 or mask.ndim != 2 or int(mask.max(initial=0)) > 2:
            raise ProjectError("a mask is a 2-D uint8 array of class ids 0, 1, 2")
        record = self.frame(frame_id)
        if mask.shape != (record.height, record.width):
            raise ProjectError(f"mask {mask.shape} does not match frame {(record.height, record.width)}")
        png = encode_png(mask)
        same = self.conn.execute(
            "SELECT id, sha256 FROM mask_revisions WHERE frame_id=? AND author_kind=? ORDER BY id DESC LIMIT 1",
            (frame_id, author_kind),
        ).fetchone()
        if same is not None and same["sha256"] == sha256_bytes(png):
            return int(same["id"])  # nothing changed: re-imports and repeated saves add no revision
        with self.transaction():
            rev = self._insert_mask_revision(frame_id, parent_id, author_kind, author, png, frag_pct(mask), time.time())
            self.audit("mask", "frame", frame_id, revision=rev, author_kind=author_kind, author=author)
        return rev

    def _insert_mask_revision(
        self, frame_id: int, parent_id: int | None, author_kind: str, author: str, png: bytes, pct: float, at: float
    ) -> int:
        """The mask file (content-addressed, written first) and its row; call inside a transaction."""
        rel, digest = self._store_file("masks", png, ".png")
        cur = self.conn.execute(
            "INSERT INTO mask_revisions(frame_id, parent_id, author_kind, author, created_at, path, sha256,"
            " frag_pct) VALUES (?,?,?,?,?,?,?,?)",
            (frame_id, parent_id, author_kind, author, at, rel, digest, pct),
        )
        return int(cur.lastrowid)

    def mask_revisions(self, frame_id: int) -> list[MaskRevision]:
        rows = self.conn.execute("SELECT * FROM mask_revisions WHERE frame_id=? ORDER BY id", (frame_id,))
        return [
            MaskRevision(
                r["id"],
                r["frame_id"],
                r["parent_id"],
                r["author_kind"],
                r["author"],
                r["created_at"],
                self.root / r["path"],
                r["frag_pct"],
            )
            for r in rows
        ]

    def latest_mask(self, frame_id: int, kinds: tuple[str, ...] = ("human", "import", "model")) -> MaskRevision | None:
        revisions = [r for r in self.mask_revisions(frame_id) if r.author_kind in kinds]
        return revisions[-1] if revisions else None

    def read_mask(self, revision: MaskRevision) -> np.ndarray:
        from embryograde_app.core.io.layout import LayoutError, read_mask

        try:
            return read_mask(revision.path)
        except LayoutError as exc:
            raise ProjectError(str(exc)) from exc

    # ------------------------------------------------------------------------------------ labels
    def set_range_label(self, frame_id: int, lo: float, hi: float, author: str | None = None) -> int:
        return self.set_range_labels([frame_id], lo, hi, author)[0]

    def set_range_labels(self, frame_ids: list[int], lo: float, hi: float, author: str | None = None) -> list[int]:
        """One range label on each frame (a span of a time-lapse) in one transaction; unchanged ones are kept."""
        if not 0 <= lo <= hi <= 100:
            raise ProjectError(f"range [{lo}, {hi}] is not within 0 <= lo <= hi <= 100")
        author = author or current_user()
        ids: list[int] = []
        now = time.time()
        with self.transaction():
            for frame_id in frame_ids:
                latest = self.range_label(frame_id)
                if latest is not None and (latest["lo"], latest["hi"]) == (lo, hi):
                    ids.append(int(latest["id"]))
                    continue
                ids.append(self._insert_range_label(frame_id, lo, hi, author, now, author))
        return ids

    def _insert_range_label(
        self, frame_id: int, lo: float, hi: float, labeller: str, now: float, actor: str, **details
    ) -> int:
        """Inside a transaction: a new latest range label for the frame, audit-logged."""
        cur = self.conn.execute(
            "INSERT INTO range_labels(frame_id, lo, hi, author, created_at) VALUES (?,?,?,?,?)",
            (frame_id, lo, hi, labeller, now),
        )
        self.audit("label", "frame", frame_id, lo=lo, hi=hi, actor=actor, **details)
        return int(cur.lastrowid)

    def _delete_range_labels(self, frame_id: int, lo: float, hi: float, actor: str) -> None:
        """Inside a transaction: the frame's range labels removed, audit-logged with the one that was in force."""
        self.conn.execute("DELETE FROM range_labels WHERE frame_id=?", (frame_id,))
        self.audit("unlabel", "frame", frame_id, lo=lo, hi=hi, actor=actor)

    def remove_range_labels(self, frame_ids: list[int], author: str | None = None) -> int:
        """Remove the range labels of these frames (a label set by mistake, or on the wrong span) in one
        transaction, each removal in the audit log with what it removed; returns how many frames had one."""
        author = author or current_user()
        removed = 0
        with self.transaction():
            for frame_id in frame_ids:
                latest = self.range_label(frame_id)
                if latest is None:
                    continue
                self._delete_range_labels(frame_id, latest["lo"], latest["hi"], author)
                removed += 1
        return removed

    def range_label_snapshot(self, frame_ids: list[int]) -> dict[int, LabelValue | None]:
        """Each frame's range label as (lo, hi, author), None where it has none: what undo puts back."""
        return {fid: _label_value(self.range_label(fid)) for fid in frame_ids}

    def restore_range_labels(self, snapshot: dict[int, LabelValue | None], author: str | None = None) -> None:
        """Put frames' range labels back as a snapshot had them (undo and redo of a label change), in one
        transaction; each change is audit-logged as a label or an unlabel by ``author``, the one who undid it."""
        author = author or current_user()
        now = time.time()
        with self.transaction():
            for frame_id, value in snapshot.items():
                current = _label_value(self.range_label(frame_id))
                if current == value:
                    continue
                if value is None:
                    self._delete_range_labels(frame_id, current[0], current[1], author)
                    continue
                lo, hi, labeller = value
                self._insert_range_label(frame_id, lo, hi, labeller, now, author, restored_from=labeller)

    def person_labels(self) -> dict[int, PersonLabel]:
        """What a person said of each frame they labelled, by the one rule that training, the report and the
        time course share: the latest human or imported mask gives the exact % (lo == hi) and its pixels, else the
        latest range label gives an interval. Two queries for the whole project."""
        latest_mask = (
            "SELECT frame_id, frag_pct, path FROM mask_revisions WHERE id IN (SELECT MAX(id) FROM mask_revisions "
            "WHERE author_kind IN ('human', 'import') GROUP BY frame_id)"
        )
        latest_range = (
            "SELECT frame_id, lo, hi FROM range_labels WHERE id IN (SELECT MAX(id) FROM range_labels GROUP BY frame_id)"
        )
        labels = {int(r[0]): PersonLabel(float(r[1]), float(r[2])) for r in self.fetch_all(latest_range)}
        for fid, pct, path in (r.values() for r in self.fetch_all(latest_mask)):
            labels[int(fid)] = PersonLabel(float(pct), float(pct), self.root / path)
        return labels

    def range_label(self, frame_id: int) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM range_labels WHERE frame_id=? ORDER BY id DESC LIMIT 1", (frame_id,)
        ).fetchone()

    # ------------------------------------------------------------------------------------ predictions
    def add_prediction(
        self,
        frame_id: int,
        model_version: str,
        regression_pct: float,
        mask: np.ndarray,
        grade: str,
        scheme: str,
    ) -> int:
        """Record a model's grading of a frame with its mask as a model-authored revision (idempotent: an
        existing prediction's id comes back and ``self.predictions_written`` does not grow)."""
        existing = self.prediction(frame_id, model_version)
        if existing is not None:
            return int(existing["id"])
        area = frag_pct(mask)
        now = time.time()
        with self.transaction():  # checked again under the write lock: another `grade` may have just written it
            existing = self.prediction(frame_id, model_version)
            if existing is not None:
                return int(existing["id"])
            rev = self._insert_mask_revision(frame_id, None, "model", model_version, encode_png(mask), area, now)
            cur = self.conn.execute(
                "INSERT INTO predictions(frame_id, model_version, regression_pct, area_pct, grade, scheme,"
                " mask_revision_id, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (frame_id, model_version, regression_pct, area, grade, scheme, rev, now),
            )
            self.audit("predict", "frame", frame_id, model_version=model_version, actor=f"model:{model_version}")
        self.predictions_written += 1
        return int(cur.lastrowid)

    def prediction(self, frame_id: int, model_version: str | None = None) -> sqlite3.Row | None:
        if model_version is None:
            return self.conn.execute(
                "SELECT * FROM predictions WHERE frame_id=? ORDER BY id DESC LIMIT 1", (frame_id,)
            ).fetchone()
        return self.conn.execute(
            "SELECT * FROM predictions WHERE frame_id=? AND model_version=?", (frame_id, model_version)
        ).fetchone()

    # ------------------------------------------------------------------------------------ reviews
    def set_review(self, frame_id: int, reviewed: bool, reviewer: str | None = None) -> None:
        reviewer = reviewer or current_user()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO reviews(frame_id, status, reviewer, reviewed_at) VALUES (?,?,?,?) "
                "ON CONFLICT(frame_id) DO UPDATE SET status=excluded.status, reviewer=excluded.reviewer, "
                "reviewed_at=excluded.reviewed_at",
                (frame_id, "reviewed" if reviewed else "unreviewed", reviewer, time.time()),
            )
            self.audit("review", "frame", frame_id, reviewed=reviewed, actor=reviewer)

    def review(self, frame_id: int) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM reviews WHERE frame_id=?", (frame_id,)).fetchone()

    def reviews(self, frame_ids: list[int]) -> dict[int, sqlite3.Row]:
        """frame id -> review row, for the frames that have one."""
        return self.rows_by_frame("SELECT * FROM reviews WHERE frame_id IN ({ids})", frame_ids)

    def predictions_of(self, model_version: str, frame_ids: list[int]) -> dict[int, sqlite3.Row]:
        """frame id -> that model version's prediction, for the frames it graded."""
        sql = "SELECT * FROM predictions WHERE model_version = ? AND frame_id IN ({ids})"
        return self.rows_by_frame(sql, frame_ids, model_version)

    def rows_by_frame(self, sql: str, frame_ids: list[int], *params) -> dict[int, Row]:
        """Rows of `sql` (with `{ids}` for the frame ids) keyed by frame_id; only the frames asked for are read."""
        found: dict[int, Row] = {}
        for start in range(0, len(frame_ids), 500):  # SQLite caps the number of bound parameters
            chunk = list(frame_ids[start : start + 500])
            for row in self.fetch_all(sql.format(ids=",".join("?" * len(chunk))), (*params, *chunk)):
                found[int(row["frame_id"])] = row
        return found

    def fetch_all(self, sql: str, params=()) -> list[Row]:
        """Every row of a query in one step of SQLite, as one JSON text, decoded exactly (reals as 17 digits).

        Python's sqlite3 lets go of the GIL around each step, one step per row, and must wait to get it back
        while another thread runs Python (a retrain, a re-grade): 431 rows took 89 ms on the GUI thread beside
        a busy thread, 4 ms as one row. The window's bulk reads (time course, embryo list, review) use this."""
        names = [d[0] for d in self.conn.execute(f"SELECT * FROM ({sql}) LIMIT 0", params).description]
        columns = ", ".join(
            f"typeof(q.\"{n}\"), CASE typeof(q.\"{n}\") WHEN 'real' THEN printf('%!.17g', q.\"{n}\") "
            f"WHEN 'blob' THEN hex(q.\"{n}\") ELSE q.\"{n}\" END"
            for n in names
        )
        text = self.conn.execute(f"SELECT json_group_array(json_array({columns})) FROM ({sql}) AS q", params)
        return [Row(zip(names, _decode(typed), strict=True)) for typed in json.loads(text.fetchone()[0])]

    # ------------------------------------------------------------------------------------ models
    def register_model(
        self,
        version: str,
        weights: str | Path,
        sha256: str,
        parent_version: str | None = None,
        metrics: dict | None = None,
        data_summary: dict | None = None,
        activate: bool = False,
    ) -> int:
        row = self.conn.execute("SELECT id, sha256 FROM models WHERE version=?", (version,)).fetchone()
        if row is None:
            with self.transaction():  # checked again under the write lock: another process may register it first
                row = self.conn.execute("SELECT id, sha256 FROM models WHERE version=?", (version,)).fetchone()
                if row is None:
                    return self._insert_model(version, weights, sha256, parent_version, metrics, data_summary, activate)
        if row["sha256"] != sha256:
            raise ProjectError(f"model version {version!r} is already registered with a different file")
        if activate:
            self.activate_model(version)
        return int(row["id"])

    def _insert_model(self, version, weights, sha256, parent_version, metrics, data_summary, activate) -> int:
        """Inside register_model's transaction."""
        cur = self.conn.execute(
            "INSERT INTO models(version, parent_version, path, sha256, metrics, data_summary, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (
                version,
                parent_version,
                str(weights),
                sha256,
                json.dumps(metrics or {}, default=float),
                json.dumps(data_summary or {}, default=float),
                time.time(),
            ),
        )
        self.audit("register", "model", cur.lastrowid, version=version, parent=parent_version)
        if activate:
            self._activate_in_tx(version)
        return int(cur.lastrowid)

    def _activate_in_tx(self, version: str) -> None:
        self.conn.execute("UPDATE models SET active=0 WHERE active=1")
        cur = self.conn.execute("UPDATE models SET active=1 WHERE version=?", (version,))
        if cur.rowcount != 1:
            raise ProjectError(f"no model version {version!r} in this project")
        self.audit("activate", "model", None, version=version)

    def activate_model(self, version: str) -> None:
        """Switch the active model (publish or roll back) in one transaction."""
        with self.transaction():
            self._activate_in_tx(version)

    def active_model(self) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM models WHERE active=1").fetchone()

    def models(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM models ORDER BY id").fetchall()

    def model_path(self, row: sqlite3.Row) -> Path:
        path = Path(row["path"])
        return path if path.is_absolute() else self.root / path
