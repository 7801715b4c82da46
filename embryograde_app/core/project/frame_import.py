"""`import PROJECT SOURCE...`: frames, layout-v1 datasets and labelme folders into a project.

Every frame is its own small transaction and every file is content-addressed, so an import killed at
any point leaves a consistent project, and running the same import again finishes it with no duplicate.
Bad files are skipped with their name and reason; the rest is imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from embryograde_app.core.io.atomic import encode_png
from embryograde_app.core.io.frames import FrameReadError, FrameSequence, NoFramesError, naming, open_frames
from embryograde_app.core.io.layout import DatasetLayout, LayoutError, read_mask
from embryograde_app.core.project.store import ProjectError, ProjectStore

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


def _never() -> bool:
    return False


@dataclass
class ImportSummary:
    added_frames: int = 0
    existing_frames: int = 0
    added_masks: int = 0
    added_labels: int = 0
    skipped: list[str] = field(default_factory=list)  # inputs not used, "file: reason"
    warnings: list[str] = field(default_factory=list)  # said but used (unknown labels, shapes with no area)
    cancelled: bool = False  # stopped between two frames; what was imported stays, a rerun finishes the rest

    def merge(self, other) -> None:
        self.cancelled = self.cancelled or getattr(other, "cancelled", False)
        self.added_frames += getattr(other, "added_frames", 0)
        self.existing_frames += getattr(other, "existing_frames", 0)
        self.added_masks += getattr(other, "added_masks", 0)
        self.added_labels += getattr(other, "added_labels", 0)
        self.skipped.extend(getattr(other, "skipped", []))
        self.warnings.extend(getattr(other, "warnings", []))

    def line(self) -> str:
        return (
            f"{self.added_frames} frame(s) added, {self.existing_frames} already there, {self.added_masks} mask(s), "
            f"{self.added_labels} label(s), {len(self.skipped)} skipped"
        )


def embryo_key_for(folder_name: str, slide: str | None, well: int | None) -> str:
    """Stable embryo identity: slide + well when the names carry them, else the source's name."""
    if slide and well is not None:
        return f"{slide}-W{well}"
    if well is not None:
        return f"{folder_name}-W{well}"
    return folder_name


def _series_prefix(file_name: str) -> str:
    """A file's name without its frame number: 'a_0000.tif' -> 'a', 'RUN12.jpeg' -> 'RUN'."""
    return re.sub(r"[\W_]*\d+$", "", Path(file_name).stem)


def embryo_keys(folder_name: str, infos) -> list[str]:
    """The embryo of every frame of one source. Names without a well that differ before their frame number
    ('a_0000.tif', 'b_0000.tif' in one folder) are separate time-lapses: each becomes its own embryo
    ('t16-a', 't16-b') instead of two frames 0 of one."""
    prefixes = {_series_prefix(info.source.name) for info in infos if info.well is None}
    split = len(prefixes) > 1
    keys = []
    for info in infos:
        key = embryo_key_for(folder_name, info.slide, info.well)
        if split and info.well is None:
            key = f"{folder_name}-{_series_prefix(info.source.name) or '_'}"
        keys.append(key)
    return keys


def _frame_payload(seq: FrameSequence, index: int) -> tuple[bytes, str, tuple[int, int]]:
    """Bytes to store for one frame: the original file for single images, a lossless PNG for pages."""
    info = seq.infos[index]
    pixels = seq.read(index)  # decodes: a truncated or corrupt file fails here, before anything is stored
    if info.page is None:
        return info.source.read_bytes(), info.source.suffix.lower(), pixels.shape[:2]
    return encode_png(pixels), ".png", pixels.shape[:2]


def import_frames(
    store: ProjectStore, source: Path, progress: Progress | None = None, should_stop: ShouldStop = _never
) -> ImportSummary:
    summary = ImportSummary()
    try:
        seq = open_frames(source)
    except (NoFramesError, OSError, ValueError) as exc:
        summary.skipped.append(naming(source, exc))
        return summary
    name = source.stem if source.is_file() else source.name
    total = len(seq)
    embryo_ids: dict[str, int] = {}
    keys = embryo_keys(name, seq.infos)
    for i, info in enumerate(seq.infos):
        if should_stop():
            summary.cancelled = True
            break
        key = keys[i]
        if key not in embryo_ids:
            embryo_ids[key] = store.ensure_embryo(key, slide=info.slide, well=info.well)
        origin = f"{info.source}" + (f"#{info.page}" if info.page is not None else "")
        try:
            data, suffix, shape = _frame_payload(seq, i)
            _, new = store.add_frame(
                embryo_ids[key], info.frame_number, data, suffix, shape, origin, focal_plane=info.focal_plane or 0
            )
        except FrameReadError:
            continue  # recorded in seq.problems with the file's name and reason
        except (ProjectError, OSError) as exc:
            summary.skipped.append(f"{info.name}: {exc}")
            continue
        summary.added_frames += new
        summary.existing_frames += not new
        if progress is not None:
            progress(i + 1, total)
    summary.skipped.extend(str(p) for p in seq.problems)
    seq.close()
    return summary


