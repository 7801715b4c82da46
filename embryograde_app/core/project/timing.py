"""Hours post-insemination for every frame, and an embryo's grade at day 2 and day 3.

Fragmentation is graded at fixed times (Istanbul consensus 2011: day 2 at 44 ± 1 h, day 3 at 68 ± 1 h
post-insemination), not as the median over a whole time-lapse that starts at the zygote. A frame's hours come
from the data where it has them (``labels.csv`` ``time_h``); else from the embryo's timing that a person sets:
the hours of its first frame and the minutes between frames (EmbryoScope runs are typically 10-20 min apart).

One rule decides what % a frame stands for, here and in the CSV report (``answer_pct``): a person's (or an
imported) mask, else a range label with the model's % kept inside it, else the model's regression %.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from embryograde_app.core.domain.schemes import GradingScheme
from embryograde_app.core.project.records import FrameRecord, Timing
from embryograde_app.core.project.store import ProjectStore

GRADING_DAYS = (("day 2", 44.0), ("day 3", 68.0))  # (name, hours post-insemination)
WINDOW_H = 1.0  # either side of the target time
RANGE_EDGE_GAP = 1e-6  # how far inside a range label's ends the model's % is kept


def frame_hours(frames: list[FrameRecord], timings: dict[int, Timing]) -> dict[int, float | None]:
    """frame id -> hours post-insemination: the frame's own time, else its embryo's timing, else None."""
    first: dict[int, int] = {}
    for f in frames:
        first[f.embryo_id] = min(first.get(f.embryo_id, f.frame_number), f.frame_number)
    hours: dict[int, float | None] = {}
    for f in frames:
        timing = timings.get(f.embryo_id)
        if f.time_h is not None:
            hours[f.id] = float(f.time_h)
        elif timing is not None:
            hours[f.id] = timing.hours(f.frame_number, first[f.embryo_id])
        else:
            hours[f.id] = None
    return hours


def answer_pct(
    model_pct: float | None, person_mask_pct: float | None, lo: float | None, hi: float | None
) -> tuple[float | None, bool]:
    """(the % a frame stands for, whether a person gave it): a person's mask, else a range label (the model's %
    kept inside it, else the range's middle), else the model's regression %.

    A range is read by its inside, as its grade is (``GradingScheme.range_grade``): both ends are open, so the
    "0-10 %" button stays grade 1 and "25-100 %" grade 3 whatever the model reads (10 and 25 % are grade 2)."""
    if person_mask_pct is not None:
        return person_mask_pct, True
    if lo is not None and hi is not None:
        if model_pct is None or hi - lo <= 2 * RANGE_EDGE_GAP:
            return (lo + hi) / 2, True
        return min(max(model_pct, lo + RANGE_EDGE_GAP), hi - RANGE_EDGE_GAP), True
    return model_pct, False


@dataclass(frozen=True)
class FramePoint:
    hours: float
    pct: float
    by_person: bool
    reviewer: str = ""


@dataclass(frozen=True)
class DayGrade:
    day: str
    target_h: float
    grade: str
    pct: float  # the median % of the frames that decided
    by_person: bool  # the person's answers decided (the model's only where nobody answered in the window)
    frames: int  # how many frames decided
    reviewers: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return "person" if self.by_person else "model"


def grade_in_window(points: Iterable[FramePoint], day: str, target_h: float, scheme: GradingScheme) -> DayGrade | None:
    """The grade of the median % of the frames within ``WINDOW_H`` of ``target_h``: the person's answers where
    there are any in the window, else the model's; None when no frame falls in the window."""
    inside = [p for p in points if abs(p.hours - target_h) <= WINDOW_H + 1e-9]
    if not inside:
        return None
    person = [p for p in inside if p.by_person]
    deciding = person or inside
    pct = statistics.median(p.pct for p in deciding)
    reviewers = tuple(sorted({p.reviewer for p in inside if p.reviewer}))
    return DayGrade(day, target_h, scheme.grade(pct), pct, bool(person), len(deciding), reviewers)


def day_grades_of(points: Iterable[FramePoint], scheme: GradingScheme) -> dict[str, DayGrade]:
    points = list(points)
    grades = {}
    for day, target in GRADING_DAYS:
        grade = grade_in_window(points, day, target, scheme)
        if grade is not None:
            grades[day] = grade
    return grades


def central_plane(planes: Iterable[int]) -> int:
    """The focal plane that stands for a time point: the central one (0) where there is one, else the nearest."""
    return min(planes, key=lambda plane: (abs(plane), plane))


def central_plane_frames(frames: list[FrameRecord]) -> list[FrameRecord]:
    """Each embryo's frames of one focal plane (the central one where it has it): one reading per time point."""
    planes: dict[int, set[int]] = {}
    for f in frames:
        planes.setdefault(f.embryo_id, set()).add(f.focal_plane)
    chosen = {e: central_plane(p) for e, p in planes.items()}
    return [f for f in frames if f.focal_plane == chosen[f.embryo_id]]


@dataclass(frozen=True)
class FrameAnswer:
    """A frame's readings by the one rule: the model's %, the person's answer (lo == hi for a mask), the % the
    frame stands for (``answer_pct``) and who reviewed it."""

    model_pct: float | None
    lo: float | None
    hi: float | None
    pct: float | None
    by_person: bool
    reviewer: str


def frame_answers(store: ProjectStore, frames: list[FrameRecord]) -> dict[int, FrameAnswer]:
    """frame id -> FrameAnswer, from a handful of bulk queries (the active model's predictions, the person's
    labels, the reviews): fine for the window's embryo list on every re-grade."""
    ids = [f.id for f in frames]
    active = store.active_model()
    predictions = store.predictions_of(active["version"], ids) if active is not None else {}
    labels = store.person_labels()
    reviews = store.reviews(ids)
    answers = {}
    for fid in ids:
        pred, label, review = predictions.get(fid), labels.get(fid), reviews.get(fid)
        model = pred["regression_pct"] if pred is not None else None
        lo, hi = (label.lo, label.hi) if label is not None else (None, None)
        if label is not None and label.mask_path is not None:  # a mask: its exact %
            pct, by_person = answer_pct(model, lo, None, None)
        else:  # a range label, or nobody's answer
            pct, by_person = answer_pct(model, None, lo, hi)
        reviewer = (review["reviewer"] or "") if review is not None and review["status"] == "reviewed" else ""
        answers[fid] = FrameAnswer(model, lo, hi, pct, by_person, reviewer)
    return answers


def project_day_grades(store: ProjectStore, scheme: GradingScheme) -> dict[str, dict[str, DayGrade]]:
    """embryo key -> {"day 2": DayGrade, "day 3": DayGrade} (days without frames in their window left out)."""
    frames = central_plane_frames(store.frames())
    hours = frame_hours(frames, store.timings())
    timed = [f for f in frames if hours[f.id] is not None]
    if not timed:
        return {}
    answers = frame_answers(store, timed)
    points: dict[str, list[FramePoint]] = {}
    for f in timed:
        a = answers[f.id]
        if a.pct is not None:
            points.setdefault(f.embryo_key, []).append(FramePoint(hours[f.id], a.pct, a.by_person, a.reviewer))
    return {key: grades for key, pts in points.items() if (grades := day_grades_of(pts, scheme))}
