"""How large the window draws the embryo, and whether the side panel must scroll, at the sizes that matter.

Run under Xvfb on a graded project: python scripts/measure_layout.py PROJECT [--frame N]
Prints, for 1600x1000 and 1280x800 and each pane layout, the embryo's box width in screen pixels (zoomed to
the embryo) and the side panel's scroll range (0: every control of the main tasks is on screen).
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from PySide6.QtCore import QPointF, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QWidget

LAYOUTS = [((1600, 1000), 2), ((1600, 1000), 3), ((1280, 800), 2), ((1280, 800), 1)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    parser.add_argument("--frame", type=int, default=149)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    from embryograde_app.core.view.overlays import embryo_box
    from embryograde_app.ui import create_main_window

    settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
    window = create_main_window(args.project, settings=settings)
    window.show()
    window.frame_slider.setValue(args.frame)
    todo = list(LAYOUTS)

    def next_layout() -> None:
        if not todo:
            window.close()
            app.quit()
            return
        size, panes = todo.pop(0)
        window.resize(*size)
        window.view_toolbar.set_panes(panes)
        QTimer.singleShot(300, lambda: measure(size, panes))

    def measure(size, panes) -> None:
        if window._shown_mask is None:  # the model has not drawn this frame yet
            QTimer.singleShot(200, lambda: measure(size, panes))
            return
        window.action_zoom_embryo.trigger()
        app.processEvents()
        x0, y0, x1, y1 = embryo_box(window._shown_mask)
        box = window.views.shown_views[-1].view_box
        left, right = box.mapViewToDevice(QPointF(x0, y0)), box.mapViewToDevice(QPointF(x1, y1))
        scroll = window.findChild(QWidget, "side_panel").verticalScrollBar().maximum()
        width = right.x() - left.x()
        print(f"{size[0]}x{size[1]}, {panes} pane(s): embryo {width:.0f} px wide; side panel scroll {scroll}")
        next_layout()

    QTimer.singleShot(300, next_layout)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
