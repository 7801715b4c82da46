"""Keeps Python's cyclic garbage collector from freezing the window.

With torch, PySide6, pyqtgraph and a model loaded, the process tracks some 384,000 objects, and one full
collection scans all of them: about 170 ms on 2 cores, on whichever thread happens to trigger it, holding the
GIL, so the event loop waits. Almost all of those objects live as long as the process (modules, the
network's parameters, Qt wrappers). `gc.freeze()` moves every object alive now into a permanent generation
that collections never scan, so a later collection only looks at what was made since. It costs next to
nothing (a list splice), so it is safe on a worker thread; no collection is run first (that would be the
stall itself), which keeps whatever garbage happens to exist at that moment: a few kilobytes.

The window's process opts in (`enable()`, from ui.app.run_gui and the GUI benchmark); a library user or the
test suite, which opens and closes many windows in one process, is left with Python's defaults.
"""

from __future__ import annotations

import gc

_enabled = False


def enable() -> None:
    """Freeze from now on at every `settle()` (the window's process)."""
    global _enabled
    _enabled = True


def disable() -> None:
    global _enabled
    _enabled = False


def is_enabled() -> bool:
    return _enabled


def settle(reason: str = "") -> bool:
    """After start-up's imports and after each model load: freeze what is alive now. True if it froze."""
    if not _enabled:
        return False
    gc.freeze()
    return True


def frozen_count() -> int:
    return gc.get_freeze_count()
