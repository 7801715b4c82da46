"""Which frames still need a person's look, and the quick range labels a grading scheme offers.

A frame needs review when nobody has marked it reviewed, or when the active model's regression % and the
area % of its mask disagree by more than the readout margin. Qt-free, so the rules are tested directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from embryograde_app.core.readouts import readings_disagree
from embryograde_app.core.schemes import GradingScheme, get_scheme
from embryograde_app.core.store import ProjectStore


class ReviewFilter(Enum):
    UNREVIEWED_OR_DISAGREEING = "Unreviewed or disagreeing"
    UNREVIEWED = "Unreviewed"
    DISAGREEING = "Regression vs area disagree"


@dataclass(frozen=True)
class ReviewState:
    reviewed: bool
    reviewer: str | None
    reviewed_at: float | None
    disagreement: bool

    def needs_review(self, rule: ReviewFilter) -> bool:
        if rule is ReviewFilter.UNREVIEWED:
            return not self.reviewed
        if rule is ReviewFilter.DISAGREEING:
            return self.disagreement
        return not self.reviewed or self.disagreement

    def describe(self) -> str:
        if not self.reviewed:
            return "not reviewed"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.reviewed_at)) if self.reviewed_at else "?"
        return f"reviewed by {self.reviewer or '?'} on {when}"


def review_states(
    store: ProjectStore, frame_ids: list[int], scheme: GradingScheme | None = None
) -> dict[int, ReviewState]:
    """Review status and model disagreement of each frame (bulk queries: fine for whole time-lapses)."""
    scheme = scheme or get_scheme()
    reviews = store.reviews(frame_ids)
    active = store.active_model()
    predictions = store.predictions_of(active["version"], frame_ids) if active is not None else {}
    states = {}
    for fid in frame_ids:
        row = reviews.get(fid)
        reviewed = row is not None and row["status"] == "reviewed"
        pred = predictions.get(fid)
        disagree = pred is not None and readings_disagree(scheme, pred["regression_pct"], pred["area_pct"])
        states[fid] = ReviewState(
            reviewed, row["reviewer"] if row else None, row["reviewed_at"] if row else None, disagree
        )
    return states


def next_needing_review(
    order: list[int], current: int, states: dict[int, ReviewState], rule: ReviewFilter
) -> int | None:
    """Position in ``order`` of the next frame after ``current`` that needs review (wrapping); None if none."""
    n = len(order)
    for step in range(1, n + 1):
        position = (current + step) % n
        state = states.get(order[position])
        if state is None or state.needs_review(rule):
            return position
    return None


def quick_ranges(scheme: GradingScheme) -> list[tuple[str, float, float]]:
    """(button text, lo, hi) for each grade bin of a scheme, e.g. ("10–25 %", 10, 25)."""
    return [(f"{b.lo:g}–{b.hi:g} %", float(b.lo), float(b.hi)) for b in scheme.bins]
