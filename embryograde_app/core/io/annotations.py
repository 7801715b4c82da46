"""Annotation formats: labelme JSON and PNG masks read into class-id masks and written from them.

Putting them into a project is core/project/mask_import's job; taking a project out again is dataset_export's.

Masks are uint8 class ids: 0 background, 1 blastomere ("cell"), 2 fragment (ARCHITECTURE.md section 3).

labelme
    Shapes labelled "cell"/"blastomere" become class 1 and "fragment"/"frag" class 2 (case-insensitive,
    plurals accepted). Polygons, circles (centre + a point on the rim), rectangles and labelme 5.3+ "mask"
    shapes are filled; cells are drawn first and fragments on top, so a fragment over a cell is a fragment.
    Other labels are ignored and listed; line/point shapes cover no area and are ignored too.
    Export writes one polygon per connected component of each class. labelme polygons have no holes, so
    enclosed background is cut in as a "keyhole": the polygon walks in to the hole along a straight line of
    the component's own pixels, around it and back out, which even-odd filling (OpenCV, PIL, labelme)
    leaves empty. A hole that no straight line reaches is filled instead (rare; the only loss). The round
    trip mask -> labelme -> mask is exact on the masks we tested, synthetic embryos included.
    Coordinates follow labelme: integer (x, y) is the centre of pixel (x, y), and a polygon covers the
    pixels on its boundary, which is what cv2.findContours returns and cv2.fillPoly fills.

PNG masks
    Class-id masks (values within {0, 1, 2}) are read as they are. "Visual" masks, class ids scaled to the
    full range so that they can be looked at, map 0 -> 0, 127 or 128 -> 1 and 255 -> 2 (uint16:
    32767/32768 -> 1, 65535 -> 2). A mask of only 0 and 255 is refused: a binary mask does not say which
    class its foreground is. Colour (palette) masks are refused with the colours found.

Qt-free and torch-free.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from embryograde_app.core.domain.schemes import BLASTOMERE, FRAGMENT
from embryograde_app.core.io.atomic import atomic_write_text

LABELME_VERSION = "5.2.1"
CELL_LABELS = frozenset({"cell", "cells", "blastomere", "blastomeres"})
FRAGMENT_LABELS = frozenset({"fragment", "fragments", "frag", "frags"})
EXPORT_LABELS = {BLASTOMERE: "cell", FRAGMENT: "fragment"}
AREA_SHAPES = frozenset({"polygon", "circle", "rectangle", "mask"})
MAX_COORDINATE = 1e6  # px: far beyond any microscope frame; keeps the int32 pixel maths from overflowing
MASK_SUFFIXES = (".png",)


class InteropError(ValueError):
    """An annotation file that cannot be used; the message names the file and the reason."""


# ================================================================================================ labelme in


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields, not annotations
class LabelmeAnnotation:
    """A labelme file as a class-id mask, with what it says about its image."""

    json_path: Path
    image_path: Path | None  # "imagePath" resolved against the JSON's folder; may not exist
    image: np.ndarray | None  # grey uint8 decoded from embedded "imageData", else None
    mask: np.ndarray  # uint8 (H, W) class ids
    unknown_labels: list[str]  # labels that are neither cell nor fragment (ignored), sorted, once each
    image_bytes: bytes | None = field(default=None, repr=False)  # the embedded image file, when present
    ignored_shapes: list[str] = field(default_factory=list)  # "label (shape_type)" of shapes with no area


def _class_of_label(label: str) -> int | None:
    name = label.strip().lower()
    if name in CELL_LABELS:
        return BLASTOMERE
    if name in FRAGMENT_LABELS:
        return FRAGMENT
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _points(raw: object, where: str) -> np.ndarray:
    """(N, 2) float array of a shape's points; InteropError when they are not pairs of finite numbers."""
    if not isinstance(raw, list) or not raw:
        raise InteropError(f"{where}: 'points' must be a non-empty list of [x, y] pairs")
    out = []
    for point in raw:
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise InteropError(f"{where}: point {point!r} is not an [x, y] pair")
        x, y = _number(point[0]), _number(point[1])
        if x is None or y is None:
            raise InteropError(f"{where}: point {point!r} is not a pair of finite numbers")
        if max(abs(x), abs(y)) > MAX_COORDINATE:
            raise InteropError(f"{where}: point {point!r} is far outside any image")
        out.append((x, y))
    return np.asarray(out, dtype=np.float64)


