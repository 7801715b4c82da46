"""`gui`: the grading window, after checking the platform can show it."""

from __future__ import annotations

import argparse
import sys


def cmd_gui(args: argparse.Namespace) -> int:
    from embryograde_app import platform_check

    report = platform_check.check()
    if not report.ok:  # Qt would abort the process; say why instead
        print(platform_check.message(report), file=sys.stderr)
        return 2
    from embryograde_app.ui.app import run_gui

    return run_gui(project=args.project, demo=args.demo)

