"""The project database's file name, tables and migrations (SQLite's ``PRAGMA user_version`` is the schema
version; ProjectStore applies the migrations when it opens a project it may write)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

DB_NAME = "project.sqlite"

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


class StoreTables:
    """The base of ProjectStore's parts by table (store_frames, store_labels, store_models).

    Not used on its own: ProjectStore gives its parts ``self.root``, ``self.conn`` and the helpers
    (``transaction``, ``audit``, ``fetch_all``, ``rows_by_frame``, ``_store_file``). Reads run on ``self.conn``;
    every write runs inside ``self.transaction()`` and appends its ``self.audit`` entry there."""

    root: Path
    conn: sqlite3.Connection
