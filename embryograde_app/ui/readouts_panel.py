"""The readout box: regression %, mask-area %, grade, the disagreement flag, the stored label and the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QSizePolicy, QWidget

from embryograde_app.core.domain.schemes import GradingScheme, frag_pct
from embryograde_app.core.io.layout import LabelRow
from embryograde_app.core.view.readouts import PersonAnswer, make_readout

if TYPE_CHECKING:
    from embryograde_app.workers import FramePrediction


class ReadoutsBox(QGroupBox):
    def __init__(self, scheme: GradingScheme, parent: QWidget | None = None):
        super().__init__("Fragmentation", parent)
        self.scheme = scheme
        self.frag_pct_label = QLabel("—", objectName="frag_pct_label")
        self.area_pct_label = QLabel("—", objectName="area_pct_label")
        self.grade_label = QLabel("—", objectName="grade_label")
        for label in (self.frag_pct_label, self.grade_label):
            label.setStyleSheet("font-size: 20px; font-weight: 600;")
        self.disagreement_label = QLabel("", objectName="disagreement_label")
        self.disagreement_label.setWordWrap(True)
        self.disagreement_label.setStyleSheet("color: #b00020; font-weight: 600;")
        # Room for a two-line flag whether or not it is up: the panel below must not jump as frames change.
        self.disagreement_label.setFixedHeight(2 * self.disagreement_label.fontMetrics().lineSpacing() + 4)
        self.label_info = QLabel("—", objectName="label_info")
        # Two lines whether or not a person has answered (their answer, the model's beside it): no jump.
        self.label_info.setFixedHeight(2 * self.label_info.fontMetrics().lineSpacing() + 2)
        for label in (self.frag_pct_label, self.area_pct_label, self.grade_label, self.label_info):
            # The panel's width must not follow the readout text: "—" -> "2 (fair)" would otherwise re-lay out
            # the splitter and resize and repaint every view on a frame switch.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.model_status = QLabel("no model", objectName="model_status")
        self.model_status.setWordWrap(True)
        self.model_status.setStyleSheet("color: #555;")
        self.grade_caption = QLabel()
        form = QFormLayout(self)
        form.addRow("Regression %", self.frag_pct_label)
        form.addRow("Mask area %", self.area_pct_label)
        form.addRow(self.grade_caption, self.grade_label)
        form.addRow(self.disagreement_label)
        form.addRow("Stored label", self.label_info)
        form.addRow("Model", self.model_status)
        self.set_scheme(scheme)

    def set_scheme(self, scheme: GradingScheme) -> None:
        self.scheme = scheme
        self.grade_caption.setText(f"Grade ({scheme.key})")

    def show_frame(
        self,
        pred: FramePrediction | None,
        shown_mask: np.ndarray | None,
        label: LabelRow | None,
        answer: PersonAnswer | None = None,
    ) -> None:
        """Regression % from the model; area % of the mask on screen (the model's or the stored one); where a
        person has answered (a corrected mask, a range label) the grade is theirs and names them."""
        if shown_mask is None:
            area = None
        else:  # the model's area % was computed on the worker thread
            area = pred.area_pct if pred is not None and shown_mask is pred.mask else frag_pct(shown_mask)
        readout = make_readout(self.scheme, pred.regression_pct if pred is not None else None, area, answer=answer)
        self.frag_pct_label.setText(readout.regression_text)
        self.area_pct_label.setText(readout.area_text)
        self.grade_label.setText(readout.grade_text)
        self.disagreement_label.setText(readout.disagreement_text)
        if readout.answer_text:
            self.label_info.setText(f"{readout.answer_text}\n{readout.model_text}")
        elif label is not None and label.has_range:
            self.label_info.setText(f"range {label.range_lo:g}–{label.range_hi:g} %")
        elif label is not None and label.frag_pct is not None:
            self.label_info.setText(f"{label.frag_pct:.1f} %")
        else:
            self.label_info.setText("—")
