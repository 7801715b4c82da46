"""ProjectStore's record of what a frame shows: its mask revisions, range labels and review status (the
mask_revisions, range_labels and reviews tables), and the person's label of each frame drawn from them."""

from __future__ import annotations

import sqlite3
import time

import numpy as np

from embryograde_app.core.domain.schemes import frag_pct
from embryograde_app.core.io.atomic import encode_png
from embryograde_app.core.project.records import (
    LabelValue,
    MaskRevision,
    PersonLabel,
    ProjectError,
    _label_value,
    current_user,
    sha256_bytes,
)
from embryograde_app.core.project.schema import StoreTables


class MaskLabelTables(StoreTables):
    """Masks (by people, imports and models; files stored by content), range labels and reviews of frames."""

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

    def latest_mask_sha256(self, frame_id: int) -> str | None:
        """The sha256 of the frame's latest mask revision by any author (None where it has none)."""
        row = self.conn.execute(
            "SELECT sha256 FROM mask_revisions WHERE frame_id=? ORDER BY id DESC LIMIT 1", (frame_id,)
        ).fetchone()
        return None if row is None else str(row[0])

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
