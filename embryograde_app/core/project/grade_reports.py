"""CSV grade reports: one row per graded frame plus a per-embryo summary file beside it.

Files are UTF-8 with a byte-order mark (so Excel detects UTF-8; LibreOffice ignores it), RFC 4180 quoting
and CRLF line ends, '.' as decimal separator. The per-embryo summary of OUT.csv is OUT_embryos.csv:
frames graded, median / max / last fragmentation %, and the final grade (the grade of the median %).
"""

from __future__ import annotations

import csv
import io
import os
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from embryograde_app.core.domain.schemes import GradingScheme
from embryograde_app.core.io.atomic import atomic_write_text
from embryograde_app.core.project.timing import GRADING_DAYS, FramePoint, answer_pct, central_plane, day_grades_of

REPORT_COLUMNS = (
    "embryo_id",
    "well",
    "focal_plane",
    "frame",
    "time_h",
    "frag_pct_model",
    "frag_pct_mask",
    "grade",
    "scheme",
    "range_lo",
    "range_hi",
    "label_source",
    "reviewed",
    "reviewer",
    "model_version",
    "graded_at",
    "source",
    "mask_source",  # whose mask frag_pct_mask measures: human, import (a dataset's annotator), model
)
REPORT_COLUMNS_V1 = REPORT_COLUMNS[:-1]  # reports written before mask_source: still read, and appended to
SUMMARY_COLUMNS = (
    "embryo_id",
    "well",
    "frames_graded",
    "median_pct",
    "max_pct",
    "last_frame",
    "last_pct",
    "final_grade",
    "scheme",
    "model_version",
    "day2_grade",  # the grade at 44 +/- 1 h post-insemination (blank without hours)
    "day2_pct",
    "day2_source",  # person (their answers in the window decided) or model
    "day3_grade",  # 68 +/- 1 h
    "day3_pct",
    "day3_source",
)
ENCODING = "utf-8-sig"


def _now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class GradeRow:
    embryo_id: str
    frame: int
    frag_pct_model: float | None
    frag_pct_mask: float | None
    grade: str
    scheme: str
    model_version: str
    well: int | None = None
    focal_plane: int | None = None
    time_h: float | None = None
    range_lo: float | None = None
    range_hi: float | None = None
    label_source: str = "model"  # "human" when the grade comes from a person's mask or range label
    reviewed: bool = False
    reviewer: str = ""
    graded_at: str = field(default_factory=_now_iso)
    source: str = ""
    mask_source: str = ""

    def cells(self) -> list[str]:
        def fmt(value) -> str:
            if value is None:
                return ""
            if isinstance(value, bool):
                return "yes" if value else "no"
            if isinstance(value, float):
                return f"{value:.2f}"
            return str(value)

        d = asdict(self)
        return [fmt(d[c]) for c in REPORT_COLUMNS]


def summary_path(report: str | Path) -> Path:
    report = Path(report)
    return report.with_name(report.stem + "_embryos" + report.suffix)


def read_report(path: str | Path) -> list[dict[str, str]]:
    """Rows of a report; a torn last line (a run killed while writing) is dropped, not fatal."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_bytes().decode(ENCODING, errors="replace")
    if not text.endswith("\n"):
        # Every row is written whole with its line end and fsynced: text after the last line end is a row cut
        # short, even when the cut fell inside its last field and left the right number of fields.
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.reader(io.StringIO(text)))
    header = tuple(rows[0]) if rows else ()
    if header not in (REPORT_COLUMNS, REPORT_COLUMNS_V1):
        raise ValueError(f"{path}: not an EmbryoGrade grade report (unexpected header); choose another --csv file")
    good = [r for r in rows[1:] if len(r) == len(header)]
    return [dict(zip(REPORT_COLUMNS, r + [""] * (len(REPORT_COLUMNS) - len(header)), strict=True)) for r in good]


def read_report_keys(path: str | Path, model_version: str) -> set[str]:
    return {r["source"] for r in read_report(path) if r["model_version"] == model_version}


def _render(rows: list[list[str]], header: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


class GradeReportWriter:
    """Appends rows to a report, flushed and fsynced per row, after rewriting any torn tail away."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        existing = read_report(self.path)
        atomic_write_text_bom(self.path, _render([[r[c] for c in REPORT_COLUMNS] for r in existing], REPORT_COLUMNS))
        self.fh = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self.writer = csv.writer(self.fh, lineterminator="\r\n")

    def add(self, row: GradeRow) -> None:
        self.writer.writerow(row.cells())
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def atomic_write_text_bom(path: Path, text: str) -> None:
    atomic_write_text(path, "\ufeff" + text)


