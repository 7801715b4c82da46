"""A printable per-embryo report (one HTML file, one page per embryo, images inline): what the lab files.

Each page: the embryo's grades at day 2 and day 3 (and the median over the time-lapse) with who decided and who
reviewed, the time course in hours with the grading windows, and the frames nearest 44 h and 68 h with their
masks. HTML prints well from any browser and needs no library of ours; the plot is inline SVG, the frames PNG.
"""

from __future__ import annotations

import base64
import html
import math
import statistics
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from embryograde_app.core.domain.schemes import GradingScheme
from embryograde_app.core.io.atomic import atomic_write_text
from embryograde_app.core.project.records import FrameRecord
from embryograde_app.core.project.store import ProjectStore
from embryograde_app.core.project.timing import (
    GRADING_DAYS,
    WINDOW_H,
    DayGrade,
    FrameAnswer,
    FramePoint,
    central_plane_frames,
    day_grades_of,
    frame_answers,
    frame_hours,
)
from embryograde_app.core.view.overlays import CLASS_COLOURS, embryo_box

THUMB_SIDE = 300  # px of each frame on the page (about 8 cm printed)
PLOT_W, PLOT_H = 640, 220
BAND_FILLS = ("#d9f2dd", "#fbecc8", "#f9d4d0", "#f3c4c4")

_CSS = """
body { font-family: sans-serif; color: #111; margin: 24px; }
section { page-break-after: always; break-after: page; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
.meta { color: #555; font-size: 12px; margin-bottom: 12px; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 12px; }
td, th { border: 1px solid #bbb; padding: 4px 8px; text-align: left; }
figure { display: inline-block; margin: 0 16px 8px 0; font-size: 12px; }
img { width: 300px; height: 300px; border: 1px solid #999; }
@media print { body { margin: 10mm; } }
"""


def _series(frames: list[FrameRecord], hours: dict[int, float | None], answers: dict[int, FrameAnswer]):
    """Per frame of one plane: (frame, x, its readings); x is the hours, or the frame number without them."""
    return [(f, hours[f.id] if hours[f.id] is not None else float(f.frame_number), answers[f.id]) for f in frames]


def _tick_step(span: float, unit: float) -> float:
    """A round step giving about 4-10 ticks: multiples of ``unit`` (12 h on an hours axis) times 1, 2 or 5."""
    step = unit
    while span / step > 10:
        for factor in (2, 2.5, 2):
            step *= factor
            if span / step <= 10:
                break
    return step


def _plot_svg(rows, scheme: GradingScheme, in_hours: bool) -> str:
    """The time course as inline SVG: grade bands, the day windows, the model's % and the person's answers."""
    xs = [r[1] for r in rows]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x1 = x0 + 1
    values = [v for _f, _x, a in rows for v in (a.model_pct, a.hi) if v is not None]
    top = max(60.0, max(values, default=0) + 5)
    left, bottom = 44, 28

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (PLOT_W - left - 8)

    def py(y: float) -> float:
        return 8 + (1 - y / top) * (PLOT_H - bottom - 8)

    parts = [f'<svg width="{PLOT_W}" height="{PLOT_H}" xmlns="http://www.w3.org/2000/svg" font-size="10">']
    for b, fill in zip(scheme.bins, BAND_FILLS * 2, strict=False):
        y_hi, y_lo = py(min(b.hi, top)), py(b.lo)
        parts.append(f'<rect x="{left}" y="{y_hi:.1f}" width="{PLOT_W - left - 8}" height="{y_lo - y_hi:.1f}" '
                     f'fill="{fill}"/>')
        parts.append(f'<text x="{left + 3}" y="{y_lo - 3:.1f}" fill="#666">grade {html.escape(b.grade)}</text>')
    if in_hours:
        for day, target in GRADING_DAYS:
            if x0 <= target <= x1 or x0 <= target - WINDOW_H <= x1:
                a, b = px(max(target - WINDOW_H, x0)), px(min(target + WINDOW_H, x1))
                parts.append(f'<rect x="{a:.1f}" y="8" width="{max(b - a, 1):.1f}" height="{PLOT_H - bottom - 8}" '
                             'fill="#7aa6ff" fill-opacity="0.35"/>')
                parts.append(f'<text x="{(a + b) / 2:.1f}" y="18" text-anchor="middle" fill="#1f4fb0">{day}</text>')
    line = " ".join(f"{px(x):.1f},{py(a.model_pct):.1f}" for _f, x, a in rows if a.model_pct is not None)
    if line:
        parts.append(f'<polyline points="{line}" fill="none" stroke="#1f6fd1" stroke-width="1.2"/>')
    for _f, x, a in rows:
        if a.lo is not None:
            parts.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{py(a.lo):.1f}" y2="{py(a.hi):.1f}" '
                         'stroke="#008b8b" stroke-width="2.5"/>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="8" y2="{PLOT_H - bottom}" stroke="#333"/>')
    parts.append(f'<line x1="{left}" x2="{PLOT_W - 8}" y1="{PLOT_H - bottom}" y2="{PLOT_H - bottom}" stroke="#333"/>')
    for y in range(0, int(top) + 1, 20):
        parts.append(f'<text x="{left - 4}" y="{py(y) + 3:.1f}" text-anchor="end">{y}</text>')
    step = _tick_step(x1 - x0, 12.0 if in_hours else 1.0)
    tick = math.ceil(x0 / step) * step
    while tick <= x1 + 1e-9:
        parts.append(f'<text x="{px(tick):.1f}" y="{PLOT_H - bottom + 12}" text-anchor="middle">{tick:g}</text>')
        tick += step
    unit = "hours post-insemination" if in_hours else "frame"
    parts.append(f'<text x="{(PLOT_W + left) / 2}" y="{PLOT_H - 3}" text-anchor="middle">{unit}</text>')
    parts.append(f'<text x="10" y="{PLOT_H / 2}" transform="rotate(-90 10 {PLOT_H / 2})" '
                 'text-anchor="middle">fragmentation %</text>')
    parts.append("</svg>")
    return "".join(parts)


