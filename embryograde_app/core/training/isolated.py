"""retrain() in a process of its own, for the window.

Training on a thread of the window's process shares its GIL: torch's first optimizer step imports some
1,800 modules (torch._dynamo), and building and evaluating networks holds the GIL in long C calls, so the
event loop stalled 70-90 ms at a time during a retrain (docs/BENCHMARKS.md). A spawned process has its own
interpreter: the window's thread only waits on a queue. Progress, the device and the outcome come back as
picklable messages; the stop flag goes the other way as a multiprocessing Event, checked between batches as
before. Qt-free: the caller decides what to do with the messages.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue as queue_module
import time
from collections.abc import Callable

from embryograde_app.core.project.registry import Candidate, RetrainError
from embryograde_app.core.training.retraining import RetrainSettings, StopFn, UpdateFn

POLL_SECONDS = 0.1  # how often the caller's stop flag and the child's health are looked at
STOP_GRACE_SECONDS = 60.0  # after a stop, how long the child may take to reach its next batch
CHILD_NICE = 10  # the child is background work: the window's event loop goes first when cores are contended


def retrain_in_child_process(
    settings: RetrainSettings,
    on_update: UpdateFn | None = None,
    should_stop: StopFn | None = None,
    on_device: Callable[[str], None] | None = None,
) -> Candidate:
    """Run retrain(settings) in a spawned child and return its candidate; raise what it raised.

    The exceptions are the child's own (TrainingCancelled, TrainingError, RetrainError, ...), so a caller
    handles them as it handles an in-process run. A child that dies without a word (killed, out of memory)
    is a RetrainError naming its exit code; its candidate files are swept by the next run.
    """
    context = multiprocessing.get_context("spawn")  # never fork a process that runs Qt and torch threads
    messages = context.Queue()
    stop = context.Event()
    child = context.Process(
        target=_child_main, args=(settings, messages, stop), name="embryograde-retrain", daemon=True
    )
    child.start()
    stop_asked_at: float | None = None
    try:
        while True:
            if stop_asked_at is None and should_stop is not None and should_stop():
                stop.set()
                stop_asked_at = time.monotonic()
            try:
                kind, payload = messages.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                if not child.is_alive():
                    raise _child_gone(child.exitcode) from None
                if stop_asked_at is not None and time.monotonic() - stop_asked_at > STOP_GRACE_SECONDS:
                    from models.training.loop import TrainingCancelled

                    raise TrainingCancelled("stopped: the training process did not reach its next batch") from None
                continue
            if kind == "update":
                if on_update is not None:
                    on_update(payload)
            elif kind == "device":
                if on_device is not None:
                    on_device(payload)
            elif kind == "done":
                return payload
            else:  # "error"
                raise payload
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join(timeout=5)
        messages.close()


def _child_gone(exitcode: int | None) -> RetrainError:
    how = f"was killed by signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exited ({exitcode})"
    return RetrainError(f"the training process {how} before it finished; the model in use is unchanged")


def _child_main(settings: RetrainSettings, messages, stop) -> None:
    """The child: lower its priority, leave a core to the window, run, and say how it ended."""
    from embryograde_app.core.training.retraining import retrain

    try:
        os.nice(CHILD_NICE)
    except (AttributeError, OSError):
        pass  # not on this platform, or not allowed: it still runs, at normal priority
    try:
        from models.inference.device import describe_device, leave_a_core_for_the_gui, select_device

        leave_a_core_for_the_gui()
        messages.put(("device", describe_device(select_device(settings.device))))
        candidate = retrain(settings, lambda update: messages.put(("update", update)), stop.is_set)
        messages.put(("done", candidate))
    except BaseException as exc:  # noqa: BLE001 - every ending goes back to the caller, which maps it
        messages.put(("error", _picklable(exc)))
    finally:
        messages.close()
        messages.join_thread()  # everything put is flushed before the process exits


def _picklable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling (the caller re-raises its type), else its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any exception type may fail to pickle in its own way
        return RuntimeError(f"{type(exc).__name__}: {exc}")

