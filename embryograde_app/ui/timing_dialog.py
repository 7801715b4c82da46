"""Grading ▸ Set timing: when an embryo's frames were taken, where the frames do not say (EmbryoScope names
carry a run index, not a time). The hours of the first frame and the minutes between frames give every frame
its hours post-insemination, so the time course reads in hours and day 2 / day 3 can be graded."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QWidget,
)

from embryograde_app.core.project.records import Timing
from embryograde_app.core.project.timing import GRADING_DAYS, WINDOW_H


class TimingDialog(QDialog):
    def __init__(self, embryo: str, frames: int, timing: Timing | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("timing_dialog")
        self.setWindowTitle("Set timing")
        self.frames = frames
        self.first_h_spin = QDoubleSpinBox(objectName="timing_first_h_spin", decimals=2, suffix=" h")
        self.first_h_spin.setRange(-48.0, 200.0)
        self.first_h_spin.setToolTip("Hours post-insemination of this embryo's first frame")
        self.interval_spin = QDoubleSpinBox(objectName="timing_interval_spin", decimals=1, suffix=" min")
        self.interval_spin.setRange(0.1, 24 * 60.0)
        self.interval_spin.setToolTip("Minutes between frames (EmbryoScope: typically 10-20)")
        self.first_h_spin.setValue(timing.first_frame_h if timing else 0.0)
        self.interval_spin.setValue(timing.interval_min if timing else 15.0)
        self.all_check = QCheckBox("Every embryo of the project", objectName="timing_all_check")
        self.preview = QLabel(objectName="timing_preview")
        self.preview.setWordWrap(True)
        for spin in (self.first_h_spin, self.interval_spin):
            spin.valueChanged.connect(self._preview)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(QLabel(f"Embryo {embryo} ({frames} frames)"))
        form.addRow("First frame at", self.first_h_spin)
        form.addRow("Frame interval", self.interval_spin)
        form.addRow(self.all_check)
        form.addRow(self.preview)
        form.addRow(buttons)
        self._preview()

    def timing(self) -> Timing:
        return Timing(self.first_h_spin.value(), self.interval_spin.value())

    def _preview(self) -> None:
        """Where the time-lapse ends and which frames fall in each grading window, before anything is saved."""
        timing = self.timing()
        last = timing.hours(self.frames, 1)
        parts = [f"last frame at {last:.1f} h"]
        for day, target in GRADING_DAYS:
            inside = [n for n in range(1, self.frames + 1) if abs(timing.hours(n, 1) - target) <= WINDOW_H]
            parts.append(f"{day}: frames {inside[0]}–{inside[-1]}" if inside else f"{day}: no frame at {target:g} h")
        self.preview.setText("; ".join(parts))