def write_report(path: str | Path, rows: list[GradeRow]) -> None:
    atomic_write_text_bom(Path(path), _render([r.cells() for r in rows], REPORT_COLUMNS))


def write_embryo_summary(report: str | Path, scheme: GradingScheme) -> Path:
    """Per-embryo summary of a report: median, max and last %, the final grade (the grade of the median), and
    the grades at day 2 and day 3 where the rows carry hours post-insemination (``core.project.timing``'s rule)."""
    by_embryo: dict[str, list[dict[str, str]]] = {}
    for row in read_report(report):
        by_embryo.setdefault(row["embryo_id"], []).append(row)
    out_rows = []
    for embryo, rows in sorted(by_embryo.items()):
        rows.sort(key=lambda r: (int(r["frame"]), r["focal_plane"]))
        pcts = [_reported_pct(r) for r in rows]
        pcts = [p for p in pcts if p is not None]
        if not pcts:
            continue
        median = statistics.median(pcts)
        last = rows[-1]
        days = day_grades_of(_points(rows), scheme)
        day_cells = []
        for day, _target in GRADING_DAYS:
            d = days.get(day)
            day_cells += [d.grade, f"{d.pct:.2f}", d.source] if d else ["", "", ""]
        out_rows.append(
            [
                embryo,
                rows[0]["well"],
                str(len(rows)),
                f"{median:.2f}",
                f"{max(pcts):.2f}",
                last["frame"],
                f"{_reported_pct(last):.2f}" if _reported_pct(last) is not None else "",
                scheme.grade(median),
                scheme.key,
                ";".join(sorted({r["model_version"] for r in rows if r["model_version"]})),
                *day_cells,
            ]
        )
    path = summary_path(report)
    atomic_write_text_bom(path, _render(out_rows, SUMMARY_COLUMNS))
    return path


def _float(text: str) -> float | None:
    return float(text) if text else None


def _answer(row: dict[str, str]) -> tuple[float | None, bool]:
    """(the % a row stands for, whether a person gave it), by ``core.project.timing.answer_pct``'s rule."""
    lo, hi = _float(row["range_lo"]), _float(row["range_hi"])
    source = row["mask_source"]
    # Reports from before mask_source: a "human" row without a range measured a person's mask.
    person_mask = source in ("human", "import") or (not source and row["label_source"] == "human" and lo is None)
    mask = _float(row["frag_pct_mask"])
    pct, by_person = answer_pct(_float(row["frag_pct_model"]), mask if person_mask else None, lo, hi)
    return (mask, False) if pct is None else (pct, by_person)  # nothing else: the mask's area


def _reported_pct(row: dict[str, str]) -> float | None:
    return _answer(row)[0]


def _points(rows: list[dict[str, str]]) -> list[FramePoint]:
    """The rows with hours, of one focal plane (the central one where there is one): one reading per time."""
    timed = [r for r in rows if r["time_h"]]
    if not timed:
        return []
    plane = central_plane({int(r["focal_plane"] or 0) for r in timed})
    points = []
    for r in timed:
        pct, by_person = _answer(r)
        if int(r["focal_plane"] or 0) == plane and pct is not None:
            points.append(FramePoint(float(r["time_h"]), pct, by_person, r["reviewer"]))
    return points
