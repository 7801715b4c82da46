"""Screenshot of the main window (run under Xvfb): python scripts/screenshot.py PATH OUT.png [options].

--grade-all runs Grade all first (projects); the grab waits until the model has drawn the frame on screen.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("out")
    parser.add_argument("--embryo", type=int, default=0)
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--size", default="1600x900")
    parser.add_argument("--grade-all", action="store_true")
    parser.add_argument("--panes", type=int, choices=(1, 2, 3), help="view layout (default: the window's own)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    from embryograde_app.ui import create_main_window

    settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
    window = create_main_window(args.path, settings=settings)
    w, h = (int(v) for v in args.size.split("x"))
    window.resize(w, h)
    if args.panes:
        window.view_toolbar.set_panes(args.panes)
    window.show()
    state = {"graded": not args.grade_all}

    def select() -> None:
        window.embryo_list.setCurrentRow(args.embryo)
        window.frame_slider.setValue(args.frame)

    def on_task(name: str, _result) -> None:
        state["graded"] = True
        select()

    window.project_actions.task_finished.connect(on_task)
    select()
    if args.grade_all:
        window.project_actions.grade_all()

    def poll() -> None:
        if state["graded"] and window.frag_pct_label.text() != "—":
            QTimer.singleShot(800, grab)
        else:
            QTimer.singleShot(250, poll)

    def grab() -> None:
        window.grab().save(args.out)
        print(f"wrote {args.out}")
        window.close()
        app.quit()

    QTimer.singleShot(500, poll)
    QTimer.singleShot(int(args.timeout * 1000), grab)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
