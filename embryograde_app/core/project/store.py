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

This module opens, checks and migrates the database and holds the transaction, the audit log, the file store and
the bulk reads; the tables are read and written by the parts ProjectStore is made of: store_frames.py (embryos,
timing, frames), store_labels.py (masks, range labels, reviews), store_models.py (model registry, predictions).
The records it hands out are in records.py, the tables and migrations in schema.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embryograde_app.core.io.atomic import atomic_write_bytes
from embryograde_app.core.project.records import (
    ProjectError,
    Row,
    _decode,
    _disk_full,
    current_user,
    set_person,
    sha256_bytes,
)
from embryograde_app.core.project.schema import DB_NAME, MIGRATIONS
from embryograde_app.core.project.store_frames import EmbryoFrameTables
from embryograde_app.core.project.store_labels import MaskLabelTables
from embryograde_app.core.project.store_models import ModelTables
from models.diskspace import DiskFullError

# Re-exported: what opening a project needs beside ProjectStore, and the person recorded with each change (tests
# reach set_person and current_user through this module). Import the records (FrameRecord, Timing, ...) from records.py.
__all__ = ["DB_NAME", "MIGRATIONS", "ProjectError", "ProjectStore", "current_user", "set_person"]

NO_PERMISSION = "read-only (no write permission)"
OPEN_BUSY_SECONDS = 30.0  # how long opening waits out another process's brief exclusive hold of the file

_CHECKED: dict[Path, tuple[int, int, int]] = {}  # database -> (size, mtime, WAL size) when its pages checked ok


def _wal_size(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _writable(root: Path, db: Path) -> bool:
    """Whether this process may write the project (its folder, and its database if there is one)."""
    if not root.exists():
        return True  # a new project: creating it will say if the parent cannot be written
    return os.access(root, os.W_OK) and (not db.exists() or os.access(db, os.W_OK))


class ProjectStore(EmbryoFrameTables, MaskLabelTables, ModelTables):
    """One open project. Not thread-safe: each thread opens its own ProjectStore on the same folder.

    Opening, migration, transactions, the audit log, stored files and bulk reads are here; the tables' reads and
    writes come from EmbryoFrameTables, MaskLabelTables and ModelTables, all on this connection."""

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

    # ------------------------------------------------------------------------------------ bulk reads
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
