"""Batch grading: frames in, predictions out, with the time split into read, preprocess, forward, write.

Two destinations share one loop: a CSV grade report for plain folders and files, and the project store
(`grade PROJECT`), which records each prediction and its mask. Both are resumable: frames already graded
by the same model version are skipped, so a run killed half-way is finished by running it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embryograde_app.core.domain.schemes import DEFAULT_SCHEME, frag_pct, get_scheme
from embryograde_app.core.io.frames import FrameReadError, NoFramesError, naming, open_frames
from embryograde_app.core.project.frame_import import embryo_keys
from embryograde_app.core.project.grade_reports import (
    GradeReportWriter,
    GradeRow,
    read_report_keys,
    write_embryo_summary,
)
from embryograde_app.core.project.registry import ensure_active_model
from embryograde_app.core.project.store import ProjectError, ProjectStore

Progress = Callable[[int, int], None]


@dataclass
class StageTimes:
    """Seconds spent in each stage of the pipeline (for the benchmark and the closing summary)."""

    read: float = 0.0
    preprocess: float = 0.0
    forward: float = 0.0
    postprocess: float = 0.0
    write: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "read_s": self.read,
            "preprocess_s": self.preprocess,
            "forward_s": self.forward,
            "postprocess_s": self.postprocess,
            "write_s": self.write,
        }


@dataclass
class GradingSummary:
    graded: int = 0
    already_graded: int = 0
    skipped: list[str] = field(default_factory=list)
    times: StageTimes = field(default_factory=StageTimes)
    model_version: str = ""
    cancelled: bool = False

    def line(self) -> str:
        return (
            f"graded {self.graded} frame(s), {self.already_graded} already graded by {self.model_version}, "
            f"{len(self.skipped)} skipped"
        )


@dataclass(frozen=True)
class FrameJob:
    """One frame to grade: how to read it and who it is (for the report or the store)."""

    key: str  # unique per frame, e.g. a source path (+ page) or a project frame id
    read: Callable[[], np.ndarray]
    embryo_id: str
    frame: int
    well: int | None = None
    focal_plane: int | None = None
    time_h: float | None = None
    frame_id: int | None = None


def run_jobs(
    predictor,
    jobs: Iterable[FrameJob],
    on_result: Callable[[FrameJob, object], None],
    summary: GradingSummary,
    batch_size: int = 8,
    progress: Progress | None = None,
    total: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Read, preprocess, forward and hand each prediction to on_result, batch by batch.

    should_stop is checked between batches: a cancelled run keeps everything graded so far.
    """
    times = summary.times
    batch_jobs: list[FrameJob] = []
    batch_frames: list[np.ndarray] = []
    done = 0

    def flush() -> None:
        nonlocal done
        if not batch_jobs:
            return
        t = time.perf_counter()
        tensor, views = predictor.preprocess(batch_frames)
        times.preprocess += time.perf_counter() - t
        t = time.perf_counter()
        out = predictor.forward(tensor)
        times.forward += time.perf_counter() - t
        t = time.perf_counter()
        predictions = predictor.postprocess(out, views, maps=False)  # grading stores masks and readings
        times.postprocess += time.perf_counter() - t
        t = time.perf_counter()
        for job, pred in zip(batch_jobs, predictions, strict=True):
            on_result(job, pred)
        times.write += time.perf_counter() - t
        summary.graded += len(batch_jobs)
        done += len(batch_jobs)
        if progress is not None:
            progress(done, total)
        batch_jobs.clear()
        batch_frames.clear()

    for job in jobs:
        if should_stop is not None and not batch_jobs and should_stop():
            summary.cancelled = True
            return
        t = time.perf_counter()
        try:
            frame = job.read()
        except (FrameReadError, ProjectError, OSError, ValueError) as exc:
            summary.skipped.append(str(exc))
            continue
        finally:
            times.read += time.perf_counter() - t
        batch_jobs.append(job)
        batch_frames.append(frame)
        if len(batch_jobs) >= batch_size:
            flush()
    flush()


