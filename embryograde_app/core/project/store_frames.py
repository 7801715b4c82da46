"""ProjectStore's embryos, their timing and their frames: the embryos, embryo_timing and frames tables."""

from __future__ import annotations

import sqlite3
import time

import numpy as np

from embryograde_app.core.project.records import FrameRecord, ProjectError, Row, Timing, current_user, sha256_bytes
from embryograde_app.core.project.schema import StoreTables


class EmbryoFrameTables(StoreTables):
    """The embryos of a project, when their frames were taken, and the frames (images stored by content)."""

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

    def frame_with_image(self, image_sha256: str, embryo_key: str | None = None) -> int | None:
        """The first frame (by id) whose image file has this sha256, of the embryo with this key if one is given."""
        sql = "SELECT f.id FROM frames f JOIN embryos e ON e.id = f.embryo_id WHERE f.image_sha256=?"
        args: list = [image_sha256]
        if embryo_key is not None:
            sql += " AND e.key=?"
            args.append(embryo_key)
        row = self.conn.execute(sql + " ORDER BY f.id LIMIT 1", args).fetchone()
        return None if row is None else int(row[0])

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
