"""What the readout panel says about a frame: regression %, mask-area %, grade, and a disagreement flag."""

from __future__ import annotations

import math
from dataclasses import dataclass

from embryograde_app.core.schemes import GradingScheme

DISAGREEMENT_MARGIN_PCT = 5.0  # regression vs mask area: beyond this the frame is worth a look


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


def make_readout(
    scheme: GradingScheme,
    regression_pct: float | None,
    area_pct: float | None,
    margin: float = DISAGREEMENT_MARGIN_PCT,
) -> Readout:
    """Grade from the regression head when the model has run, else from the mask area."""
    graded_pct = regression_pct if regression_pct is not None else area_pct
    if graded_pct is None:
        grade_text = "—"
    else:
        b = scheme.bin_of(scheme.grade(graded_pct))
        grade_text = f"{b.grade} ({b.name})"
    disagree = regression_pct is not None and area_pct is not None and abs(regression_pct - area_pct) > margin
    return Readout(
        regression_text="—" if regression_pct is None else f"{pct_text(scheme, regression_pct)} %",
        area_text="—" if area_pct is None else f"{pct_text(scheme, area_pct)} %",
        grade_text=grade_text,
        disagreement=disagree,
        disagreement_text=(
            f"⚠ regression and mask area differ by {abs(regression_pct - area_pct):.1f} points: worth a look"
            if disagree
            else ""
        ),
    )
