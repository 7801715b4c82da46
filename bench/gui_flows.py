"""The window's event loop over whole flows: the worst gap, not a median after warm-up (ARCHITECTURE.md 8).

A 10-ms QTimer on the GUI thread records every gap between its ticks, labelled with the flow running:
model load (from the window's first show), *Grade all*, scrubbing, a retrain, publishing the candidate and
the re-grade that follows. A gap longer than the timer's interval is time the event loop could not run: a
redraw, a slot, or another thread holding the GIL (a garbage collection of the whole heap, say). Budget: the
worst gap of every flow < 50 ms on the 2-core machine.

Used by bench.bench_gui (which prints the numbers); `run_flows` needs a QApplication.
"""

from __future__ import annotations

import collections
import gc
import statistics
import sys
import threading
import time
from pathlib import Path

GAP_BUDGET_MS = 50.0
TICK_MS = 10


class StackSampler:
    """Where the GUI thread is, every few ms, from a helper thread: what a gap was spent on. The helper needs the
    GIL to look, so a gap held by one C call shows as that call's Python caller, sampled on either side."""

    def __init__(self, interval_s: float = 0.003, keep: int = 4000):
        self.main_id = threading.get_ident()
        self.samples: collections.deque[tuple[float, tuple[str, ...]]] = collections.deque(maxlen=keep)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        me = threading.get_ident()
        while not self._stop.wait(interval_s):
            frames = sys._current_frames()
            stack = [*self._stack(frames.get(self.main_id), 4)]
            for ident, frame in frames.items():  # the other threads' tops: who else holds the GIL
                if ident not in (self.main_id, me):
                    stack.append("| " + " < ".join(self._stack(frame, 3)))
            self.samples.append((time.perf_counter(), tuple(stack)))

    @staticmethod
    def _stack(frame, depth: int) -> list[str]:
        stack = []
        while frame is not None and len(stack) < depth:
            code = frame.f_code
            stack.append(f"{Path(code.co_filename).name}:{frame.f_lineno} {code.co_name}")
            frame = frame.f_back
        return stack

    def during(self, start: float, end: float) -> list[tuple[str, ...]]:
        return [stack for t, stack in list(self.samples) if start - 0.004 <= t <= end + 0.004]

    def stop(self) -> None:
        self._stop.set()


class GapMeter:
    """Ticks every TICK_MS on the GUI thread; keeps each gap in the flow that was running."""

    def __init__(self, sample_stacks: bool = False) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.sampler = StackSampler() if sample_stacks else None
        self.gap_stacks: list[dict] = []  # for each gap over budget: where the GUI thread was meanwhile
        self.flow = "idle"
        self.gaps: dict[str, list[float]] = {}
        self.long_gaps: dict[str, list[tuple[float, float]]] = {}  # (seconds into the flow, gap ms) over budget
        self._flow_start = time.perf_counter()
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = 1000 * (now - self._last)
        self.gaps.setdefault(self.flow, []).append(gap)
        if gap > GAP_BUDGET_MS:
            self.long_gaps.setdefault(self.flow, []).append((round(now - self._flow_start, 2), round(gap, 1)))
            if self.sampler is not None:
                stacks = collections.Counter(self.sampler.during(self._last, now))
                common = [[n, list(stack)] for stack, n in stacks.most_common(4)]
                self.gap_stacks.append({"flow": self.flow, "gap_ms": round(gap, 1), "stacks": common})
        self._last = now

    def start(self, flow: str) -> None:
        self.flow = flow
        self._last = time.perf_counter()
        self._timer.start()

    def switch(self, flow: str) -> None:
        self.flow = flow
        self._flow_start = time.perf_counter()

    def stop(self) -> None:
        self._timer.stop()
        if self.sampler is not None:
            self.sampler.stop()

    def summary(self) -> dict:
        out = {}
        for flow, gaps in self.gaps.items():
            out[flow] = {
                "worst_gap_ms": round(max(gaps), 1),
                "median_gap_ms": round(statistics.median(gaps), 1),
                "ticks": len(gaps),
                "gaps_over_budget": sum(g > GAP_BUDGET_MS for g in gaps),
                "long_gaps_at_s_ms": self.long_gaps.get(flow, []),
            }
        return out


def pump_until(app, done, timeout_s: float) -> bool:
    """Run the event loop until done() (True) or the timeout (False), sleeping between rounds so the
    benchmark itself holds neither the GIL nor a core."""
    end = time.perf_counter() + timeout_s
    while time.perf_counter() < end:
        app.processEvents()
        if done():
            return True
        time.sleep(0.002)
    return False


def make_project(root: Path, embryos: int, frames: int, size: int, weights: str) -> Path:
    """A project of generator frames (every frame with a mask, so stage 2 has labels) and the model active."""
    from embryograde_app.core.project.frame_import import import_into_project
    from embryograde_app.core.project.registry import ensure_active_model
    from embryograde_app.core.project.store import ProjectStore
    from embryograde_app.core.synth.generator import generate_dataset

    data = root.parent / f"{root.name}_frames"
    generate_dataset(data, embryos=embryos, frames=frames, size=size, seed=31)
    import_into_project(root, [data])
    with ProjectStore(root) as store:
        ensure_active_model(store, weights)
    return root


