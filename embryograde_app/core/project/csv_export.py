"""`export PROJECT --csv OUT`: the project's grades as a CSV report (+ per-embryo summary)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from embryograde_app.core.domain.schemes import DEFAULT_SCHEME, GradingScheme, get_scheme
from embryograde_app.core.project.grade_reports import GradeRow, write_embryo_summary, write_report
from embryograde_app.core.project.store import ProjectStore
from embryograde_app.core.project.timing import answer_pct, frame_hours


def reported_grade(
    scheme: GradingScheme, human_pct: float | None, lo: float | None, hi: float | None, model_pct: float | None
) -> tuple[str, str]:
    """(grade, source): a person's mask wins, then a range label (the model's % kept inside it), then the model.

    The % is ``timing.answer_pct``'s, the rule the day grades and the printable report use too."""
    if human_pct is not None or (lo is not None and hi is not None):
        pct, _ = answer_pct(model_pct, human_pct, lo, hi)
        return scheme.grade(pct), "human"
    if model_pct is not None:
        return scheme.grade(model_pct), "model"
    return "", "none"


def project_rows(store: ProjectStore, scheme: GradingScheme) -> list[GradeRow]:
    """One row per frame that has a prediction or a person's mask or label."""
    active = store.active_model()
    rows = []
    frames = store.frames()
    hours = frame_hours(frames, store.timings())  # from the frames, else from the embryo's timing
    wells = {int(e["id"]): e["well"] for e in store.embryos()}
    for frame in frames:
        pred = store.prediction(frame.id, active["version"]) if active else None
        pred = pred or store.prediction(frame.id)
        human = store.latest_mask(frame.id, ("human", "import"))
        label = store.range_label(frame.id)
        review = store.review(frame.id)
        if pred is None and human is None and label is None:
            continue
        lo, hi = (label["lo"], label["hi"]) if label else (None, None)
        model_pct = pred["regression_pct"] if pred else None
        grade, source = reported_grade(scheme, human.frag_pct if human else None, lo, hi, model_pct)
        graded_at = pred["created_at"] if pred else (human.created_at if human else label["created_at"])
        rows.append(
            GradeRow(
                embryo_id=frame.embryo_key,
                well=wells[frame.embryo_id],
                focal_plane=frame.focal_plane,
                frame=frame.frame_number,
                time_h=hours[frame.id],
                frag_pct_model=model_pct,
                frag_pct_mask=human.frag_pct if human else (pred["area_pct"] if pred else None),
                grade=grade,
                scheme=scheme.key,
                range_lo=lo,
                range_hi=hi,
                label_source=source,
                reviewed=bool(review and review["status"] == "reviewed"),
                reviewer=(review["reviewer"] or "") if review and review["status"] == "reviewed" else "",
                model_version=pred["model_version"] if pred else "",
                graded_at=datetime.fromtimestamp(graded_at, timezone.utc).replace(microsecond=0).isoformat(),
                source=frame.source,
                mask_source=human.author_kind if human else ("model" if pred else ""),
            )
        )
    return rows


def export_project_csv(project: str | Path, out: str | Path, scheme_name: str = DEFAULT_SCHEME) -> tuple[int, Path]:
    scheme = get_scheme(scheme_name)
    with ProjectStore(project) as store:
        rows = project_rows(store, scheme)
    write_report(out, rows)
    return len(rows), write_embryo_summary(out, scheme)
