"""ProjectStore's model registry and the models' predictions: the models and predictions tables."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np

from embryograde_app.core.domain.schemes import frag_pct
from embryograde_app.core.io.atomic import encode_png
from embryograde_app.core.project.records import ProjectError
from embryograde_app.core.project.schema import StoreTables


class ModelTables(StoreTables):
    """The registered model versions (one active) and what each graded: a prediction per frame and version, its
    mask stored as a model-authored mask revision (MaskLabelTables._insert_mask_revision)."""

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

    def predictions_of(self, model_version: str, frame_ids: list[int]) -> dict[int, sqlite3.Row]:
        """frame id -> that model version's prediction, for the frames it graded."""
        sql = "SELECT * FROM predictions WHERE model_version = ? AND frame_id IN ({ids})"
        return self.rows_by_frame(sql, frame_ids, model_version)

    def graded_frame_ids(self, model_version: str) -> set[int]:
        """The ids of the frames this model version has a prediction for."""
        rows = self.conn.execute("SELECT frame_id FROM predictions WHERE model_version=?", (model_version,))
        return {int(r[0]) for r in rows}

    def regression_pcts_by_embryo(self, model_version: str) -> dict[str, list[float]]:
        """embryo key -> the regression % of each of its frames this model version graded.

        One step of SQLite (``fetch_all``), not one per row: the window asks this on its own thread.
        """
        rows = self.fetch_all(
            "SELECT e.key, p.regression_pct FROM predictions p JOIN frames f ON f.id = p.frame_id "
            "JOIN embryos e ON e.id = f.embryo_id WHERE p.model_version = ?",
            (model_version,),
        )
        values: dict[str, list[float]] = {}
        for key, pct in (row.values() for row in rows):
            values.setdefault(key, []).append(pct)
        return values

    def prediction_count(self) -> int:
        """How many predictions the project holds, by any model version."""
        return int(self.conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