def make_real_project(root: Path, folders: list[Path], weights: str, every: int = 10) -> Path:
    """A project of real time-lapses, every `every`-th frame carrying a range label (10-25 %), so the retrain
    flow has labels to train on; the labels exercise the flow, they are not anybody's grading."""
    from embryograde_app.core.project.frame_import import import_into_project
    from embryograde_app.core.project.registry import ensure_active_model
    from embryograde_app.core.project.store import ProjectStore

    import_into_project(root, folders)
    with ProjectStore(root) as store:
        ids = [f.id for f in store.frames()]
        store.set_range_labels(ids[::every], 10.0, 25.0, author="bench")
        ensure_active_model(store, weights)
    return root


def run_flows(
    app,
    project: Path,
    weights: str,
    settings,
    retrain: dict,
    scrub_frames: int = 100,
    size=(1600, 1000),
    sample_stacks: bool = False,
    until: str | None = None,
) -> dict:
    """Launch -> model load -> Grade all -> scrub -> retrain -> publish -> re-grade, one gap meter throughout."""
    from embryograde_app import heap
    from embryograde_app.ui import create_main_window

    was_enabled = heap.is_enabled()
    heap.enable()  # as the application's run_gui does
    meter = GapMeter(sample_stacks)
    seconds: dict[str, float] = {}
    finished: list[tuple[str, object]] = []

    def timed(flow: str, start, done, timeout_s: float) -> bool:
        meter.switch(flow)
        t = time.perf_counter()
        start()
        ok = pump_until(app, done, timeout_s)
        seconds[flow] = round(time.perf_counter() - t, 2)
        return ok

    t0 = time.perf_counter()
    window = create_main_window(project, settings=settings, weights=weights)
    window.resize(*size)
    window.show()
    heap.settle("start-up")
    seconds["launch_to_window"] = round(time.perf_counter() - t0, 2)
    # The window's first paint (Qt maps, polishes and paints every widget: ~120-160 ms here) happens before
    # anybody can see or use the window, so it is reported on its own line, not counted as a stall.
    t_paint = time.perf_counter()
    pump_until(app, lambda: window.windowHandle() is not None and window.windowHandle().isExposed(), 10)
    app.processEvents()
    seconds["first_paint"] = round(time.perf_counter() - t_paint, 3)
    meter.start("model load")
    pa, panel = window.project_actions, window.training_panel
    pa.task_finished.connect(lambda name, result: finished.append((name, result)))
    worker = lambda: window.inference.worker if window.inference is not None else None  # noqa: E731
    ok = {}
    ok["model load"] = timed("model load", lambda: None, lambda: worker() is not None and worker().idle, 180)
    ok["grade all"] = timed("grade all", pa.grade_all, lambda: any(n == "Grade all" for n, _ in finished), 900)
    if until == "grade all":  # the first flows only (looking for where a gap goes)
        meter.stop()
        window.close()
        return {"flows": meter.summary(), "seconds": seconds, "gap_stacks": meter.gap_stacks}

    state = {"i": 0, "next": 0.0}

    def scrub_step() -> bool:  # one frame every 40 ms, like a person dragging the slider
        if time.perf_counter() >= state["next"]:
            window.frame_slider.setValue(state["i"] % max(1, window.frame_slider.maximum() + 1))
            state["i"] += 1
            state["next"] = time.perf_counter() + 0.04
        return state["i"] >= scrub_frames

    ok["scrub"] = timed("scrub", lambda: None, scrub_step, 120)
    candidates: list = []
    panel.runner.finished.connect(candidates.append)
    failures: list[str] = []
    panel.runner.failed.connect(failures.append)
    ok["retrain"] = timed("retrain", lambda: panel.start_retrain(**retrain), lambda: bool(candidates or failures), 900)
    finished.clear()
    changed: list[str] = []
    panel.model_changed.connect(changed.append)
    ok["publish"] = timed("publish", lambda: panel.publish(ask=False), lambda: bool(changed), 120)
    ok["re-grade"] = timed("re-grade", lambda: None, lambda: any(n == "Grade all" for n, _ in finished), 900)
    meter.stop()
    window.close()
    frozen = heap.frozen_count()
    if not was_enabled:  # a test process goes back to Python's defaults
        heap.disable()
        gc.unfreeze()
    flows = meter.summary()
    worst = max((f["worst_gap_ms"] for f in flows.values()), default=0.0)
    return {
        "flows": flows,
        "seconds": seconds,
        "completed": ok,
        "retrain_failures": failures,
        "worst_gap_ms": worst,
        "budget_ms": GAP_BUDGET_MS,
        "within_budget": worst < GAP_BUDGET_MS,
        "frozen_objects": frozen,
        "gap_stacks": meter.gap_stacks,
    }
