"""Benchmark: batch grading of 500x500 frames on the CPU (ARCHITECTURE.md section 8).

Reports frames per second with the time split into read, preprocess, forward, postprocess and write, and the
resident memory after 10 % of the frames and at the end: memory must not grow with the number of frames.
Budget: the whole pipeline per frame (read, preprocess, infer, postprocess, store) <= 0.8x the bare torch
forward of a plain DeepLabV3+ with the same encoder (the classic layout of bench.bench_inference, channels-last,
same batch size), measured in the same run; the pipeline runs the network under ONNX Runtime where it is
installed (models/inference/onnx_backend.py). Also reported: the pipeline against our own forward alone, and the peak
resident memory of the command-line `grade` on a folder (budget < 1 GB; --cli-folder, e.g. a real sequence).
Run: python -m bench.bench_grade [--quick] [--frames 300] [--to csv|project] [--cli-folder DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.workdir import scratch_dir
from embryograde_app.paths import BUNDLED_WEIGHTS


def rss_mb() -> float:
    """Current resident set size (Linux /proc; falls back to the peak from getrusage elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def make_frames(folder: Path, n: int, size: int) -> None:
    """n frames of a few synthetic embryos (rendered once per embryo, then written as JPEG like EmbryoScope)."""
    import cv2

    from embryograde_app.core.synth.generator import render_embryo

    per_embryo = 25
    written = 0
    index = 0
    while written < n:
        count = min(per_embryo, n - written)
        for item in render_embryo(index, count, size=size, seed=99):
            name = f"D2013.01.01_S0001_I132_WELL{index + 1}_RUN{item.frame + 1}.jpeg"
            cv2.imwrite(str(folder / name), item.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            written += 1
        index += 1


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="batch grading throughput and memory")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--weights", default=str(BUNDLED_WEIGHTS))
    parser.add_argument("--to", choices=["csv", "project"], default="project")
    parser.add_argument("--cli-folder", help="folder for the command-line grade's peak memory (default: the bench's)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, like the 2-core workstation")
    args = parser.parse_args(argv)
    n, size = (12, 128) if args.quick else (args.frames, args.size)
    import torch

    torch.set_num_threads(args.threads)

    from embryograde_app.core.grading.batch import GradingSummary, grade_inputs_to_csv, grade_project
    from embryograde_app.core.project.frame_import import import_into_project
    from models.inference.predictor import Predictor

    work = scratch_dir("bench-grade-")
    frames_dir = work / "frames"
    frames_dir.mkdir()
    make_frames(frames_dir, n, size)

    marks: dict[str, float] = {"start": rss_mb()}
    tenth = max(1, n // 10)

    def progress(done: int, total: int) -> None:
        if done >= tenth and "after_10pct" not in marks:
            marks["after_10pct"] = rss_mb()

    start = time.perf_counter()
    if args.to == "project":
        import_into_project(work / "proj", [frames_dir])
        import_s = time.perf_counter() - start
        start = time.perf_counter()
        summary: GradingSummary = grade_project(
            work / "proj",
            lambda p: Predictor.from_file(p, "cpu"),
            batch_size=args.batch_size,
            weights=args.weights,
            progress=progress,
        )
    else:
        import_s = 0.0
        predictor = Predictor.from_file(args.weights, "cpu")
        summary = grade_inputs_to_csv(
            predictor, [frames_dir], work / "report.csv", batch_size=args.batch_size, progress=progress
        )
    total_s = time.perf_counter() - start
    marks["end"] = rss_mb()

    # Baseline in the same run: the network alone on the same number of batches of the same size.
    predictor = Predictor.from_file(args.weights, "cpu")
    batch, _ = predictor.preprocess([np.zeros((size, size), np.uint8)] * args.batch_size)
    n_batches = max(1, min(8, n // args.batch_size))
    t = time.perf_counter()
    for _ in range(n_batches):
        predictor.forward(batch)
    forward_only_fps = n_batches * args.batch_size / (time.perf_counter() - t)

    plain_s = plain_forward_seconds_per_frame(predictor, args.batch_size, n_batches)
    pipeline_s = total_s / max(summary.graded, 1)
    cli_rss = cli_peak_rss_mb(Path(args.cli_folder) if args.cli_folder else frames_dir, args.weights, work)
    fps = summary.graded / total_s if total_s else 0.0
    times = summary.times.as_dict()
    result = {
        "frames": summary.graded,
        "size": size,
        "destination": args.to,
        "import_s": round(import_s, 2),
        "grade_s": round(total_s, 2),
        "fps": round(fps, 2),
        "forward_only_fps": round(forward_only_fps, 2),
        "pipeline_vs_forward_only": round(fps / forward_only_fps, 3) if forward_only_fps else None,
        "backend": predictor.backend,
        "pipeline_ms_per_frame": round(1000 * pipeline_s, 2),
        "plain_deeplabv3plus_torch_forward_ms_per_frame": round(1000 * plain_s, 2),
        "pipeline_vs_plain_torch_forward": round(pipeline_s / plain_s, 3),
        "budget_vs_plain": 0.8,
        "cli_grade_peak_rss_mb": cli_rss,
        "budget_rss_mb": 1000,
        **{k: round(v, 2) for k, v in times.items()},
        "share": {k: round(v / max(sum(times.values()), 1e-9), 3) for k, v in times.items()},
        "rss_mb": {k: round(v, 1) for k, v in marks.items()},
        "rss_growth_after_10pct_mb": round(marks["end"] - marks.get("after_10pct", marks["end"]), 1),
        "skipped": len(summary.skipped),
    }
    print(json.dumps(result, indent=2))
    return result


def plain_forward_seconds_per_frame(predictor, batch_size: int, n_batches: int) -> float:
    """The baseline: a plain DeepLabV3+ with our encoder (one stride-4 skip, no gates, no regression head), run by
    torch in channels-last on the same batches, as bench.bench_inference builds it."""
    from dataclasses import replace

    import torch

    from models import AttnRegDeepLab

    cfg = replace(
        predictor.cfg, skip_strides=(4,), attention_gates=False, regression_head=False, area_input=False,
        refine_width=0,
    )
    plain = AttnRegDeepLab(cfg).eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, 1, cfg.input_size, cfg.input_size)
    with torch.inference_mode():
        plain(x)
        t = time.perf_counter()
        for _ in range(n_batches):
            plain(x)
    return (time.perf_counter() - t) / (n_batches * batch_size)


def cli_peak_rss_mb(folder: Path, weights: str, work: Path) -> float | None:
    """Peak resident memory of `main.py grade FOLDER --csv` in a fresh process: its own VmHWM, printed at exit
    (the children's ru_maxrss would count the benchmark's own pages, copied into the child by fork)."""
    import re
    import subprocess
    import sys

    from embryograde_app.paths import REPO_ROOT

    main_py = REPO_ROOT / "main.py"
    argv = [str(main_py), "grade", str(folder), "--csv", str(work / "cli.csv"), "--weights", weights]
    code = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('VmHWM_kB', open('/proc/self/status').read().split('VmHWM:')[1].split()[0],"
        " file=sys.stderr))\n"
        f"sys.argv = {argv!r}\n"
        f"runpy.run_path({str(main_py)!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = re.search(r"VmHWM_kB (\d+)", done.stderr)
    return round(int(found.group(1)) / 1e3, 1) if found else None


if __name__ == "__main__":
    main()
