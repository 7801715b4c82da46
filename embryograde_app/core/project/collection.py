"""What the window browses: embryos, their frames per focal plane, stored masks and labels.

A project gives its embryos from the store; a layout-v1 folder gives one embryo per frames/<id>/ folder,
with its masks and labels.csv; any other folder (or file) the frame readers understand gives one embryo
per well, with its focal planes. Qt-free, so navigation logic is tested without a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embryograde_app.core.io.frames import FrameProblem, FrameSequence, NoFramesError, open_frames
from embryograde_app.core.io.layout import DatasetLayout, LabelRow, LayoutError, read_mask
from embryograde_app.core.project.store import ProjectError, ProjectStore
from embryograde_app.core.project.timing import frame_hours
from embryograde_app.core.view.requests import LruCache

STORED_MASK_CACHE = 64  # decoded stored masks kept per embryo (a 500x500 mask is 250 kB)


@dataclass
class EmbryoEntry:
    """One embryo (well): a frame sequence per focal plane, the selected plane shown."""

    embryo_id: str
    planes: dict[int | None, FrameSequence]
    layout: DatasetLayout | None = None
    labels: dict[int, LabelRow] = field(default_factory=dict)
    focal_plane: int | None = None
    # Decoded stored masks by (plane, frame number): a frame switch must not decode a PNG or a blob again.
    _masks: LruCache = field(default_factory=lambda: LruCache(STORED_MASK_CACHE), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.focal_plane not in self.planes:
            # the central plane (0 or unnamed) first, else the first one found
            self.focal_plane = 0 if 0 in self.planes else (None if None in self.planes else next(iter(self.planes)))

    @property
    def sequence(self) -> FrameSequence:
        return self.planes[self.focal_plane]

    def __len__(self) -> int:
        return len(self.sequence)

    def frame_number(self, index: int) -> int:
        return self.sequence.infos[index].frame_number

    def index_of(self, frame_number: int) -> int | None:
        return self.sequence.index_of(frame_number)

    def frame_id(self, index: int) -> int | None:
        """The project's frame id (None outside a project)."""
        return None

    def mask(self, index: int) -> np.ndarray | None:
        """The stored mask of a frame, or None (no mask, or an unreadable one: that is reported, not raised).

        Read through a small LRU and returned read-only (copy it to edit); whoever writes a new mask for a
        frame calls `invalidate_mask` so that the next read sees it."""
        key = (self.focal_plane, self.frame_number(index))
        if key not in self._masks:
            mask = self._read_mask(index)
            if mask is not None:
                mask.flags.writeable = False
            self._masks.put(key, mask)
        return self._masks.get(key)

    def invalidate_mask(self, index: int | None = None) -> None:
        """Forget the cached stored mask of frame `index` of the shown plane (None: of every frame)."""
        if index is None:
            self._masks.clear()
        else:
            self._masks.discard((self.focal_plane, self.frame_number(index)))

    def _read_mask(self, index: int) -> np.ndarray | None:
        if self.layout is None:
            return None
        path = self.layout.mask_path(self.embryo_id, self.frame_number(index))
        if not path.exists():
            return None
        try:
            return read_mask(path)
        except LayoutError:
            return None

    def label(self, index: int) -> LabelRow | None:
        return self.labels.get(self.frame_number(index))

    def time_h(self, index: int) -> float | None:
        """Hours since insemination when known (grading is timed: day 2 at about 44 h, day 3 at about 68 h)."""
        label = self.label(index)
        return label.time_h if label is not None else None


