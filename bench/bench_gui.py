"""Benchmark: the window's budgets (ARCHITECTURE.md section 8), measured offscreen.

* frame switch with overlays (500x500, model mask + attention cached): median ms, against the baseline of a
  bare pyqtgraph ImageItem showing the same frames in the same run. Timed once the model has loaded and gone
  idle: while the worker imports torch and loads weights (seconds, mostly under the GIL) every thread of the
  process slows down, which is the stall test's business, not the steady-state switch's;
* the longest event-loop stall while the real model infers in the background;
* launch to first window (a fresh interpreter);
* resident memory while scrubbing a 1,000-frame time-lapse (must stay bounded);
* the worst event-loop gap over whole flows (bench/gui_flows.py): model load, Grade all on a 300-frame
  project, scrubbing, a retrain, publishing and the re-grade, with the median gap beside it.

Run: python -m bench.bench_gui [--quick] [--flows-only]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.workdir import scratch_dir

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LAUNCH_CODE = """
import time, sys
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QSettings
app = QApplication([])
from embryograde_app.ui import create_main_window
w = create_main_window(None, settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
w.show(); app.processEvents()
print(time.perf_counter() - t0)
"""


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _frames(folder: Path, n: int, size: int) -> None:
    import cv2

    from embryograde_app.core.synth.generator import render_embryo

    for item in render_embryo(0, min(n, 40), size=size, seed=5):
        cv2.imwrite(str(folder / f"frame_{item.frame:04d}.jpg"), item.image)
    base = sorted(folder.glob("*.jpg"))
    for i in range(len(base), n):  # reuse rendered frames: what matters is the count on disk
        (folder / f"frame_{i:04d}.jpg").write_bytes(base[i % len(base)].read_bytes())


def _wait_until_idle(app, window, timeout_s: float, settle_s: float = 0.5) -> float | None:
    """Seconds until the window's model worker has loaded and stayed idle for settle_s (None: it never did)."""
    t0 = time.perf_counter()
    idle_since = None
    while time.perf_counter() - t0 < timeout_s:
        app.processEvents()
        worker = window.inference.worker if window.inference is not None else None
        if worker is not None and worker.idle:
            idle_since = idle_since or time.perf_counter()
            if time.perf_counter() - idle_since >= settle_s:
                return idle_since - t0
        else:
            idle_since = None
        time.sleep(0.01)
    return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="GUI budgets")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--weights", help="weights for the stall test (default: bundled)")
    parser.add_argument("--flows-only", action="store_true", help="only the whole-flow event-loop gaps")
    parser.add_argument("--real", nargs="*", help="flows on these real time-lapse folders instead of generator frames")
    parser.add_argument("--window", default="1600x1000", help="window size for the flows, WxH")
    parser.add_argument("--stacks", action="store_true", help="sample where the GUI thread is during each long gap")
    parser.add_argument("--until", choices=["grade all"], help="stop after this flow")
    args = parser.parse_args(argv)
    if args.flows_only:
        result = flows(args)
        print(json.dumps(result, indent=2))
        return result
    n_frames, size, switches = (30, 128, 10) if args.quick else (1000, 500, 100)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    import pyqtgraph as pg

    from embryograde_app.paths import BUNDLED_WEIGHTS
    from embryograde_app.ui import create_main_window
    from embryograde_app.workers import FramePrediction

    work = scratch_dir("bench-gui-")
    folder = work / "seq"
    folder.mkdir()
    _frames(folder, n_frames, size)
    settings = QSettings(str(work / "s.ini"), QSettings.Format.IniFormat)

    # Launch to first window, in a fresh interpreter.
    launch = float(
        subprocess.run(
            [sys.executable, "-c", LAUNCH_CODE, str(work / "l.ini")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ},
        )
        .stdout.strip()
        .splitlines()[-1]
    )

    rss_before = rss_mb()
    window = create_main_window(folder, settings=settings, weights=args.weights or str(BUNDLED_WEIGHTS))
    window.resize(1500, 850)
    window.show()
    app.processEvents()
    entry = window.current_embryo
    model_ready_s = _wait_until_idle(app, window, timeout_s=120)

    # Fill the prediction cache so every switch draws mask + attention overlays.
    for i in range(switches):
        image = entry.sequence.read_uint8(i)
        mask = (image > 120).astype(np.uint8) + (image > 200)
        key = window._key(entry, i)
        window.predictions.put(key, FramePrediction(key, mask, image / 255.0, 10.0, 12.0, "bench"))
    switch_ms = []
    for i in range(switches):
        t = time.perf_counter()
        window.frame_slider.setValue(i)
        app.processEvents()
        switch_ms.append(1000 * (time.perf_counter() - t))

    # Baseline: a bare ImageItem showing the same frames.
    plain = pg.GraphicsLayoutWidget()
    vb = plain.addViewBox(lockAspect=True)
    item = pg.ImageItem(axisOrder="row-major")
    vb.addItem(item)
    plain.resize(500, 500)
    plain.show()
    base_ms = []
    for i in range(switches):
        t = time.perf_counter()
        item.setImage(entry.sequence.read_uint8(i), autoLevels=False, levels=(0, 255))
        app.processEvents()
        base_ms.append(1000 * (time.perf_counter() - t))

    # Event-loop stall while the real model infers frames that are not cached yet.
    window.predictions.clear()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    end = time.perf_counter() + (3 if args.quick else 15)
    i = 0
    while time.perf_counter() < end:
        window.frame_slider.setValue(i % n_frames)
        i += 1
        t_next = time.perf_counter() + 0.2
        while time.perf_counter() < t_next:
            app.processEvents()
            time.sleep(0.001)
    timer.stop()
    stall_ms = 1000 * max((b - a for a, b in zip(ticks, ticks[1:], strict=False)), default=0.0)
    inferred = len(window.predictions)

    # Memory while scrubbing the whole time-lapse.
    rss_mid = None
    for k in range(n_frames):
        window.frame_slider.setValue(k)
        app.processEvents()
        if k == n_frames // 10:
            rss_mid = rss_mb()
    rss_end = rss_mb()
    window.close()

    result = {
        "frames": n_frames,
        "size": size,
        "launch_to_first_window_s": round(launch, 3),
        "model_loaded_and_idle_s": None if model_ready_s is None else round(model_ready_s, 2),
        "frame_switch_ms_median": round(statistics.median(switch_ms), 2),
        "baseline_image_only_ms_median": round(statistics.median(base_ms), 2),
        "switch_vs_baseline": round(statistics.median(switch_ms) / max(statistics.median(base_ms), 1e-6), 2),
        "event_loop_longest_stall_ms": round(stall_ms, 1),
        "frames_inferred_during_stall_test": inferred,
        "rss_mb": {
            "before_open": round(rss_before, 1),
            "after_10pct_scrub": round(rss_mid or 0, 1),
            "after_full_scrub": round(rss_end, 1),
        },
        "budgets": {"frame_switch_ms": 16, "stall_ms": 50, "launch_s": 2},
        "whole_flows": flows(args),
    }
    print(json.dumps(result, indent=2))
    return result


