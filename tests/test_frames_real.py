"""Frame readers on the real EmbryoScope exports in ../shared/data/real (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embryograde_app.core.io.frames import open_frames

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"

# folder -> (frames, well, slide, missing RUN numbers)
SEQUENCES = {
    "gomez-AA83-7": (285, 7, "S0717", []),
    "gomez-AAL839-6": (430, 6, "S0900", [95]),
}


def _folder(name: str) -> Path:
    folder = REAL_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder}")
    return folder


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_real_sequence_opens_in_order(name):
    expected_frames, well, slide, missing = SEQUENCES[name]
    seq = open_frames(_folder(name))  # phases.csv next to the frames is ignored
    assert len(seq) == expected_frames
    assert seq.problems == []
    numbers = seq.frame_numbers()
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert numbers[0] == 1
    # real RUN numbers are kept: gaps stay gaps, nothing is renumbered
    assert sorted(set(range(1, numbers[-1] + 1)) - set(numbers)) == missing
    assert seq.wells() == [well] and seq.focal_planes() == [None] and seq.slides() == [slide]
    assert [i.name for i in seq.infos[:3]] == [f"{seq.infos[0].name.split('_RUN')[0]}_RUN{n}.jpeg" for n in (1, 2, 3)]
    assert seq.cache_info().frames == 0  # opening decoded nothing

    for i in (0, len(seq) // 2, len(seq) - 1):
        image = seq.read(i)
        assert image.shape == (500, 500) and image.dtype == np.uint8
        assert 0 < float(image.mean()) < 255
        assert seq.read_uint8(i).dtype == np.uint8


def test_real_gap_at_run95():
    seq = open_frames(_folder("gomez-AAL839-6"))
    assert seq.index_of(95) is None
    before, after = seq.index_of(94), seq.index_of(96)
    assert before is not None and after == before + 1
    assert seq.infos[after].name.endswith("_WELL6_RUN96.jpeg")
    assert seq.infos[-1].frame_number == 431