def _why_no_area(points: np.ndarray, shape_type: str, height: int, width: int) -> str | None:
    """Why an area shape would paint nothing (or a stray line) in the image; None when it is a real area."""
    if shape_type == "polygon" and len(points) < 3:
        return f"a polygon of {len(points)} point(s)"
    if shape_type in ("circle", "rectangle") and len(points) >= 2:
        if shape_type == "circle":
            radius = math.dist(points[0], points[1])
            lo, hi = points[0] - radius, points[0] + radius
        else:
            lo, hi = points[:2].min(axis=0), points[:2].max(axis=0)
    else:
        lo, hi = points.min(axis=0), points.max(axis=0)
    if hi[0] < -0.5 or hi[1] < -0.5 or lo[0] > width - 0.5 or lo[1] > height - 0.5:
        return "outside the image"
    return None


def _pixel_points(points: np.ndarray) -> np.ndarray:
    return np.rint(points).astype(np.int32)


def _decode_grey(data: bytes) -> np.ndarray | None:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    return image if image is not None and image.size else None


def _image_size(doc: dict, image: np.ndarray | None, where: str) -> tuple[int, int]:
    height, width = doc.get("imageHeight"), doc.get("imageWidth")
    if height is None and width is None and image is not None:
        return int(image.shape[0]), int(image.shape[1])
    if height is None or width is None:
        missing = "imageHeight" if height is None else "imageWidth"
        raise InteropError(f"{where}: missing key {missing!r} (and no embedded imageData to take the size from)")
    h, w = _number(height), _number(width)
    if h is None or w is None or h != int(h) or w != int(w):
        raise InteropError(f"{where}: imageHeight/imageWidth must be whole numbers, got {height!r} x {width!r}")
    if h <= 0 or w <= 0:
        raise InteropError(f"{where}: zero or negative image size {int(h)} x {int(w)}")
    if image is not None and image.shape[:2] != (int(h), int(w)):
        raise InteropError(
            f"{where}: imageHeight/imageWidth {int(h)} x {int(w)} do not match the embedded image "
            f"{image.shape[0]} x {image.shape[1]}"
        )
    return int(h), int(w)


