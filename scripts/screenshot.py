"""Screenshot of the main window on a folder (run under Xvfb): python scripts/screenshot.py PATH OUT.png."""

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
    parser.add_argument("--size", default="1500x780")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    from embryograde_app.ui import create_main_window

    settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
    window = create_main_window(args.path, settings=settings)
    w, h = (int(v) for v in args.size.split("x"))
    window.resize(w, h)
    window.show()
    window.embryo_list.setCurrentRow(args.embryo)
    window.frame_slider.setValue(args.frame)

    def grab() -> None:
        window.grab().save(args.out)
        app.quit()

    QTimer.singleShot(1500, grab)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
