"""Dataset layout v1 (ARCHITECTURE.md section 5): frames/, masks/ and labels.csv.

DIR/frames/<embryo_id>/<frame:04d>.png   grey uint8 (or uint16)
DIR/masks/<embryo_id>/<frame:04d>.png    uint8 class ids 0/1/2 (optional per frame)
DIR/labels.csv  embryo_id,frame,time_h,frag_pct,range_lo,range_hi,grade (blank where unknown)
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from embryograde_app.core.io.atomic import atomic_write_png, atomic_write_text

LABEL_COLUMNS = ("embryo_id", "frame", "time_h", "frag_pct", "range_lo", "range_hi", "grade")


class LayoutError(ValueError):
    """A dataset folder or labels.csv that does not follow layout v1 (message names file and reason)."""


@dataclass(frozen=True)
class LabelRow:
    embryo_id: str
    frame: int
    time_h: float | None = None
    frag_pct: float | None = None
    range_lo: float | None = None
    range_hi: float | None = None
    grade: str | None = None

    @property
    def has_range(self) -> bool:
        return self.range_lo is not None and self.range_hi is not None

    def as_csv_row(self) -> list[str]:
        def num(v: float | None, digits: int) -> str:
            return "" if v is None else f"{v:.{digits}f}"

        return [
            self.embryo_id,
            str(self.frame),
            num(self.time_h, 3),
            num(self.frag_pct, 3),
            num(self.range_lo, 2),
            num(self.range_hi, 2),
            self.grade or "",
        ]


def _opt_float(value: str, column: str, where: str) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise LayoutError(f"{where}: column {column!r} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise LayoutError(f"{where}: column {column!r} is not finite: {value!r}")
    return number


def parse_label_row(raw: dict[str, str], where: str) -> LabelRow:
    embryo = (raw.get("embryo_id") or "").strip()
    if not embryo:
        raise LayoutError(f"{where}: empty embryo_id")
    try:
        frame = int((raw.get("frame") or "").strip())
    except ValueError:
        raise LayoutError(f"{where}: frame is not an integer: {raw.get('frame')!r}") from None
    row = LabelRow(
        embryo_id=embryo,
        frame=frame,
        time_h=_opt_float(raw.get("time_h", ""), "time_h", where),
        frag_pct=_opt_float(raw.get("frag_pct", ""), "frag_pct", where),
        range_lo=_opt_float(raw.get("range_lo", ""), "range_lo", where),
        range_hi=_opt_float(raw.get("range_hi", ""), "range_hi", where),
        grade=(raw.get("grade") or "").strip() or None,
    )
    if (row.range_lo is None) != (row.range_hi is None):
        raise LayoutError(f"{where}: range_lo and range_hi must both be given or both blank")
    if row.has_range and not (0 <= row.range_lo <= row.range_hi <= 100):
        raise LayoutError(f"{where}: range [{row.range_lo}, {row.range_hi}] is not within 0 <= lo <= hi <= 100")
    if row.frag_pct is not None and not 0 <= row.frag_pct <= 100:
        raise LayoutError(f"{where}: frag_pct {row.frag_pct} is outside 0..100")
    return row


def read_labels(path: str | Path, problems: list[str] | None = None) -> list[LabelRow]:
    """Rows of a labels.csv; a bad row raises LayoutError naming the file and line.

    With a ``problems`` list a bad row is skipped and its message appended there instead (importing and
    viewing go on with the good rows; training and evaluation stop, so they never learn from half a table).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LayoutError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise LayoutError(f"{path}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = {"embryo_id", "frame"} - set(reader.fieldnames or ())
    if missing:
        raise LayoutError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    rows = []
    for i, raw in enumerate(reader, start=2):
        try:
            rows.append(parse_label_row(raw, f"{path}:{i}"))
        except LayoutError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
    return rows


def write_labels(path: str | Path, rows: Iterable[LabelRow]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(LABEL_COLUMNS)
    for row in rows:
        writer.writerow(row.as_csv_row())
    atomic_write_text(path, buf.getvalue())


@dataclass(frozen=True)
class LayoutItem:
    """One frame of a layout-v1 dataset with whatever is known about it."""

    embryo_id: str
    frame: int
    image_path: Path
    mask_path: Path | None
    label: LabelRow | None


class DatasetLayout:
    """A layout-v1 folder: paths, listing and the label table."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def frames_dir(self) -> Path:
        return self.root / "frames"

    @property
    def masks_dir(self) -> Path:
        return self.root / "masks"

    @property
    def labels_csv(self) -> Path:
        return self.root / "labels.csv"

    def frame_path(self, embryo_id: str, frame: int) -> Path:
        return self.frames_dir / embryo_id / f"{frame:04d}.png"

    def mask_path(self, embryo_id: str, frame: int) -> Path:
        return self.masks_dir / embryo_id / f"{frame:04d}.png"

    @staticmethod
    def is_layout(path: str | Path) -> bool:
        return (Path(path) / "frames").is_dir()

    def write_frame(self, embryo_id: str, frame: int, image: np.ndarray) -> Path:
        path = self.frame_path(embryo_id, frame)
        atomic_write_png(path, image)
        return path

    def write_mask(self, embryo_id: str, frame: int, mask: np.ndarray) -> Path:
        if mask.dtype != np.uint8 or mask.max(initial=0) > 2:
            raise ValueError("masks are uint8 with class ids 0, 1, 2")
        path = self.mask_path(embryo_id, frame)
        atomic_write_png(path, mask)
        return path

    def labels(self, problems: list[str] | None = None) -> dict[tuple[str, int], LabelRow]:
        """The label table by (embryo, frame); ``problems`` as in read_labels."""
        if not self.labels_csv.exists():
            return {}
        table: dict[tuple[str, int], LabelRow] = {}
        for row in read_labels(self.labels_csv, problems):
            key = (row.embryo_id, row.frame)
            if key in table and problems is not None:  # the later row is used, as before; now it is said
                problems.append(
                    f"{self.labels_csv}: embryo {key[0]} frame {key[1]} has more than one row; the last is used"
                )
            table[key] = row
        return table

    def embryo_ids(self) -> list[str]:
        if not self.frames_dir.is_dir():
            raise LayoutError(f"{self.root}: not a layout-v1 dataset (no frames/ folder)")
        return sorted(p.name for p in self.frames_dir.iterdir() if p.is_dir())

    def items(self, labels: dict[tuple[str, int], LabelRow] | None = None) -> Iterator[LayoutItem]:
        """Every frame file in embryo/frame order, joined with its mask and label row (read here if not given)."""
        labels = self.labels() if labels is None else labels
        for embryo in self.embryo_ids():
            for image_path in sorted((self.frames_dir / embryo).glob("*.png")):
                try:
                    frame = int(image_path.stem)
                except ValueError:
                    continue
                mask_path = self.mask_path(embryo, frame)
                yield LayoutItem(
                    embryo_id=embryo,
                    frame=frame,
                    image_path=image_path,
                    mask_path=mask_path if mask_path.exists() else None,
                    label=labels.get((embryo, frame)),
                )


def read_mask(path: str | Path) -> np.ndarray:
    """A class-id mask (uint8, values 0/1/2); LayoutError names the file when it is not one."""
    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8) if path.exists() else None
    if data is None or data.size == 0:
        raise LayoutError(f"{path}: mask file is missing or empty")
    mask = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise LayoutError(f"{path}: not a readable PNG mask")
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.dtype != np.uint8 or mask.max(initial=0) > 2:
        raise LayoutError(f"{path}: mask values must be class ids 0, 1, 2 (uint8)")
    return mask
