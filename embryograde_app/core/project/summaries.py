"""Per-embryo and per-frame summaries of a project's predictions (for the embryo list and time course)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    out = {}
    for key, pcts in store.regression_pcts_by_embryo(active["version"]).items():
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


@dataclass(frozen=True)
class EmbryoSeries:
    """What the time course draws for one embryo: per frame its number, hours, the model's two readings
    (None where unknown) and the person's answers as (frame number, lo, hi)."""

    numbers: list[int]
    hours: list[float | None]
    model: list[float | None]
    area: list[float | None]
    marks: list[tuple[int, float, float]]


def embryo_series(entry: Any, store: ProjectStore | None, predicted: Callable[[tuple], Any]) -> EmbryoSeries:
    """The time course of ``entry`` (a collection's embryo): the project's graded frames, else what the
    window has inferred (``predicted((embryo_id, focal_plane, number))`` -> a prediction or None); labels from
    the project's person answers, else from the dataset's labels.csv."""
    numbers = [entry.frame_number(i) for i in range(len(entry))]
    model: list[float | None] = [None] * len(numbers)
    area: list[float | None] = [None] * len(numbers)
    marks = []
    if store is not None:
        ids = [entry.frame_id(i) for i in range(len(entry))]
        model, area = frame_series(store, ids)
        marks = label_marks(store, ids, numbers)
    else:
        for number in numbers:
            label = entry.labels.get(number)
            if label is not None and label.has_range:
                marks.append((number, label.range_lo, label.range_hi))
            elif label is not None and label.frag_pct is not None:
                marks.append((number, label.frag_pct, label.frag_pct))
    for i, number in enumerate(numbers):
        pred = predicted((entry.embryo_id, entry.focal_plane, number))
        if pred is not None and model[i] is None:
            model[i], area[i] = pred.regression_pct, pred.area_pct
    return EmbryoSeries(numbers, [entry.time_h(i) for i in range(len(entry))], model, area, marks)
