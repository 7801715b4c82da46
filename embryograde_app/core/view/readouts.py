"""What the readout panel says about a frame: regression %, mask-area %, grade, and a disagreement flag."""

from __future__ import annotations

import math
from dataclasses import dataclass

from embryograde_app.core.domain.schemes import GradingScheme

# The flag triages: it is up when the regression head and the mask's area would give the frame different
# grades, more than FLAG_MIN_POINTS apart (two readings a hair either side of a bin edge are one reading).
# The old rule, "more than 5 points apart", was up on 41-65 % of real EmbryoScope frames: always on, so it
# told nothing (two readings of 16 and 22 % are both grade 2).
FLAG_MIN_POINTS = 2.0


@dataclass(frozen=True)
class PersonAnswer:
    """What a person said about a frame: the % of a corrected mask, else a range label, and who said it."""

    lo: float
    hi: float
    author: str
    from_mask: bool
    imported: bool = False  # brought by an import (author is then the short "imported", the source in the store)


IMPORT_AUTHOR_PREFIXES = ("layout:", "labelme:", "png:")  # how imports name their source as an author


def _by_import(author: str) -> bool:
    return author.startswith(IMPORT_AUTHOR_PREFIXES)


def short_author(author: str) -> str:
    """A name that fits the readout: "imported" for what an import brought (its source stays in the store)."""
    return "imported" if _by_import(author) else author


def person_answer(store, frame_id: int) -> PersonAnswer | None:
    """The person's answer for a frame of a project, by the rule training, the report and the time course share
    (``ProjectStore.person_labels``): the latest human or imported mask's %, else the latest range label."""
    revision = store.latest_mask(frame_id, kinds=("human", "import"))
    if revision is not None:
        author = revision.author
        return PersonAnswer(revision.frag_pct, revision.frag_pct, short_author(author), True, _by_import(author))
    row = store.range_label(frame_id)
    if row is not None:
        author = str(row["author"])
        return PersonAnswer(float(row["lo"]), float(row["hi"]), short_author(author), False, _by_import(author))
    return None


@dataclass(frozen=True)
class Readout:
    regression_text: str
    area_text: str
    grade_text: str
    disagreement: bool
    disagreement_text: str
    answer_text: str = ""  # the person's answer and who gave it ("" when nobody has)
    model_text: str = ""  # the model's own reading, shown beside the person's


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


def _person_grade(scheme: GradingScheme, answer: PersonAnswer) -> str:
    grade = scheme.grade(answer.lo) if answer.from_mask else scheme.range_grade(answer.lo, answer.hi)
    return "—" if grade is None else grade


def _answer_disagrees(scheme: GradingScheme, regression_pct: float | None, answer: PersonAnswer) -> bool:
    """The model's reading falls outside the person's answer and in another grade."""
    if regression_pct is None:
        return False
    if answer.from_mask:
        return readings_disagree(scheme, regression_pct, answer.lo)
    outside = regression_pct < answer.lo - FLAG_MIN_POINTS or regression_pct > answer.hi + FLAG_MIN_POINTS
    return outside and scheme.grade(regression_pct) != _person_grade(scheme, answer)


def frame_flagged(
    scheme: GradingScheme, regression_pct: float | None, area_pct: float | None, answer: PersonAnswer | None
) -> bool:
    """The red flag of a frame, one rule for the readout and the review list: where a person answered, the
    model's reading against theirs; elsewhere the model's two readings against each other."""
    if answer is not None:
        return _answer_disagrees(scheme, regression_pct, answer)
    return readings_disagree(scheme, regression_pct, area_pct)


def make_readout(
    scheme: GradingScheme,
    regression_pct: float | None,
    area_pct: float | None,
    min_points: float = FLAG_MIN_POINTS,
    answer: PersonAnswer | None = None,
) -> Readout:
    """Grade from the person's answer where there is one (the model's reading beside it), else from the
    regression head when the model has run, else from the mask area."""
    if answer is not None:
        return _person_readout(scheme, regression_pct, area_pct, answer)
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


def _person_readout(
    scheme: GradingScheme, regression_pct: float | None, area_pct: float | None, answer: PersonAnswer
) -> Readout:
    """The person's answer wins the big readout; the model is shown beside it and flagged against it."""
    grade = _person_grade(scheme, answer)
    name = next((b.name for b in scheme.bins if b.grade == grade), "")
    imported = answer.imported
    kind = "imported mask" if imported else "mask"
    what = f"{pct_text(scheme, answer.lo)} % ({kind})" if answer.from_mask else f"range {answer.lo:g}–{answer.hi:g} %"
    model = "—"
    if regression_pct is not None:
        model = f"{pct_text(scheme, regression_pct)} %, grade {scheme.grade(regression_pct)}"
    disagree = _answer_disagrees(scheme, regression_pct, answer)
    return Readout(
        regression_text="—" if regression_pct is None else f"{pct_text(scheme, regression_pct)} %",
        area_text="—" if area_pct is None else f"{pct_text(scheme, area_pct)} %",
        grade_text=f"{grade} ({name}) — {answer.author}" if name else f"{grade} — {answer.author}",
        disagreement=disagree,
        disagreement_text=f"⚠ the model reads {model}: not what {answer.author} said" if disagree else "",
        answer_text=what if imported else f"{what} by {answer.author}",
        model_text=f"model: {model}",
    )
