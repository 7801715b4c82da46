"""Keeps Python's cyclic garbage collector from freezing the window.

With torch, PySide6, pyqtgraph and a model loaded, the process tracks some 384,000 objects, and one full
collection scans all of them: about 170 ms on 2 cores, on whichever thread happens to trigger it, holding the
GIL, so the event loop waits. Almost all of those objects live as long as the process (modules, the
network's parameters, Qt wrappers). `gc.freeze()` moves every object alive now into a permanent generation
that collections never scan, so a later collection only looks at what was made since. It costs next to
nothing (a list splice), so it is safe on a worker thread; no collection is run first (that would be the
stall itself), which keeps whatever garbage happens to exist at that moment: a few kilobytes.

The other GIL habit that freezes the window: a worker thread running Python (an import of torch's
distributed modules at a first retrain, a network being built) keeps the GIL until the GUI thread has waited
a whole switch interval (5 ms) for it, and the GUI thread needs it again for every Python slot and paint
callback of a frame, so one redraw can wait 20 times in a row. The window's process asks for a 1 ms switch
interval: the event loop gets the GIL back five times sooner, for a few per cent of the workers' speed.

The window's process opts in (`enable()`, from ui.app.run_gui and the GUI benchmark); a library user or the
test suite, which opens and closes many windows in one process, is left with Python's defaults.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_S = 0.001
_enabled = False
_default_switch_interval = sys.getswitchinterval()


def enable() -> None:
    """Freeze from now on at every `settle()`, and hand the GIL back to the GUI thread sooner (the window's
    process)."""
    global _enabled
    _enabled = True
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def disable() -> None:
    global _enabled
    _enabled = False
    sys.setswitchinterval(_default_switch_interval)


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
