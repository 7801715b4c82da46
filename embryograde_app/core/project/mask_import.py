"""Annotations into a project store: labelme files and PNG masks become "import" mask revisions.

A frame is found by its pixels first (so frames imported under any name are reused), else added under the
image's folder; re-importing the same files adds nothing. Bad files are skipped with their name and reason.
Qt-free and torch-free.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embryograde_app.core.io.annotations import InteropError, labelme_to_mask, match_masks, read_png_mask
from embryograde_app.core.io.atomic import encode_png
from embryograde_app.core.io.frames import (
    FrameReadError,
    NoFramesError,
    naming,
    natural_key,
    open_frames,
    parse_frame_name,
    sniff_format,
)
from embryograde_app.core.project.store import ProjectError, ProjectStore


@dataclass
class ImportReport:
    """What an import did. `skipped` lists "file: reason" for inputs that were not used (CLI: exit non-zero);
    `warnings` lists things worth saying that did not stop an input (unknown labels, images with no mask)."""

    added_frames: int = 0
    added_masks: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.skipped

    def summary(self) -> str:
        text = f"{self.added_frames} frame(s) and {self.added_masks} mask(s) added"
        if self.skipped:
            text += f", {len(self.skipped)} file(s) skipped"
        return text


_SUFFIX_OF_FORMAT = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "bmp": ".bmp"}


def _suffix_of_bytes(data: bytes, fallback: str) -> str:
    fmt = sniff_format(data[:8])
    return _SUFFIX_OF_FORMAT[fmt] if fmt else fallback or ".png"


def _decoded_shape(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, decoded the way the store will read it back."""
    with open_frames([path], cache_frames=1) as sequence:
        image = sequence.read_uint8(0)
    return int(image.shape[0]), int(image.shape[1])


def _frame_by_pixels(store: ProjectStore, image_bytes: bytes, embryo_key: str | None) -> int | None:
    """A frame already holding exactly these image bytes (e.g. imported by the caller under its own key)."""
    return store.frame_with_image(hashlib.sha256(image_bytes).hexdigest(), embryo_key)


_LEADING_NUMBER = re.compile(r"^(\d+)(?=$|[_-])")


def _add_frame_and_mask(
    store: ProjectStore,
    report: ImportReport,
    *,
    embryo_key: str,
    explicit_key: bool,
    image_name: str,
    image_bytes: bytes,
    suffix: str,
    shape: tuple[int, int],
    source: str,
    mask: np.ndarray,
    author: str,
) -> None:
    if mask.shape != shape:
        raise InteropError(
            f"{source}: mask {mask.shape[1]} x {mask.shape[0]} does not match the image {shape[1]} x {shape[0]}"
        )
    frame_id = _frame_by_pixels(store, image_bytes, embryo_key if explicit_key else None)
    if frame_id is None:
        parsed = parse_frame_name(image_name)
        frame_number, focal_plane = parsed["frame_number"], parsed["focal_plane"] or 0
        embryo_id = store.ensure_embryo(embryo_key)
        if frame_number is None:  # e.g. "0001_F15" as export_png_masks names it: the number comes first
            leading = _LEADING_NUMBER.match(Path(image_name).stem)
            # Without a number in the name, the next free one: a position among the annotation files would
            # collide with frames numbered by their position among the images.
            frame_number = int(leading.group(1)) if leading else store.next_frame_number(embryo_id, focal_plane)
        frame_id, added = store.add_frame(
            embryo_id, frame_number, image_bytes, suffix, shape, source=source, focal_plane=focal_plane
        )
        report.added_frames += int(added)
    if store.latest_mask_sha256(frame_id) == hashlib.sha256(encode_png(mask)).hexdigest():
        return  # the same annotation imported again: nothing new
    store.add_mask_revision(frame_id, mask, "import", author)
    report.added_masks += 1


def _sorted_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    return sorted((Path(p) for p in paths), key=lambda p: natural_key(str(p)))


