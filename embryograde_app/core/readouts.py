"""What the readout panel says about a frame: regression %, mask-area %, grade, and a disagreement flag."""

from __future__ import annotations

import math
from dataclasses import dataclass

from embryograde_app.core.schemes import GradingScheme

# The flag triages: it is up when the regression head and the mask's area would give the frame different
# grades, more than FLAG_MIN_POINTS apart (two readings a hair either side of a bin edge are one reading).
# The old rule, "more than 5 points apart", was up on 41-65 % of real EmbryoScope frames: always on, so it
# told nothing (two readings of 16 and 22 % are both grade 2).
FLAG_MIN_POINTS = 2.0


@dataclass(frozen=True)
class Readout:
    regression_text: str
    area_text: str
    grade_text: str
    disagreement: bool
    disagreement_text: str


def pct_text(scheme: GradingScheme, pct: float, decimals: int = 1) -> str:
    """A % as text that never contradicts its grade: 9.96 % (grade 1) reads "9.96", not "10.0" (a grade-2 value).

    One more decimal where rounding would cross a bin edge; if even that crosses, the value is cut toward its
    own side of the edge (9.9996 reads "9.99")."""
    grade = scheme.grade(pct)
    for places in (decimals, decimals + 1):
        text = f"{pct:.{places}f}"
        if scheme.grade(float(text)) == grade:
            return text
    step = 10.0**-places
    toward = math.floor(pct / step) * step if float(text) > pct else math.ceil(pct / step) * step
    return f"{toward:.{places}f}"


def readings_disagree(
    scheme: GradingScheme, regression_pct: float | None, area_pct: float | None, min_points: float = FLAG_MIN_POINTS
) -> bool:
    """Worth a look: the two readings give different grades and are more than min_points apart."""
    if regression_pct is None or area_pct is None:
        return False
    return scheme.grade(regression_pct) != scheme.grade(area_pct) and abs(regression_pct - area_pct) > min_points


def make_readout(
    scheme: GradingScheme,
    regression_pct: float | None,
    area_pct: float | None,
    min_points: float = FLAG_MIN_POINTS,
) -> Readout:
    """Grade from the regression head when the model has run, else from the mask area."""
    graded_pct = regression_pct if regression_pct is not None else area_pct
    if graded_pct is None:
        grade_text = "—"
    else:
        b = scheme.bin_of(scheme.grade(graded_pct))
        grade_text = f"{b.grade} ({b.name})"
    disagree = readings_disagree(scheme, regression_pct, area_pct, min_points)
    return Readout(
        regression_text="—" if regression_pct is None else f"{pct_text(scheme, regression_pct)} %",
        area_text="—" if area_pct is None else f"{pct_text(scheme, area_pct)} %",
        grade_text=grade_text,
        disagreement=disagree,
        disagreement_text=(
            f"⚠ regression says grade {scheme.grade(regression_pct)}, the mask's area grade {scheme.grade(area_pct)} "
            f"({abs(regression_pct - area_pct):.1f} points apart): worth a look"
            if disagree
            else ""
        ),
    )
