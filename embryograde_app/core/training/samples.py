"""Turns a layout-v1 folder into training samples (exact % from masks, range labels from labels.csv)."""

from __future__ import annotations

from pathlib import Path

from embryograde_app.core.domain.schemes import frag_pct
from embryograde_app.core.io.layout import DatasetLayout, LayoutError, read_mask


def samples_from_layout(root: str | Path) -> list:
    """Every frame with a mask or a label. A mask wins over the csv's frag_pct (it is the exact truth)."""
    from models.training.data import Sample  # torch is imported only by commands that train or evaluate

    layout = DatasetLayout(root)
    if not layout.frames_dir.is_dir():
        raise LayoutError(f"{root}: not a layout-v1 dataset (no frames/ folder)")
    samples = []
    for item in layout.items():
        lo = hi = None
        if item.mask_path is not None:
            lo = hi = frag_pct(read_mask(item.mask_path))
        elif item.label is not None and item.label.has_range:
            lo, hi = item.label.range_lo, item.label.range_hi
        elif item.label is not None and item.label.frag_pct is not None:
            lo = hi = item.label.frag_pct
        samples.append(
            Sample(
                image_path=str(item.image_path),
                embryo_id=item.embryo_id,
                frame=item.frame,
                mask_path=str(item.mask_path) if item.mask_path else None,
                lo_pct=lo,
                hi_pct=hi,
            )
        )
    if not samples:
        raise LayoutError(f"{root}: the dataset has no frames")
    return samples