def _why_skipped(path: Path, exc: Exception) -> str:
    """ "file: reason" for an input that was not used; an OS error gives its plain reason, not its errno."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{path}: {exc.strerror}"
    return naming(path, exc)


def import_labelme_files(
    store: ProjectStore, json_paths: Iterable[str | os.PathLike], embryo_key: str | None = None
) -> ImportReport:
    """Import labelme annotations as "import" mask revisions, adding their frames when the store lacks them.

    The frame is found by its image bytes first (so frames the caller imported under any key are reused),
    else added under `embryo_key` or the image's folder name. Re-importing the same files adds nothing.
    Bad files are skipped and listed in the report; they never stop the run.
    """
    report = ImportReport()
    for json_path in _sorted_paths(json_paths):
        try:
            annotation = labelme_to_mask(json_path)
            if annotation.unknown_labels:
                report.warnings.append(f"{json_path}: ignored unknown label(s) {', '.join(annotation.unknown_labels)}")
            if annotation.ignored_shapes:
                report.warnings.append(
                    f"{json_path}: ignored shape(s) with no area in the image: {', '.join(annotation.ignored_shapes)}"
                )
            image_path = annotation.image_path
            if image_path is not None and image_path.is_file():
                image_bytes = image_path.read_bytes()
                suffix = image_path.suffix.lower()
                try:
                    shape = _decoded_shape(image_path)
                except (FrameReadError, NoFramesError) as exc:
                    raise InteropError(f"{json_path}: image {image_path}: {exc}") from exc
                image_name, folder = image_path.name, image_path.parent.name
            elif annotation.image_bytes is not None and annotation.image is not None:
                image_bytes = annotation.image_bytes
                fallback = image_path.suffix.lower() if image_path is not None else ""
                suffix = _suffix_of_bytes(image_bytes, fallback)
                shape = annotation.image.shape[:2]
                image_name = image_path.name if image_path is not None else json_path.stem
                folder = image_path.parent.name if image_path is not None else json_path.parent.name
            else:
                where = f"image {image_path} not found" if image_path is not None else "no imagePath"
                raise InteropError(f"{json_path}: {where} and no embedded imageData")
            _add_frame_and_mask(
                store,
                report,
                embryo_key=embryo_key or folder or json_path.parent.name,
                explicit_key=embryo_key is not None,
                image_name=image_name,
                image_bytes=image_bytes,
                suffix=suffix,
                shape=(int(shape[0]), int(shape[1])),
                source=str(image_path if image_path is not None and image_path.is_file() else json_path),
                mask=annotation.mask,
                author=f"labelme:{json_path.name}",
            )
        except (InteropError, ProjectError, OSError) as exc:
            report.skipped.append(_why_skipped(json_path, exc))
    return report


def import_png_masks(
    store: ProjectStore,
    image_paths: Iterable[str | os.PathLike],
    masks_dir: str | os.PathLike,
    embryo_key: str | None = None,
) -> ImportReport:
    """Import PNG masks paired with images by match_masks, like import_labelme_files.

    Images without a mask are only noted in `warnings`: masks are optional per frame.
    """
    report = ImportReport()
    images = _sorted_paths(image_paths)
    matches = match_masks(images, masks_dir)
    for image_path in images:
        mask_path = matches.get(image_path)
        if mask_path is None:
            report.warnings.append(f"{image_path}: no mask in {masks_dir}")
            continue
        try:
            mask = read_png_mask(mask_path)
            try:
                image_bytes = image_path.read_bytes()
                shape = _decoded_shape(image_path)
            except (FrameReadError, NoFramesError) as exc:
                raise InteropError(f"{image_path}: {exc}") from exc
            _add_frame_and_mask(
                store,
                report,
                embryo_key=embryo_key or image_path.parent.name,
                explicit_key=embryo_key is not None,
                image_name=image_path.name,
                image_bytes=image_bytes,
                suffix=image_path.suffix.lower(),
                shape=shape,
                source=str(image_path),
                mask=mask,
                author=f"png:{mask_path.name}",
            )
        except (InteropError, ProjectError, OSError) as exc:
            report.skipped.append(_why_skipped(image_path, exc))
    return report


__all__ = ["ImportReport", "import_labelme_files", "import_png_masks"]
