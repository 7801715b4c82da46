"""Per-embryo and per-frame summaries of a project's predictions (for the embryo list and time course)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from embryograde_app.core.domain.schemes import GradingScheme
from embryograde_app.core.project.store import ProjectStore


@dataclass(frozen=True)
class EmbryoGrade:
    median_pct: float
    grade: str
    frames_graded: int


def embryo_grades(store: ProjectStore, scheme: GradingScheme) -> dict[str, EmbryoGrade]:
    """embryo key -> median regression % of the active model's predictions and its grade."""
    active = store.active_model()
    if active is None:
        return {}
    values: dict[str, list[float]] = {}
    rows = store.fetch_all(  # one step of SQLite, not one per row: this runs on the window's thread
        "SELECT e.key, p.regression_pct FROM predictions p JOIN frames f ON f.id = p.frame_id "
        "JOIN embryos e ON e.id = f.embryo_id WHERE p.model_version = ?",
        (active["version"],),
    )
    for key, pct in (row.values() for row in rows):
        values.setdefault(key, []).append(pct)
    out = {}
    for key, pcts in values.items():
        median = statistics.median(pcts)
        out[key] = EmbryoGrade(median, scheme.grade(median), len(pcts))
    return out


def frame_series(store: ProjectStore, frame_ids: list[int]) -> tuple[list[float | None], list[float | None]]:
    """(regression %, mask-area %) of the active model for each frame id, None where not graded."""
    active = store.active_model()
    if active is None or not frame_ids:
        return [None] * len(frame_ids), [None] * len(frame_ids)
    found = store.predictions_of(active["version"], frame_ids)
    rows = [found.get(f) for f in frame_ids]
    return [r["regression_pct"] if r else None for r in rows], [r["area_pct"] if r else None for r in rows]


def label_marks(store: ProjectStore, frame_ids: list[int], numbers: list[int]) -> list[tuple[int, float, float]]:
    """(frame number, lo, hi) per frame a person labelled, as training reads it (ProjectStore.person_labels):
    a drawn or imported mask's exact %, else the range label."""
    labels = store.person_labels()
    return [
        (number, labels[fid].lo, labels[fid].hi)
        for fid, number in zip(frame_ids, numbers, strict=True)
        if fid in labels
    ]
