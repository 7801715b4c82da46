"""Range labels ("10–25 %") and review status for the frame on screen, or for a span of frames.

The panel asks its window for the current embryo and frame through a small ``FrameContext`` and writes
to the project store; the rules (what needs review, which ranges a scheme offers) live in core.project.review.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from embryograde_app.core.domain.schemes import GradingScheme
from embryograde_app.core.project.records import LabelValue
from embryograde_app.core.project.review import ReviewFilter, next_needing_review, quick_ranges, review_states
from embryograde_app.core.project.store import ProjectError, ProjectStore


@dataclass(frozen=True)
class FrameContext:
    """What the panel needs to know about the screen: filled in by the window on each frame switch."""

    store: ProjectStore | None
    entry: object | None  # the EmbryoEntry on screen
    index: int  # frame index within its current focal plane


Snapshot = dict[int, LabelValue | None]  # frame id -> its range label, None: none (ProjectStore.range_label_snapshot)


class LabelCommand(QUndoCommand):
    """A range-label change (one frame or a span) as one undo step on the frame's stack, beside its strokes.
    It is pushed after the write succeeded, so its first redo does nothing."""

    def __init__(self, panel: LabelReviewPanel, store: ProjectStore, before: Snapshot, after: Snapshot, text: str):
        super().__init__(text)
        self.panel, self.store, self.before, self.after = panel, store, before, after
        self._written = True

    def redo(self) -> None:
        if self._written:
            self._written = False
            return
        self.panel.restore_labels(self.store, self.after, f"redone: {self.text()}")

    def undo(self) -> None:
        self.panel.restore_labels(self.store, self.before, f"undone: {self.text()}")


class LabelReviewPanel(QWidget):
    labelsChanged = Signal()  # range labels or review status written: plots and lists may redraw
    jumpRequested = Signal(int, int)  # embryo row, frame index

    def __init__(
        self,
        context: Callable[[], FrameContext],
        embryos: Callable[[], list],
        undo_stack: Callable[[], QUndoStack | None] = lambda: None,
        parent=None,
    ):
        """undo_stack: the frame's undo stack (its strokes'), where label changes go as undo steps."""
        super().__init__(parent)
        self._context = context
        self._embryos = embryos
        self._undo_stack = undo_stack
        self._mask_pct: float | None = None
        self.scheme: GradingScheme | None = None  # the window sets it; None: the default scheme
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_label_box())
        layout.addWidget(self._build_review_box())
        self.set_scheme_buttons([])

    # ------------------------------------------------------------------------------------ widgets
    def _build_label_box(self) -> QGroupBox:
        box = QGroupBox("Range label")
        self.quick_row = QHBoxLayout()
        self.range_lo_spin = QDoubleSpinBox(objectName="range_lo_spin", decimals=1, maximum=100.0, suffix=" %")
        self.range_hi_spin = QDoubleSpinBox(objectName="range_hi_spin", decimals=1, maximum=100.0, suffix=" %")
        self.range_hi_spin.setValue(10.0)
        self.range_apply_button = QPushButton("Apply", objectName="range_apply_button")
        self.range_apply_button.clicked.connect(
            lambda: self.apply_range(self.range_lo_spin.value(), self.range_hi_spin.value())
        )
        spins = QHBoxLayout()
        spins.addWidget(self.range_lo_spin)
        spins.addWidget(QLabel("to"))
        spins.addWidget(self.range_hi_spin)
        spins.addWidget(self.range_apply_button)
        self.range_remove_button = QPushButton("Remove", objectName="range_remove_button")
        self.range_remove_button.setToolTip("Remove this frame's range label, or the span's when ticked (Delete)")
        self.range_remove_button.clicked.connect(self.remove_range)
        spins.addWidget(self.range_remove_button)
        self.mask_pct_label = QLabel("—", objectName="mask_pct_label")
        self.mask_pct_label.setToolTip(
            "Exact fragmentation % (fragment / (fragment + cell)) of the frame's stored mask: the one being "
            "corrected, else a person's or imported mask, else the last graded one. The readouts above give "
            "the mask on screen, which may be the model's."
        )
        self.span_check = QCheckBox("Apply to frames", objectName="span_check")
        self.span_check.setToolTip("Label a span of frames once; it unticks itself after use")
        self.span_from_spin = QSpinBox(objectName="span_from_spin", maximum=10**6)
        self.span_to_spin = QSpinBox(objectName="span_to_spin", maximum=10**6)
        for widget in (self.span_from_spin, self.span_to_spin):
            widget.valueChanged.connect(self._count_span)
        self.span_check.toggled.connect(self._count_span)
        span = QHBoxLayout()
        span.addWidget(self.span_check)
        span.addWidget(self.span_from_spin)
        span.addWidget(QLabel("–"))
        span.addWidget(self.span_to_spin)
        self.label_status = QLabel("", objectName="label_status")
        self.label_status.setWordWrap(True)
        form = QFormLayout(box)
        form.addRow(self.quick_row)
        form.addRow(spins)
        form.addRow("Stored mask %", self.mask_pct_label)
        form.addRow(span)
        form.addRow(self.label_status)
        return box

    def _build_review_box(self) -> QGroupBox:
        box = QGroupBox("Review")
        self.review_check = QCheckBox("Reviewed", objectName="review_check")
        self.review_check.setToolTip("Mark this frame reviewed (R)")
        self.review_check.clicked.connect(self.set_reviewed)
        self.review_info_label = QLabel("—", objectName="review_info_label")
        self.review_info_label.setWordWrap(True)
        self.review_filter_combo = QComboBox(objectName="review_filter_combo")
        for rule in ReviewFilter:
            self.review_filter_combo.addItem(rule.value, rule)
        self.next_review_button = QPushButton("Next to review  (N)", objectName="next_review_button")
        self.next_review_button.clicked.connect(self.go_to_next_needing_review)
        form = QFormLayout(box)
        form.addRow(self.review_check, self.review_info_label)
        form.addRow("Needs review", self.review_filter_combo)
        form.addRow(self.next_review_button)
        self.key_actions = []
        for key, name, slot in (
            ("N", "Next to review", self.go_to_next_needing_review),
            ("R", "Reviewed on/off", self.toggle_reviewed),
            ("Delete", "Remove range label", self.remove_range),
        ):
            action = QAction(name, self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.key_actions.append(action)
        return box

    def set_scheme_buttons(self, ranges: list[tuple[str, float, float]]) -> None:
        while self.quick_row.count():
            item = self.quick_row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.quick_buttons = []
        for i, (text, lo, hi) in enumerate(ranges):
            button = QPushButton(text, objectName=f"range_bin_button_{i}")
            button.setToolTip(f"Label {lo:g}–{hi:g} % now")
            button.clicked.connect(lambda _checked=False, lo=lo, hi=hi: self.apply_range(lo, hi))
            self.quick_row.addWidget(button)
            self.quick_buttons.append(button)

    def set_scheme(self, scheme: GradingScheme) -> None:
        self.scheme = scheme
        self.set_scheme_buttons(quick_ranges(scheme))

    # ------------------------------------------------------------------------------------ state
    def show_frame(self, mask_pct: float | None) -> None:
        """Refresh from the store for the frame on screen (called on each frame switch)."""
        self.show_mask_pct(mask_pct)
        ctx = self._context()
        editable = ctx.store is not None and ctx.entry is not None
        widgets = (
            self.range_apply_button, self.range_remove_button, self.range_lo_spin, self.range_hi_spin,
            self.review_check, self.span_check,
        )
        for w in (*widgets, self.next_review_button, self.review_filter_combo, *self.quick_buttons):
            w.setEnabled(editable)
        if not editable:
            self.review_info_label.setText("open a project to label and review")
            return
        number = ctx.entry.frame_number(ctx.index)
        if not self.span_check.isChecked():
            for spin in (self.span_from_spin, self.span_to_spin):
                spin.setValue(number)
        frame_id = ctx.entry.frame_id(ctx.index)
        row = ctx.store.range_label(frame_id)
        if row is not None:
            self.range_lo_spin.setValue(row["lo"])
            self.range_hi_spin.setValue(row["hi"])
            self.label_status.setText(f"label {row['lo']:g}–{row['hi']:g} % by {row['author']}")
        else:
            self.label_status.setText("no range label")
        state = review_states(ctx.store, [frame_id], self.scheme)[frame_id]
        self.review_check.setChecked(state.reviewed)
        flag = " · flagged" if state.disagreement else ""  # one line: the panel must not grow
        self.review_info_label.setText(state.describe() + flag)

    def show_mask_pct(self, mask_pct: float | None) -> None:
        """Only the mask's exact %: while a stroke is drawn, nothing else on the panel changes."""
        self._mask_pct = mask_pct
        self.mask_pct_label.setText("—" if mask_pct is None else f"{mask_pct:.2f} %")

    def _target_frame_ids(self, ctx: FrameContext) -> list[int]:
        entry = ctx.entry
        if not self.span_check.isChecked():
            return [entry.frame_id(ctx.index)]
        lo, hi = sorted((self.span_from_spin.value(), self.span_to_spin.value()))
        return [entry.frame_id(i) for i in range(len(entry)) if lo <= entry.frame_number(i) <= hi]

    def _count_span(self) -> None:
        """The span box says how many frames it is about to label."""
        ctx = self._context()
        if ctx.entry is None or not self.span_check.isChecked():
            self.span_check.setText("Apply to frames")
            return
        self.span_check.setText(f"Apply to frames ({len(self._target_frame_ids(ctx))})")

    def _span_used(self) -> None:
        self.span_check.setChecked(False)  # a span is labelled once: the next click labels one frame again

    def remove_range(self) -> bool:
        """Remove the frame's range label (or the span's, when ticked)."""
        ctx = self._context()
        if ctx.store is None or ctx.entry is None:
            return False
        ids = self._target_frame_ids(ctx)
        before = ctx.store.range_label_snapshot(ids)
        try:
            removed = ctx.store.remove_range_labels(ids)
        except ProjectError as exc:
            self.label_status.setText(f"not removed: {exc}")
            return False
        if removed:
            self._push_undo(ctx.store, before, dict.fromkeys(ids), f"remove the range label of {removed} frame(s)")
        self._span_used()
        self.labelsChanged.emit()
        self.show_frame(self._mask_pct)
        self.label_status.setText(f"range label removed from {removed} frame(s)" if removed else "no range label here")
        return bool(removed)

    def apply_range(self, lo: float, hi: float) -> bool:
        ctx = self._context()
        if ctx.store is None or ctx.entry is None:
            return False
        if lo > hi:
            self.label_status.setText(f"the range {lo:g}–{hi:g} % is reversed: the low end must come first")
            return False
        ids = self._target_frame_ids(ctx)
        before = ctx.store.range_label_snapshot(ids)
        try:
            ctx.store.set_range_labels(ids, lo, hi)
        except ProjectError as exc:
            self.label_status.setText(f"not saved: {exc}")
            return False
        after = ctx.store.range_label_snapshot(ids)
        if after != before:
            self._push_undo(ctx.store, before, after, f"label {lo:g}–{hi:g} % on {len(ids)} frame(s)")
        self.range_lo_spin.setValue(lo)
        self.range_hi_spin.setValue(hi)
        self._span_used()
        self.labelsChanged.emit()
        self.show_frame(self._mask_pct)
        self.label_status.setText(f"label {lo:g}–{hi:g} % saved on {len(ids)} frame(s)")
        return True

    def _push_undo(self, store: ProjectStore, before: Snapshot, after: Snapshot, text: str) -> None:
        stack = self._undo_stack()
        if stack is not None:
            stack.push(LabelCommand(self, store, before, after, text))

    def restore_labels(self, store: ProjectStore, snapshot: Snapshot, text: str) -> None:
        """Undo or redo of a label change: the frames' labels as the snapshot has them, then a refresh."""
        try:
            store.restore_range_labels(snapshot)
        except ProjectError as exc:
            self.label_status.setText(f"not {text.split(':')[0]}: {exc}")
            return
        self.labelsChanged.emit()
        self.show_frame(self._mask_pct)
        self.label_status.setText(text)

    def set_reviewed(self, reviewed: bool) -> None:
        ctx = self._context()
        if ctx.store is None or ctx.entry is None:
            return
        ctx.store.set_review(ctx.entry.frame_id(ctx.index), bool(reviewed))
        self.labelsChanged.emit()
        self.show_frame(self._mask_pct)

    def toggle_reviewed(self) -> None:
        if self.review_check.isEnabled():
            self.set_reviewed(not self.review_check.isChecked())

    def go_to_next_needing_review(self) -> bool:
        """Jump to the next frame (this embryo first, then the following ones) that needs review."""
        ctx = self._context()
        if ctx.store is None or ctx.entry is None:
            return False
        embryos = self._embryos()
        order: list[tuple[int, int, int]] = []  # (embryo row, frame index, frame id)
        for row, entry in enumerate(embryos):
            order.extend((row, i, entry.frame_id(i)) for i in range(len(entry)))
        here = next(k for k, (row, i, _) in enumerate(order) if embryos[row] is ctx.entry and i == ctx.index)
        ids = [fid for _, _, fid in order]
        states = review_states(ctx.store, ids, self.scheme)
        position = next_needing_review(ids, here, states, self.review_filter_combo.currentData())
        if position is None:
            self.review_info_label.setText("no frame needs review under this filter")
            return False
        row, index, _ = order[position]
        self.jumpRequested.emit(row, index)
        return True
