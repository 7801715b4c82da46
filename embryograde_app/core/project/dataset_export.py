"""A project store out again: PNG masks, labelme files and a layout-v1 dataset (train/evaluate input).

Only human and imported masks are exported as masks: model masks are predictions, not ground truth.
Qt-free and torch-free.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embryograde_app.core.domain.schemes import DEFAULT_SCHEME, frag_pct, get_scheme
from embryograde_app.core.io.annotations import write_labelme
from embryograde_app.core.io.atomic import atomic_write_bytes, encode_png
from embryograde_app.core.io.layout import DatasetLayout, LabelRow, LayoutError, write_labels
from embryograde_app.core.project.store import ProjectError, ProjectStore

log = logging.getLogger(__name__)


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._+-]")


def safe_name(key: str) -> str:
    """An embryo key as a folder name: anything but letters, digits and . _ + - becomes "_"."""
    name = _UNSAFE_NAME.sub("_", key).strip(".")
    return name or "_"


def _embryo_folders(store: ProjectStore) -> dict[str, str]:
    """embryo key -> folder name, unique even when two keys sanitise alike ("a/b" and "a_b")."""
    folders: dict[str, str] = {}
    taken: set[str] = set()
    for row in store.embryos():
        base = name = safe_name(row["key"])
        n = 2
        while name.lower() in taken:  # case-insensitive file systems
            name, n = f"{base}_{n}", n + 1
        taken.add(name.lower())
        folders[row["key"]] = name
    return folders


def _export_stem(frame_number: int, focal_plane: int) -> str:
    return f"{frame_number:04d}" if focal_plane == 0 else f"{frame_number:04d}_F{focal_plane}"


def _export_mask(store: ProjectStore, frame_id: int):
    """The mask to export: the newest human or imported revision, else the newest model one."""
    return store.latest_mask(frame_id, kinds=("human", "import")) or store.latest_mask(frame_id, kinds=("model",))


def _problem(problems: list[str] | None, text: str) -> None:
    log.warning("export: %s", text)
    if problems is not None:
        problems.append(text)


def _frames_with_masks(store: ProjectStore, problems: list[str] | None):
    """(frame record, mask to export) for every frame that has one; damaged masks are reported, skipped."""
    for record in store.frames():
        revision = _export_mask(store, record.id)
        if revision is None:
            continue
        try:
            yield record, store.read_mask(revision)
        except ProjectError as exc:
            _problem(problems, str(exc))


@contextmanager
def all_or_nothing(out_dir: str | os.PathLike) -> Iterator[None]:
    """An export that fails half way (a full disk, a bad path) removes the files and folders it created, so
    no partial export is left behind; files that were there before are left as they were."""
    out_dir = Path(out_dir)
    existed = out_dir.exists()
    before = {p for p in out_dir.rglob("*")} if existed else set()
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(out_dir, ignore_errors=True)
        else:
            created = sorted((p for p in out_dir.rglob("*") if p not in before), key=lambda p: -len(p.parts))
            for path in created:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        raise


def export_png_masks(store: ProjectStore, out_dir: str | os.PathLike, problems: list[str] | None = None) -> int:
    """Write out_dir/<embryo>/<frame:04d>[_F<fp>].png for every frame with a mask; returns how many.

    A damaged mask file is skipped (reported in `problems` and the log) so the rest still exports.
    """
    out_dir = Path(out_dir)
    folders = _embryo_folders(store)
    count = 0
    for record, mask in _frames_with_masks(store, problems):
        path = out_dir / folders[record.embryo_key] / f"{_export_stem(record.frame_number, record.focal_plane)}.png"
        atomic_write_bytes(path, encode_png(mask))
        count += 1
    return count


def export_labelme(store: ProjectStore, out_dir: str | os.PathLike, problems: list[str] | None = None) -> int:
    """Write a labelme JSON and a copy of its frame image side by side for every frame with a mask."""
    out_dir = Path(out_dir)
    folders = _embryo_folders(store)
    count = 0
    for record, mask in _frames_with_masks(store, problems):
        try:
            image_bytes = record.image_path.read_bytes()
        except OSError as exc:
            _problem(problems, f"{record.image_path}: {exc.strerror or exc}")
            continue
        folder = out_dir / folders[record.embryo_key]
        stem = _export_stem(record.frame_number, record.focal_plane)
        image_name = f"{stem}{record.image_path.suffix.lower() or '.png'}"
        atomic_write_bytes(folder / image_name, image_bytes)
        write_labelme(folder / f"{stem}.json", mask, image_name, (record.height, record.width))
        count += 1
    return count


def _grade_of(scheme, pct: float | None, lo: float | None, hi: float | None) -> str | None:
    """Grade of an exact %, or of a range whose inside lies within one grade's bin (None when it spans two)."""
    if pct is not None:
        return scheme.grade(pct)
    if lo is not None and hi is not None:
        return scheme.range_grade(lo, hi)
    return None


def export_layout_v1(
    store: ProjectStore,
    out_dir: str | os.PathLike,
    scheme: str = DEFAULT_SCHEME,
    problems: list[str] | None = None,
) -> int:
    """Write the project as a layout-v1 dataset (train/evaluate input); returns the number of frames.

    Only human and imported masks are written: model masks are predictions, not ground truth, and training
    on them would teach the model its own mistakes. Layout v1 has no focal planes, so a frame on focal plane
    fp != 0 goes to embryo "<embryo>_F<fp>". Frames are written as grey uint8 PNG.
    """
    layout = DatasetLayout(out_dir)
    grading = get_scheme(scheme)
    folders = _embryo_folders(store)
    rows: list[LabelRow] = []
    count = 0
    for record in store.frames():
        embryo_id = folders[record.embryo_key]
        if record.focal_plane != 0:
            embryo_id = f"{embryo_id}_F{record.focal_plane}"
        try:
            image = store.read_frame(record.id)
            revision = store.latest_mask(record.id, kinds=("human", "import"))
            mask = store.read_mask(revision) if revision is not None else None
        except ProjectError as exc:
            _problem(problems, str(exc))
            continue
        if mask is not None and mask.shape != image.shape[:2]:
            _problem(problems, f"{revision.path}: mask {mask.shape} does not match its frame {image.shape[:2]}")
            mask = None
        layout.write_frame(embryo_id, record.frame_number, image)
        pct = None
        if mask is not None:
            try:
                layout.write_mask(embryo_id, record.frame_number, mask)
            except (ValueError, LayoutError) as exc:
                _problem(problems, f"{revision.path}: {exc}")
            else:
                pct = frag_pct(mask)
        label = store.range_label(record.id)
        lo, hi = (float(label["lo"]), float(label["hi"])) if label is not None else (None, None)
        rows.append(
            LabelRow(
                embryo_id=embryo_id,
                frame=record.frame_number,
                time_h=record.time_h,
                frag_pct=pct,
                range_lo=lo,
                range_hi=hi,
                grade=_grade_of(grading, pct, lo, hi),
            )
        )
        count += 1
    write_labels(layout.labels_csv, rows)
    return count


__all__ = ["all_or_nothing", "export_labelme", "export_layout_v1", "export_png_masks", "safe_name"]