def flows(args: argparse.Namespace) -> dict:
    """The whole-flow gaps on a fresh project: 300 frames at 500 px (quick: 12 at 96 px)."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from bench.gui_flows import make_project, make_real_project, run_flows
    from embryograde_app.paths import BUNDLED_WEIGHTS

    app = QApplication.instance() or QApplication([])
    weights = args.weights or str(BUNDLED_WEIGHTS)
    embryos, frames, size = (4, 3, 96) if args.quick else (10, 30, 500)
    work = scratch_dir("bench-flows-")
    if getattr(args, "real", None):
        project = make_real_project(work / "proj", [Path(p) for p in args.real], weights)
        val_fraction = 0.5  # one of two embryos held out
    else:
        project = make_project(work / "proj", embryos, frames, size, weights)
        val_fraction = 0.25
    settings = QSettings(str(work / "s.ini"), QSettings.Format.IniFormat)
    retrain = {"stage": "2", "epochs": 2 if args.quick else 5, "views": 1, "device": "cpu"}
    retrain["val_fraction"] = val_fraction
    window = tuple(int(v) for v in getattr(args, "window", "1600x1000").split("x"))
    result = run_flows(
        app, project, weights, settings, retrain, scrub_frames=10 if args.quick else 100, size=window,
        sample_stacks=getattr(args, "stacks", False), until=getattr(args, "until", None),
    )
    result.update(real=getattr(args, "real", None), window=list(window), platform=app.platformName())
    if not getattr(args, "real", None):
        result.update(frames=embryos * frames, size=size)
    return result


if __name__ == "__main__":
    main()
