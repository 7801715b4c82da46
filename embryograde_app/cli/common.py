"""What the commands share: the one-line user-facing error, the progress bar, the list of skipped inputs."""

from __future__ import annotations

import sys


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def progress_bar(total: int, desc: str):
    """tqdm bar that stays quiet when stderr is not a terminal (CI, pipes, the GUI)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not sys.stderr.isatty(), leave=False)


def print_skipped(skipped: list[str]) -> None:
    """Each input that was skipped, and why, on stderr (the command then exits 1)."""
    if skipped:
        print(f"{len(skipped)} problem(s):", file=sys.stderr)
        for line in skipped:
            print(f"  {line}", file=sys.stderr)
