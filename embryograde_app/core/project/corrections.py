"""The masks a person is correcting: one working copy per frame, saved as human revisions after each stroke.

A ``MaskDocument`` holds the working mask of one frame and knows whether what is on screen is on disk.
``Corrections`` hands out documents (starting from the frame's latest human/import mask, else the model's
mask, else an empty one), and saves them through the project store, which writes the PNG atomically
before the transaction that refers to it. A save that fails leaves the document dirty so the caller can
show it and retry; nothing is ever marked saved that is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from embryograde_app.core.project.records import current_user
from embryograde_app.core.project.store import ProjectStore
from embryograde_app.core.view.editing import MaskPatch, diff_patch


@dataclass(eq=False)
class MaskDocument:
    frame_id: int
    mask: np.ndarray
    dirty: bool = False
    revision_id: int | None = None  # the human revision that matches the saved state
    last_error: str | None = None
    _stroke_start: np.ndarray | None = field(default=None, repr=False)

    def begin_stroke(self) -> None:
        """Remember the mask as it was, so the whole stroke becomes one undo step."""
        self._stroke_start = self.mask.copy()

    def end_stroke(self) -> MaskPatch | None:
        """The patch of what the stroke changed (None when it changed nothing)."""
        if self._stroke_start is None:
            return None
        patch = diff_patch(self._stroke_start, self.mask)
        self._stroke_start = None
        return patch

    def cancel_stroke(self) -> None:
        """Put the mask back as the stroke found it (an edit that failed half-way leaves no trace)."""
        if self._stroke_start is not None:
            self.mask[...] = self._stroke_start
            self._stroke_start = None


class Corrections:
    """Working masks of a project's frames and their autosave as human mask revisions."""

    def __init__(self, store: ProjectStore, author: str | None = None):
        self.store = store
        self.author = author or current_user()
        self.documents: dict[int, MaskDocument] = {}

    def stored_human_mask(self, frame_id: int) -> tuple[np.ndarray | None, int | None]:
        revision = self.store.latest_mask(frame_id, ("human", "import"))
        if revision is None:
            return None, None
        return self.store.read_mask(revision), revision.id

    def document(self, frame_id: int, model_mask: Callable[[], np.ndarray | None] | None = None) -> MaskDocument:
        """The working copy of a frame's mask, created on first use from the best mask available."""
        doc = self.documents.get(frame_id)
        if doc is not None:
            return doc
        mask, revision_id = self.stored_human_mask(frame_id)
        if mask is None and model_mask is not None:
            mask = model_mask()
        record = self.store.frame(frame_id)
        if mask is None or mask.shape != (record.height, record.width):
            mask = np.zeros((record.height, record.width), np.uint8)
        doc = MaskDocument(frame_id, np.array(mask, np.uint8, copy=True), revision_id=revision_id)
        self.documents[frame_id] = doc
        return doc

    def has_document(self, frame_id: int) -> bool:
        return frame_id in self.documents

    def save(self, doc: MaskDocument) -> bool:
        """Write the working mask as a human revision; on failure keep it dirty with the reason."""
        try:
            doc.revision_id = self.store.add_mask_revision(
                doc.frame_id, doc.mask.copy(), "human", self.author, parent_id=doc.revision_id
            )
        except Exception as exc:  # noqa: BLE001 - any failure must leave the edit unsaved and visible
            doc.dirty = True
            doc.last_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError | ValueError) else str(exc)
            return False
        doc.dirty = False
        doc.last_error = None
        return True

    def unsaved(self) -> list[MaskDocument]:
        return [doc for doc in self.documents.values() if doc.dirty]

    def save_all(self) -> list[MaskDocument]:
        """Retry every dirty document; returns those still unsaved."""
        return [doc for doc in self.unsaved() if not self.save(doc)]
