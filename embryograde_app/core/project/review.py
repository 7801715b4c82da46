"""Which frames still need a person's look, and the quick range labels a grading scheme offers.

A frame needs review until somebody marks it reviewed; among those, the flagged ones are worth a look first
(the readout's red flag, ``readouts.frame_flagged``: the model against the person's answer where there is one,
else the active model's regression % against its mask's area %). A reviewed frame never
comes up again: a person has looked. Qt-free, so the rules are tested directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from embryograde_app.core.domain.schemes import GradingScheme, get_scheme
from embryograde_app.core.project.store import ProjectStore
from embryograde_app.core.view.readouts import PersonAnswer, frame_flagged


class ReviewFilter(Enum):
    FLAGGED_FIRST = "Unreviewed, flagged first"
    UNREVIEWED = "Unreviewed"
    FLAGGED = "Unreviewed and flagged"


@dataclass(frozen=True)
class ReviewState:
    reviewed: bool
    reviewer: str | None
    reviewed_at: float | None
    disagreement: bool

    def needs_review(self, rule: ReviewFilter) -> bool:
        if self.reviewed:
            return False
        return self.disagreement if rule is ReviewFilter.FLAGGED else True

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
    labels = store.person_labels() if predictions else {}
    states = {}
    for fid in frame_ids:
        row = reviews.get(fid)
        reviewed = row is not None and row["status"] == "reviewed"
        pred, label = predictions.get(fid), labels.get(fid)
        answer = None if label is None else PersonAnswer(label.lo, label.hi, "", label.mask_path is not None)
        disagree = pred is not None and frame_flagged(scheme, pred["regression_pct"], pred["area_pct"], answer)
        states[fid] = ReviewState(
            reviewed, row["reviewer"] if row else None, row["reviewed_at"] if row else None, disagree
        )
    return states


def next_needing_review(
    order: list[int], current: int, states: dict[int, ReviewState], rule: ReviewFilter
) -> int | None:
    """Position in ``order`` of the next frame after ``current`` that the rule picks (wrapping); None if none.
    FLAGGED_FIRST: the next unreviewed flagged frame, else the next unreviewed one."""
    if rule is ReviewFilter.FLAGGED_FIRST:
        flagged = next_needing_review(order, current, states, ReviewFilter.FLAGGED)
        return flagged if flagged is not None else next_needing_review(order, current, states, ReviewFilter.UNREVIEWED)
    unreviewed = ReviewState(False, None, None, False)  # a frame without a state: nobody has looked
    n = len(order)
    for step in range(1, n + 1):
        position = (current + step) % n
        if states.get(order[position], unreviewed).needs_review(rule):
            return position
    return None


def quick_ranges(scheme: GradingScheme) -> list[tuple[str, float, float]]:
    """(button text, lo, hi) for each grade bin of a scheme, e.g. ("10–25 %", 10, 25)."""
    return [(f"{b.lo:g}–{b.hi:g} %", float(b.lo), float(b.hi)) for b in scheme.bins]
