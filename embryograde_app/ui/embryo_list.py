"""The embryo list: each embryo's name, frame count, the grade of its median %, and its grades at day 2 and
day 3 where its frames have hours post-insemination (what a lab reports)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QWidget

from embryograde_app.core.domain.schemes import GradingScheme
from embryograde_app.core.project.collection import Collection
from embryograde_app.core.view.readouts import pct_text


class EmbryoList(QListWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("embryo_list")
        self.setWordWrap(True)  # a narrow list wraps its names and grades rather than cutting them
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def fill(self, collection: Collection, scheme: GradingScheme, keep_row: bool = True) -> None:
        """Refill without emitting row changes (the window decides what a refill means for the views)."""
        from embryograde_app.core.project.summaries import embryo_grades
        from embryograde_app.core.project.timing import project_day_grades

        store = collection.store
        grades = embryo_grades(store, scheme) if store is not None else {}
        days = project_day_grades(store, scheme) if store is not None else {}
        row = self.currentRow()
        self.blockSignals(True)
        self.clear()
        for entry in collection.embryos:
            g = grades.get(entry.embryo_id)
            lines = [entry.embryo_id, f"{len(entry)} frames" + (f" · median grade {g.grade}" if g else "")]
            tips = []
            if g:
                tips.append(
                    f"median model % {pct_text(scheme, g.median_pct, 1)} over the {g.frames_graded} graded frame(s) "
                    "of all focal planes"
                )
            day = days.get(entry.embryo_id, {})
            if day:
                lines += [f"{d.day}: grade {d.grade}" + ("" if d.by_person else " (model)") for d in day.values()]
                for d in day.values():
                    by = f"{d.source}'s answers" if d.by_person else "the model's %"
                    who = f"; reviewed by {', '.join(d.reviewers)}" if d.reviewers else ""
                    tips.append(
                        f"{d.day} ({d.target_h:g} ± 1 h): grade {d.grade}, median {pct_text(scheme, d.pct, 1)} % of "
                        f"{d.frames} frame(s), {by}{who}"
                    )
            self.addItem("\n".join(lines))
            self.item(self.count() - 1).setToolTip("\n".join(tips))
        if keep_row and 0 <= row < self.count():
            self.setCurrentRow(row)
        self.blockSignals(False)