def import_layout(
    store: ProjectStore, root: Path, progress: Progress | None = None, should_stop: ShouldStop = _never
) -> ImportSummary:
    """A layout-v1 dataset: frames, masks (as imported revisions) and labels.csv come along."""
    summary = ImportSummary()
    layout = DatasetLayout(root)
    try:  # a bad label row, or a whole unreadable table, costs the labels only: frames and masks still come
        labels = layout.labels(summary.skipped)
    except LayoutError as exc:
        labels = {}
        summary.skipped.append(str(exc))
    try:
        items = list(layout.items(labels))
    except LayoutError as exc:
        summary.skipped.append(str(exc))
        return summary
    orphans = sorted(set(labels) - {(item.embryo_id, item.frame) for item in items})
    if orphans:  # a typo in an embryo id, or frames left out of the copy: their labels would vanish unseen
        shown = ", ".join(f"{embryo} frame {frame}" for embryo, frame in orphans[:5])
        more = f" and {len(orphans) - 5} more" if len(orphans) > 5 else ""
        summary.warnings.append(f"{layout.labels_csv}: {len(orphans)} row(s) for frames not in frames/: {shown}{more}")
    author = f"layout:{root.name}"
    embryo_ids: dict[str, int] = {}
    for n, item in enumerate(items):
        if should_stop():
            summary.cancelled = True
            break
        if item.embryo_id not in embryo_ids:
            embryo_ids[item.embryo_id] = store.ensure_embryo(item.embryo_id)
        try:
            seq = open_frames([item.image_path], cache_frames=1)
            data, suffix, shape = _frame_payload(seq, 0)
            frame_id, new = store.add_frame(
                embryo_ids[item.embryo_id], item.frame, data, suffix, shape, str(item.image_path)
            )
        except (NoFramesError, FrameReadError, ProjectError, OSError) as exc:
            summary.skipped.append(f"{item.image_path.name} ({item.embryo_id}): {exc}")
            continue
        summary.added_frames += new
        summary.existing_frames += not new
        label = labels.get((item.embryo_id, item.frame))
        if label is not None and label.time_h is not None and new:
            store.set_frame_time(frame_id, label.time_h)
        if item.mask_path is not None:
            try:
                mask = read_mask(item.mask_path)
                before = store.latest_mask(frame_id, ("import",))
                rev = store.add_mask_revision(frame_id, mask, "import", author)
                summary.added_masks += before is None or before.id != rev
            except (LayoutError, ProjectError) as exc:
                summary.skipped.append(f"{item.mask_path.name} ({item.embryo_id} mask): {exc}")
        if label is not None and (label.has_range or (label.frag_pct is not None and item.mask_path is None)):
            lo, hi = (label.range_lo, label.range_hi) if label.has_range else (label.frag_pct, label.frag_pct)
            before = store.range_label(frame_id)
            store.set_range_label(frame_id, lo, hi, author=author)
            summary.added_labels += before is None or (before["lo"], before["hi"]) != (lo, hi)
        if progress is not None:
            progress(n + 1, len(items))
    return summary


_LABELME_HINT = re.compile(r'"shapes"\s*:')


def _labelme_files(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            head = path.read_text(encoding="utf-8", errors="replace")[:4096]
        except OSError:
            continue
        if _LABELME_HINT.search(head):
            found.append(path)
    return found


def import_source(
    store: ProjectStore, source: Path, progress: Progress | None = None, should_stop: ShouldStop = _never
) -> ImportSummary:
    """One source of any supported kind (layout v1, labelme folder or file, frames)."""
    if not source.exists():
        return ImportSummary(skipped=[f"{source}: no such file or folder"])
    if ProjectStore.is_project(source):
        return ImportSummary(skipped=[f"{source}: is a project, not a source (open it instead)"])
    if source.is_dir() and DatasetLayout.is_layout(source):
        return import_layout(store, source, progress, should_stop)
    labelme = [source] if source.suffix.lower() == ".json" else (_labelme_files(source) if source.is_dir() else [])
    if labelme:
        from embryograde_app.core.project.mask_import import import_labelme_files

        summary = ImportSummary()
        if source.is_dir():
            # The folder's images first, numbered as the frame readers number them; each annotation then finds
            # its frame by pixels. Frames without an annotation still belong to the embryo.
            frames = import_frames(store, source, progress, should_stop)
            frames.skipped = [s for s in frames.skipped if not s.endswith(".json: unsupported file type")]
            summary.merge(frames)
            if summary.cancelled:
                return summary
        summary.merge(import_labelme_files(store, labelme))
        return summary
    return import_frames(store, source, progress, should_stop)


def import_into_project(
    project: str | Path,
    sources: list[str | Path],
    progress: Progress | None = None,
    masks_dir: str | Path | None = None,
    should_stop: ShouldStop = _never,
) -> ImportSummary:
    """Create the project if needed and import every source; a bad file or row is collected in the summary,
    not raised (ProjectError only when the project itself or the masks folder cannot be used).

    masks_dir: PNG masks paired with the sources' images by name (<stem>.png or <stem>_mask.png).
    """
    if masks_dir is not None and not Path(masks_dir).is_dir():
        raise ProjectError(f"{masks_dir}: no such folder of masks")
    total = ImportSummary()
    with ProjectStore(project, create=True) as store:
        for source in sources:
            total.merge(import_source(store, Path(source), progress, should_stop))
            if total.cancelled:
                return total
        if masks_dir is not None:
            from embryograde_app.core.io.frames import IMAGE_SUFFIXES
            from embryograde_app.core.project.mask_import import import_png_masks

            images = []
            for source in map(Path, sources):
                candidates = sorted(source.iterdir()) if source.is_dir() else [source]
                images.extend(p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES)
            total.merge(import_png_masks(store, images, masks_dir))
    return total