# ------------------------------------------------------------------------------------ plain inputs -> CSV
def _jobs_from_inputs(inputs: list[Path], summary: GradingSummary) -> Iterator[FrameJob]:
    for source in inputs:
        first = len(summary.skipped)  # this source's problems start here
        try:
            seq = open_frames(source)
        except (NoFramesError, OSError, ValueError) as exc:
            summary.skipped.append(naming(source, exc))
            continue
        name = source.stem if source.is_file() else source.name
        embryos = embryo_keys(name, seq.infos)
        for i, info in enumerate(seq.infos):
            key = str(info.source) + (f"#{info.page}" if info.page is not None else "")
            yield FrameJob(
                key=key,
                read=lambda seq=seq, i=i: seq.read_uint8(i),
                embryo_id=embryos[i],
                frame=info.frame_number,
                well=info.well,
                focal_plane=info.focal_plane,
            )
        # A frame that failed to read is in both the job's error and the reader's problems: list it once (only
        # within this source: another folder's file of the same name is another problem).
        listed = set(summary.skipped[first:])
        summary.skipped.extend(p for p in map(str, seq.problems) if p not in listed)
        seq.close()


def grade_inputs_to_csv(
    predictor,
    inputs: list[str | Path],
    csv_out: str | Path,
    scheme_name: str = DEFAULT_SCHEME,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> GradingSummary:
    """Grade folders/files into a CSV report (+ per-embryo summary); a re-run appends only what is new."""
    scheme = get_scheme(scheme_name)
    summary = GradingSummary(model_version=predictor.version)
    done_keys = read_report_keys(csv_out, predictor.version)
    writer = GradeReportWriter(csv_out)

    def pending() -> Iterator[FrameJob]:
        for job in _jobs_from_inputs([Path(p) for p in inputs], summary):
            if job.key in done_keys:
                summary.already_graded += 1
                continue
            yield job

    def on_result(job: FrameJob, pred) -> None:
        area = frag_pct(pred.mask)
        writer.add(
            GradeRow(
                embryo_id=job.embryo_id,
                well=job.well,
                focal_plane=job.focal_plane,
                frame=job.frame,
                time_h=job.time_h,
                frag_pct_model=pred.regression_pct,
                frag_pct_mask=area,
                grade=scheme.grade(pred.regression_pct),
                scheme=scheme.key,
                label_source="model",
                model_version=predictor.version,
                source=job.key,
                mask_source="model",
            )
        )

    try:
        run_jobs(predictor, pending(), on_result, summary, batch_size, progress)
    finally:
        writer.close()
    write_embryo_summary(csv_out, scheme)
    return summary


# ------------------------------------------------------------------------------------ project
def grade_project(
    project: str | Path,
    predictor_factory: Callable[[Path], object],
    scheme_name: str = DEFAULT_SCHEME,
    batch_size: int = 8,
    weights: str | Path | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> GradingSummary:
    """Grade every frame of a project with its active model; predictions and masks go into the store."""
    scheme = get_scheme(scheme_name)
    with ProjectStore(project) as store:
        version, path = ensure_active_model(store, weights)
        predictor = predictor_factory(path)
        predictor.meta.setdefault("version", version)
        summary = GradingSummary(model_version=version)
        graded = store.graded_frame_ids(version)
        frames = store.frames()
        todo = [f for f in frames if f.id not in graded]
        summary.already_graded = len(frames) - len(todo)
        jobs = (
            FrameJob(
                key=str(f.id),
                read=lambda f=f: store.read_frame(f.id),
                embryo_id=f.embryo_key,
                frame=f.frame_number,
                focal_plane=f.focal_plane,
                time_h=f.time_h,
                frame_id=f.id,
            )
            for f in todo
        )

        def on_result(job: FrameJob, pred) -> None:
            store.add_prediction(
                job.frame_id, version, pred.regression_pct, pred.mask, scheme.grade(pred.regression_pct), scheme.key
            )

        run_jobs(predictor, jobs, on_result, summary, batch_size, progress, total=len(todo), should_stop=should_stop)
        # Another `grade` on the same project may have written some of these first: report what this one wrote.
        summary.already_graded += summary.graded - store.predictions_written
        summary.graded = store.predictions_written
    return summary
