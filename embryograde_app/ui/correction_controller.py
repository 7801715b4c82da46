"""Edits on the current frame's mask: one undo step per stroke, one undo stack per frame, autosave.

Each finished stroke (brush, eraser, polygon, fill, "start from the model", clear) becomes a
``PatchCommand`` on the frame's QUndoStack holding only the changed region. Pushing, undoing and redoing
all go through one path: apply the patch, mark the document dirty, save it as a human mask revision. A
failed save keeps the document dirty, says so, and is retried every few seconds until it goes through.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoGroup, QUndoStack

from embryograde_app.core.domain.schemes import BLASTOMERE, frag_pct
from embryograde_app.core.project.corrections import Corrections, MaskDocument
from embryograde_app.core.project.store import ProjectStore
from embryograde_app.core.view.editing import MaskPatch, fill_polygon, flood_fill, paint_segment
from embryograde_app.ui.mask_editor import EditorItem, Tool

UNDO_LIMIT = 200  # steps kept per frame
RETRY_MS = 3000


class PatchCommand(QUndoCommand):
    """One stroke: the changed region before and after."""

    def __init__(self, controller: CorrectionController, doc: MaskDocument, patch: MaskPatch, text: str):
        super().__init__(text)
        self._controller, self._doc, self._patch = controller, doc, patch

    def redo(self) -> None:
        self._patch.apply(self._doc.mask)
        self._controller.changed(self._doc)

    def undo(self) -> None:
        self._patch.revert(self._doc.mask)
        self._controller.changed(self._doc)


class CorrectionController(QObject):
    maskChanged = Signal(int)  # frame id whose working mask changed (also mid-stroke)
    saveStatusChanged = Signal(str, bool)  # message, everything saved

    def __init__(self, editor: EditorItem, parent: QObject | None = None):
        super().__init__(parent)
        self.editor = editor
        self.undo_group = QUndoGroup(self)
        self.stacks: dict[int, QUndoStack] = {}
        self.corrections: Corrections | None = None
        self.frame_id: int | None = None
        self.model_mask: Callable[[], np.ndarray | None] = lambda: None
        self.draw_class = BLASTOMERE
        self._last_pixel: tuple[int, int] | None = None
        self._stroke_doc: MaskDocument | None = None
        self._retry = QTimer(self)
        self._retry.setInterval(RETRY_MS)
        self._retry.timeout.connect(self.retry_saves)
        editor.strokeStarted.connect(self._stroke_started)
        editor.strokeMoved.connect(self._stroke_moved)
        editor.strokeFinished.connect(self._stroke_finished)
        editor.polygonFinished.connect(self._polygon_finished)
        editor.fillRequested.connect(self._fill)

    # ------------------------------------------------------------------------------------ context
    def set_store(self, store: ProjectStore | None) -> None:
        """A project makes masks editable; anything else (a plain folder) is view-only."""
        self.retry_saves()
        for stack in self.stacks.values():
            self.undo_group.removeStack(stack)
            stack.deleteLater()
        self.stacks.clear()
        self.frame_id = None
        self.corrections = Corrections(store) if store is not None else None

    @property
    def editable(self) -> bool:
        return self.corrections is not None and self.frame_id is not None

    def set_frame(self, frame_id: int | None, model_mask: Callable[[], np.ndarray | None]) -> None:
        """The frame on screen; its own undo stack becomes the active one."""
        if self._stroke_doc is not None:
            self._stroke_finished()
        self.editor.cancel_polygon()
        if frame_id != self.frame_id and not self.unsaved():
            self.saveStatusChanged.emit("", True)  # "Saved (6.9 %)" was about the frame left behind
        self.frame_id = frame_id if self.corrections is not None else None
        self.model_mask = model_mask
        if self.frame_id is None:
            self.undo_group.setActiveStack(None)
            return
        stack = self.stacks.get(self.frame_id)
        if stack is None:
            stack = QUndoStack(self.undo_group)
            stack.setUndoLimit(UNDO_LIMIT)
            self.stacks[self.frame_id] = stack
        self.undo_group.setActiveStack(stack)

    def working_mask(self, frame_id: int | None) -> np.ndarray | None:
        """The mask being corrected for a frame, when this session has touched it."""
        if self.corrections is None or frame_id is None or not self.corrections.has_document(frame_id):
            return None
        return self.corrections.documents[frame_id].mask

    def document(self) -> MaskDocument | None:
        if not self.editable:
            return None
        return self.corrections.document(self.frame_id, self.model_mask)

    # ------------------------------------------------------------------------------------ strokes
    def _value(self) -> int:
        return 0 if self.editor.tool is Tool.ERASER else self.draw_class

    def _stroke_started(self, row: int, col: int) -> None:
        doc = self.document()
        if doc is None:
            return
        self._stroke_doc = doc
        doc.begin_stroke()
        self._last_pixel = (row, col)
        paint_segment(doc.mask, (row, col), (row, col), self.editor.brush_size, self._value())
        self.maskChanged.emit(doc.frame_id)

    def _stroke_moved(self, row: int, col: int) -> None:
        doc = self._stroke_doc
        if doc is None or self._last_pixel is None or (row, col) == self._last_pixel:
            return
        paint_segment(doc.mask, self._last_pixel, (row, col), self.editor.brush_size, self._value())
        self._last_pixel = (row, col)
        self.maskChanged.emit(doc.frame_id)

    def _stroke_finished(self) -> None:
        doc, self._stroke_doc = self._stroke_doc, None
        if doc is not None:
            self._push(doc, "Eraser stroke" if self.editor.tool is Tool.ERASER else "Brush stroke")

    def _polygon_finished(self, points) -> None:
        self.edit_whole(lambda mask: fill_polygon(mask, points, self.draw_class), "Polygon fill")

    def _fill(self, row: int, col: int) -> None:
        self.edit_whole(lambda mask: flood_fill(mask, row, col, self.draw_class), "Flood fill")

    def edit_whole(self, edit: Callable[[np.ndarray], object], text: str) -> bool:
        """Run one edit on the current frame's mask as a single undo step; False when not editable."""
        doc = self.document()
        if doc is None:
            return False
        doc.begin_stroke()
        try:
            edit(doc.mask)
        except BaseException:
            doc.cancel_stroke()
            raise
        self._push(doc, text)
        return True

    def start_from_model(self) -> bool:
        model = self.model_mask()
        if model is None:
            return False
        return self.edit_whole(lambda mask: mask.__setitem__(Ellipsis, model), "Start from the model's mask")

    def clear(self) -> bool:
        return self.edit_whole(lambda mask: mask.fill(0), "Clear mask")

    def _push(self, doc: MaskDocument, text: str) -> None:
        patch = doc.end_stroke()
        if patch is None:  # nothing changed: no undo step, nothing to save
            self.maskChanged.emit(doc.frame_id)
            return
        stack = self.stacks.get(doc.frame_id)
        if stack is not None:
            stack.push(PatchCommand(self, doc, patch, text))  # push() calls redo(): saves

    # ------------------------------------------------------------------------------------ saving
    def changed(self, doc: MaskDocument) -> None:
        """After every step: the mask on disk follows the one on screen, or the failure shows."""
        doc.dirty = True
        self.maskChanged.emit(doc.frame_id)
        if self.corrections is not None and self.corrections.save(doc):
            unsaved = self.corrections.unsaved()
            if not unsaved:
                self._retry.stop()
                self.saveStatusChanged.emit(f"Saved ({frag_pct(doc.mask):.1f} % fragmentation)", True)
                return
            doc = unsaved[0]
        self._retry.start()
        self.saveStatusChanged.emit(f"NOT SAVED — {doc.last_error}; retrying every {RETRY_MS // 1000} s", False)

    def retry_saves(self) -> list[MaskDocument]:
        """Save every dirty document again; returns the ones that still failed."""
        if self.corrections is None:
            return []
        still = self.corrections.save_all()
        if still:
            msg = f"NOT SAVED — {len(still)} frame(s): {still[0].last_error}; retrying every {RETRY_MS // 1000} s"
            self.saveStatusChanged.emit(msg, False)
        elif self._retry.isActive():
            self._retry.stop()
            self.saveStatusChanged.emit("Saved", True)
        return still

    def unsaved(self) -> list[MaskDocument]:
        return self.corrections.unsaved() if self.corrections is not None else []