def _frame_png(store: ProjectStore, frame: FrameRecord) -> tuple[str, str]:
    """(base64 PNG of the frame with its mask drawn as outlines, whose mask it is), cropped on the embryo."""
    image = cv2.imread(str(frame.image_path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return "", "frame file unreadable"
    revision = store.latest_mask(frame.id)
    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    whose = "no mask"
    if revision is not None:
        mask = store.read_mask(revision)
        if mask.shape == image.shape:
            whose = "model" if revision.author_kind == "model" else f"{revision.author}"
            for cls, (r, g, b) in CLASS_COLOURS.items():
                contours, _ = cv2.findContours((mask == cls).astype(np.uint8), cv2.RETR_EXTERNAL,
                                               cv2.CHAIN_APPROX_NONE)
                cv2.drawContours(bgr, contours, -1, (b, g, r), max(1, image.shape[0] // 250))
            box = embryo_box(mask)
            if box is not None:
                x0, y0, x1, y1 = (int(round(v)) for v in box)
                h, w = image.shape
                crop = bgr[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
                bgr = crop if crop.size else bgr
    bgr = cv2.resize(bgr, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", bgr)
    return (base64.b64encode(png.tobytes()).decode("ascii") if ok else ""), whose


def _grade_cell(grade: DayGrade | None) -> str:
    if grade is None:
        return "<td colspan='4'>no frame in the window</td>"
    who = ", ".join(grade.reviewers) or "not reviewed"
    return (f"<td><b>{html.escape(grade.grade)}</b></td><td>{grade.pct:.1f} %</td>"
            f"<td>{grade.source} ({grade.frames} frame(s))</td><td>{html.escape(who)}</td>")


def _embryo_section(
    store: ProjectStore, key: str, frames: list[FrameRecord], hours, answers, model: str, scheme: GradingScheme
) -> str:
    rows = _series(frames, hours, answers)
    in_hours = all(hours[f.id] is not None for f in frames)
    points = [FramePoint(x, a.pct, a.by_person, a.reviewer) for _f, x, a in rows if in_hours and a.pct is not None]
    days = day_grades_of(points, scheme)
    pcts = [a.pct for _f, _x, a in rows if a.pct is not None]
    median = statistics.median(pcts) if pcts else None
    out = [f"<section><h1>Embryo {html.escape(key)}</h1>"]
    out.append(f"<div class='meta'>{len(frames)} frames · model {html.escape(model)} · scheme "
               f"{html.escape(scheme.key)} · printed {datetime.now():%Y-%m-%d %H:%M}</div>")
    out.append("<table><tr><th></th><th>grade</th><th>%</th><th>decided by</th><th>reviewed by</th></tr>")
    for day, target in GRADING_DAYS:
        grade = days.get(day) if in_hours else None
        label = f"{day} ({target:g} ± {WINDOW_H:g} h)"
        cell = _grade_cell(grade) if in_hours else "<td colspan='4'>no hours: set the timing to grade by day</td>"
        out.append(f"<tr><th>{label}</th>{cell}</tr>")
    if median is not None:
        out.append(f"<tr><th>whole time-lapse (median)</th><td>{html.escape(scheme.grade(median))}</td>"
                   f"<td>{median:.1f} %</td><td colspan='2'>{len(pcts)} frame(s)</td></tr>")
    out.append("</table>")
    out.append(_plot_svg(rows, scheme, in_hours))
    if in_hours:
        out.append("<div>")
        for day, target in GRADING_DAYS:
            f, x, a = min(rows, key=lambda row: abs(row[1] - target))
            if abs(x - target) > WINDOW_H:
                continue
            data, whose = _frame_png(store, f)
            pct = "—" if a.pct is None else f"{a.pct:.1f} %"
            out.append(f"<figure><img alt='frame {f.frame_number}' src='data:image/png;base64,{data}'/>"
                       f"<figcaption>{day}: frame {f.frame_number} at {x:.1f} h · {pct} · mask: "
                       f"{html.escape(whose)}</figcaption></figure>")
        out.append("</div>")
    out.append("</section>")
    return "\n".join(out)


def write_embryo_report(store: ProjectStore, out: str | Path, scheme: GradingScheme) -> int:
    """One printable HTML file, a page per embryo; returns the number of embryos written."""
    frames = central_plane_frames(store.frames())
    hours = frame_hours(frames, store.timings())
    by_embryo: dict[str, list[FrameRecord]] = {}
    for f in frames:
        by_embryo.setdefault(f.embryo_key, []).append(f)
    answers = frame_answers(store, frames)  # once for the project: the same rule as the day grades
    active = store.active_model()
    model = active["version"] if active is not None else "none"
    sections = [
        _embryo_section(store, key, fs, hours, answers, model, scheme) for key, fs in sorted(by_embryo.items())
    ]
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>EmbryoGrade report</title>"
            f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>")
    atomic_write_text(Path(out), page)
    return len(sections)