@dataclass
class ProjectEmbryo(EmbryoEntry):
    """An embryo of a project: frame numbers, masks and labels come from the store, pixels from its files."""

    store: ProjectStore | None = None
    frame_ids: dict[int | None, list[int]] = field(default_factory=dict)
    numbers: dict[int | None, list[int]] = field(default_factory=dict)
    times: dict[int | None, list[float | None]] = field(default_factory=dict)

    def time_h(self, index: int) -> float | None:
        times = self.times.get(self.focal_plane)
        return times[index] if times else None

    def frame_number(self, index: int) -> int:
        return self.numbers[self.focal_plane][index]

    def index_of(self, frame_number: int) -> int | None:
        try:
            return self.numbers[self.focal_plane].index(frame_number)
        except ValueError:
            return None

    def frame_id(self, index: int) -> int | None:
        return self.frame_ids[self.focal_plane][index]

    def _read_mask(self, index: int) -> np.ndarray | None:
        revision = self.store.latest_mask(self.frame_id(index), ("human", "import"))
        if revision is None:
            return None
        try:
            return self.store.read_mask(revision)
        except ProjectError:
            return None

    def label(self, index: int) -> LabelRow | None:
        row = self.store.range_label(self.frame_id(index))
        if row is None:
            return None
        return LabelRow(self.embryo_id, self.frame_number(index), range_lo=row["lo"], range_hi=row["hi"])


@dataclass
class Collection:
    root: Path
    embryos: list[EmbryoEntry]
    problems: list[FrameProblem | str]
    store: ProjectStore | None = None

    def __len__(self) -> int:
        return len(self.embryos)


def open_project_collection(store: ProjectStore, cache_frames: int = 64) -> Collection:
    """Every embryo of a project with a lazily read sequence per focal plane."""
    embryos: list[EmbryoEntry] = []
    problems: list[FrameProblem | str] = []
    timings = store.timings()
    for row in store.embryos():
        records = store.frames(embryo_id=row["id"])
        if not records:
            continue
        hours = frame_hours(records, timings)  # the frames' own times, else the embryo's timing
        by_plane: dict[int | None, list] = {}
        for record in records:
            by_plane.setdefault(record.focal_plane, []).append(record)
        planes, ids, numbers, times = {}, {}, {}, {}
        for plane, recs in sorted(by_plane.items()):
            try:
                planes[plane] = open_frames([r.image_path for r in recs], cache_frames=cache_frames)
            except NoFramesError as exc:
                problems.append(f"{row['key']}: {exc}")
                continue
            problems.extend(planes[plane].problems)
            ids[plane] = [r.id for r in recs]
            numbers[plane] = [r.frame_number for r in recs]
            times[plane] = [hours[r.id] for r in recs]
        if planes:
            embryos.append(ProjectEmbryo(row["key"], planes, store=store, frame_ids=ids, numbers=numbers, times=times))
    return Collection(store.root, embryos, problems, store=store)


def open_collection(path: str | Path, cache_frames: int = 64) -> Collection:
    """Open a project, a layout-v1 dataset or any frame source; bad files become problems, the rest opens."""
    root = Path(path)
    if ProjectStore.is_project(root):
        return open_project_collection(ProjectStore(root), cache_frames)
    problems: list[FrameProblem | str] = []
    embryos: list[EmbryoEntry] = []
    if DatasetLayout.is_layout(root):
        layout = DatasetLayout(root)
        label_problems: list[str] = []
        try:
            labels = layout.labels(label_problems)
        except LayoutError as exc:
            labels = {}
            label_problems.append(str(exc))
        problems.extend(label_problems)
        for embryo_id in layout.embryo_ids():
            try:
                seq = open_frames(layout.frames_dir / embryo_id, cache_frames=cache_frames)
            except NoFramesError as exc:
                problems.append(f"{embryo_id}: {exc}")
                continue
            problems.extend(seq.problems)
            own = {frame: row for (eid, frame), row in labels.items() if eid == embryo_id}
            embryos.append(EmbryoEntry(embryo_id, {None: seq}, layout, own))
    else:
        seq = open_frames(root, cache_frames=cache_frames)
        problems.extend(seq.problems)
        by_well: dict[int | None, dict[int | None, FrameSequence]] = {}
        for (well, focal), sub in seq.groups().items():
            by_well.setdefault(well, {})[focal] = sub
        for well, planes in by_well.items():
            name = root.stem if well is None else f"{root.stem} well {well}"
            embryos.append(EmbryoEntry(name, planes))
    if not embryos:
        raise NoFramesError(f"{root}: no embryos with readable frames", problems=[])
    return Collection(root, embryos, problems)