def _draw_shape(canvas: np.ndarray, shape: dict, shape_type: str, where: str) -> None:
    """Fill one area shape into a binary canvas (labelme's geometry, pixel centres at integers)."""
    points = _points(shape.get("points"), where)
    if shape_type == "polygon":
        cv2.fillPoly(canvas, [_pixel_points(points)], 1)
    elif shape_type == "circle":
        if len(points) < 2:
            raise InteropError(f"{where}: a circle needs a centre and a point on its rim")
        (cx, cy), (rx, ry) = points[0], points[1]
        radius = math.hypot(rx - cx, ry - cy)
        cv2.circle(canvas, (round(cx), round(cy)), round(radius), 1, thickness=-1)
    elif shape_type == "rectangle":
        if len(points) < 2:
            raise InteropError(f"{where}: a rectangle needs two corner points")
        (x0, y0), (x1, y1) = _pixel_points(points[:2])
        cv2.rectangle(canvas, (int(min(x0, x1)), int(min(y0, y1))), (int(max(x0, x1)), int(max(y0, y1))), 1, -1)
    elif shape_type == "mask":  # labelme 5.3+: a base64 PNG covering the box points[0]..points[1]
        try:
            patch_bytes = base64.b64decode(shape.get("mask") or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise InteropError(f"{where}: 'mask' is not base64 data") from None
        patch = _decode_grey(patch_bytes) if patch_bytes else None
        if patch is None:
            raise InteropError(f"{where}: 'mask' is not an embedded PNG")
        x0, y0 = (int(v) for v in _pixel_points(points[:1])[0])
        h, w = canvas.shape
        ys, xs = np.nonzero(patch)
        ys, xs = ys + y0, xs + x0
        inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        canvas[ys[inside], xs[inside]] = 1


def labelme_to_mask(json_path: str | os.PathLike) -> LabelmeAnnotation:
    """Read a labelme file into a class-id mask; InteropError names the file and what is wrong with it."""
    json_path = Path(json_path)
    try:
        text = json_path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InteropError(f"{json_path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise InteropError(f"{json_path}: not a labelme JSON file (not UTF-8 text)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InteropError(
            f"{json_path}: not a labelme JSON file (invalid JSON: {exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(doc, dict):
        raise InteropError(f"{json_path}: not a labelme JSON file (top level is not an object)")
    if "shapes" not in doc:
        raise InteropError(f"{json_path}: missing key 'shapes'")
    shapes = doc["shapes"]
    if not isinstance(shapes, list):
        raise InteropError(f"{json_path}: 'shapes' is not a list")

    image_bytes = image = None
    raw_data = doc.get("imageData")
    if raw_data:
        if not isinstance(raw_data, str):
            raise InteropError(f"{json_path}: 'imageData' is not base64 text")
        try:
            image_bytes = base64.b64decode(raw_data, validate=False)
        except (binascii.Error, ValueError):
            raise InteropError(f"{json_path}: 'imageData' is not valid base64") from None
        image = _decode_grey(image_bytes)
        if image is None:
            raise InteropError(f"{json_path}: 'imageData' is not a readable image")
    height, width = _image_size(doc, image, str(json_path))

    image_path = None
    raw_path = doc.get("imagePath")
    if raw_path:
        if not isinstance(raw_path, str):
            raise InteropError(f"{json_path}: 'imagePath' is not text")
        relative = Path(raw_path.replace("\\", "/"))  # labelme on Windows writes backslashes
        image_path = Path(os.path.normpath(json_path.parent / relative))

    layers = {BLASTOMERE: np.zeros((height, width), np.uint8), FRAGMENT: np.zeros((height, width), np.uint8)}
    unknown: set[str] = set()
    ignored: list[str] = []
    for index, shape in enumerate(shapes):
        where = f"{json_path}: shape {index}"
        if not isinstance(shape, dict):
            raise InteropError(f"{where} is not an object")
        label = shape.get("label")
        if not isinstance(label, str):
            raise InteropError(f"{where}: missing or non-text 'label'")
        shape_type = shape.get("shape_type") or "polygon"
        if not isinstance(shape_type, str):
            raise InteropError(f"{where}: 'shape_type' is not text")
        if "points" not in shape:
            raise InteropError(f"{where} ({label!r}): missing key 'points'")
        class_id = _class_of_label(label)
        if class_id is None:
            _points(shape["points"], f"{where} ({label!r})")  # still a broken file if the points are broken
            unknown.add(label)
            continue
        if shape_type not in AREA_SHAPES:
            ignored.append(f"{label} ({shape_type})")
            continue
        no_area = _why_no_area(_points(shape["points"], f"{where} ({label!r})"), shape_type, height, width)
        if no_area is not None:
            ignored.append(f"{label} ({no_area})")
            continue
        _draw_shape(layers[class_id], shape, shape_type, f"{where} ({label!r})")

    mask = np.zeros((height, width), np.uint8)
    mask[layers[BLASTOMERE] > 0] = BLASTOMERE
    mask[layers[FRAGMENT] > 0] = FRAGMENT  # fragments on top of cells
    return LabelmeAnnotation(
        json_path=json_path,
        image_path=image_path,
        image=image,
        mask=mask,
        unknown_labels=sorted(unknown),
        image_bytes=image_bytes,
        ignored_shapes=ignored,
    )


# ================================================================================================ labelme out


def _check_mask(mask: np.ndarray) -> None:
    if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.ndim != 2 or int(mask.max(initial=0)) > 2:
        raise ValueError("a mask is a 2-D uint8 array of class ids 0, 1, 2")


_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))


def _bridge(region: np.ndarray, hole: list[tuple[int, int]], outer_index: dict[tuple[int, int], int]):
    """A straight run of region pixels from a hole's boundary to the outer boundary, or None.

    Axis and diagonal runs rasterise to exactly the pixels walked, so drawing the bridge adds nothing.
    Returns (position in hole, position in outer).
    """
    h, w = region.shape
    for hole_pos, (x, y) in enumerate(hole):
        for dx, dy in _DIRECTIONS:
            px, py = x, y
            while 0 <= px + dx < w and 0 <= py + dy < h and region[py + dy, px + dx]:
                px, py = px + dx, py + dy
            if (px, py) in outer_index:
                return hole_pos, outer_index[(px, py)]
    return None


def _merge_straight_runs(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop repeated points and the inner points of straight axis/diagonal runs (what fillPoly draws stays)."""
    out: list[tuple[int, int]] = []
    for point in points:
        if out and point == out[-1]:
            continue
        if len(out) >= 2:
            (ax, ay), (bx, by) = out[-2], out[-1]
            step_in = (int(np.sign(bx - ax)), int(np.sign(by - ay)))
            step_out = (int(np.sign(point[0] - bx)), int(np.sign(point[1] - by)))
            straight_in = bx - ax == 0 or by - ay == 0 or abs(bx - ax) == abs(by - ay)
            straight_out = point[0] - bx == 0 or point[1] - by == 0 or abs(point[0] - bx) == abs(point[1] - by)
            if step_in == step_out and straight_in and straight_out:
                out[-1] = point
                continue
        out.append(point)
    return out


def mask_polygons(mask: np.ndarray, class_id: int) -> list[list[list[int]]]:
    """One polygon [[x, y], ...] per connected component of a class, holes cut in as "keyholes".

    labelme has no polygons with holes, but a single polygon that walks in to each hole along a straight
    line of the component's own pixels, around the hole, and back out fills (even-odd, as OpenCV and PIL
    do) the component without its hole. A hole with no such straight line is filled instead (rare).
    A one- or two-pixel component has a one- or two-point contour; its last point is repeated so that every
    polygon has three points (labelme and most tools refuse fewer) and still fills exactly those pixels.
    """
    _check_mask(mask)
    region = (mask == class_id).astype(np.uint8)
    contours, hierarchy = cv2.findContours(region, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    polygons = []
    if hierarchy is None:
        return polygons
    links = hierarchy[0]
    for index, contour in enumerate(contours):
        if links[index][3] != -1:
            continue  # a hole: handled with its outer boundary
        outer = [(int(x), int(y)) for x, y in contour.reshape(-1, 2)]
        outer_index = {point: pos for pos, point in enumerate(outer)}
        inserts: dict[int, list[tuple[int, int]]] = {}
        child = links[index][2]
        while child != -1:
            hole = [(int(x), int(y)) for x, y in contours[child].reshape(-1, 2)]
            found = _bridge(region, hole, outer_index)
            if found is not None:
                hole_pos, outer_pos = found
                loop = hole[hole_pos:] + hole[: hole_pos + 1]
                inserts.setdefault(outer_pos, []).extend([*loop, outer[outer_pos]])
            child = links[child][0]
        points: list[tuple[int, int]] = []
        for pos, point in enumerate(outer):
            points.append(point)
            points.extend(inserts.get(pos, ()))
        points = _merge_straight_runs(points) or points[:1]
        while len(points) < 3:
            points.append(points[-1])
        polygons.append([[x, y] for x, y in points])
    return polygons


def mask_to_labelme(mask: np.ndarray, image_path: str, image_shape: Sequence[int]) -> dict:
    """A labelme 5.x document for a class-id mask: one polygon per component ("cell" first, then "fragment").

    Holes are cut in as keyholes (see mask_polygons); importing the document gives the mask back.
    """
    _check_mask(mask)
    height, width = int(image_shape[0]), int(image_shape[1])
    if mask.shape != (height, width):
        raise ValueError(f"mask {mask.shape} does not match the image {(height, width)}")
    shapes = []
    for class_id in (BLASTOMERE, FRAGMENT):
        for points in mask_polygons(mask, class_id):
            shapes.append(
                {
                    "label": EXPORT_LABELS[class_id],
                    "points": points,
                    "group_id": None,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                }
            )
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }


def write_labelme(path: str | os.PathLike, mask: np.ndarray, image_path: str, image_shape: Sequence[int]) -> None:
    """Write mask_to_labelme(...) atomically, so an interrupted export never leaves half a JSON file."""
    atomic_write_text(path, json.dumps(mask_to_labelme(mask, image_path, image_shape), indent=2) + "\n")


# ================================================================================================ PNG masks


def _values_text(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return shown + (f", ... ({len(values)} values)" if len(values) > limit else "")


def read_png_mask(path: str | os.PathLike) -> np.ndarray:
    """A class-id mask from a PNG holding class ids or a "visual" scaled mask (see the module docstring)."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InteropError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if data.size == 0:
        raise InteropError(f"{path}: mask file is empty")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InteropError(f"{path}: not a readable image")
    if image.ndim == 3:
        colour = image[..., :3]  # an alpha channel carries no class
        if not (np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 0], colour[..., 2])):
            found = np.unique(colour.reshape(-1, 3), axis=0)[:6][:, ::-1].tolist()
            raise InteropError(f"{path}: colour mask (RGB colours {found}...); expected grey class ids 0, 1, 2")
        image = colour[..., 0]
    if image.dtype not in (np.uint8, np.uint16):
        raise InteropError(f"{path}: unsupported mask pixel type {image.dtype}")
    values = np.unique(image)
    if values.size == 0 or int(values[-1]) <= 2:
        return image.astype(np.uint8)
    top = 255 if image.dtype == np.uint8 else 65535
    mids = {top // 2, top // 2 + 1}
    present = set(int(v) for v in values)
    if present <= {0, top} | mids:
        if not present & mids:
            raise InteropError(
                f"{path}: binary mask (values {_values_text(values)}) does not say whether its foreground is "
                "cell or fragment; expected class ids 0, 1, 2 or a visual mask 0, 128, 255"
            )
        mask = np.zeros(image.shape, np.uint8)
        mask[np.isin(image, list(mids))] = BLASTOMERE
        mask[image == top] = FRAGMENT
        return mask
    raise InteropError(
        f"{path}: mask values {_values_text(values)} are neither class ids 0, 1, 2 nor a visual mask 0, 128, 255"
    )


def match_masks(image_paths: Iterable[str | os.PathLike], masks_dir: str | os.PathLike) -> dict[Path, Path]:
    """Pair images with masks by stem (`<stem>.png` or `<stem>_mask.png`).

    A mask in `masks_dir/<image's folder name>/` wins over one directly in `masks_dir`, so per-embryo mask
    folders (as export_png_masks writes them) pair up even when frame names repeat across embryos.
    """
    masks_dir = Path(masks_dir)
    index: dict[tuple[str, str], Path] = {}  # (sub-folder or "", lower-case stem) -> mask file

    def add(folder: Path, sub: str) -> None:
        if not folder.is_dir():
            return
        for file in sorted(folder.iterdir()):
            if file.is_file() and file.suffix.lower() in MASK_SUFFIXES:
                index.setdefault((sub, file.stem.lower()), file)

    add(masks_dir, "")
    images = [Path(p) for p in image_paths]
    for sub in sorted({p.parent.name for p in images}):
        if sub:
            add(masks_dir / sub, sub)
    matches: dict[Path, Path] = {}
    for image in images:
        stem = image.stem.lower()
        for key in ((image.parent.name, stem), (image.parent.name, f"{stem}_mask"), ("", stem), ("", f"{stem}_mask")):
            if key in index:
                matches[image] = index[key]
                break
    return matches


# ================================================================================================ import


__all__ = [
    "InteropError",
    "LabelmeAnnotation",
    "labelme_to_mask",
    "mask_polygons",
    "mask_to_labelme",
    "match_masks",
    "read_png_mask",
    "write_labelme",
]
