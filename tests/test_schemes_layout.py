"""Grading schemes, fragmentation %, layout-v1 labels: the domain contracts of ARCHITECTURE.md section 3 and 5."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embryograde_app.core.domain.schemes import frag_pct, get_scheme, load_schemes
from embryograde_app.core.io.layout import DatasetLayout, LabelRow, LayoutError, read_labels, read_mask, write_labels
from embryograde_app.core.project.csv_export import reported_grade


def test_frag_pct_formula():
    mask = np.zeros((10, 10), np.uint8)
    assert frag_pct(mask) == 0.0
    mask[:3] = 1  # 30 blastomere px
    mask[3:4] = 2  # 10 fragment px
    assert frag_pct(mask) == pytest.approx(25.0)
    assert frag_pct(np.full((4, 4), 2, np.uint8)) == 100.0


@pytest.mark.parametrize(
    ("pct", "grade"), [(0, "1"), (9.999, "1"), (10, "2"), (25, "2"), (25.001, "3"), (100, "3"), (-1, "1"), (150, "3")]
)
def test_istanbul_bins_and_edges(pct, grade):
    assert get_scheme("istanbul2011").grade(pct) == grade


@pytest.mark.parametrize(("pct", "grade"), [(5, "A"), (10, "B"), (25, "B"), (30, "C"), (35, "C"), (35.5, "D")])
def test_asebir_bins(pct, grade):
    assert get_scheme("asebir").grade(pct) == grade


@pytest.mark.parametrize(
    ("lo", "hi", "grade"),
    [(0, 10, "1"), (10, 25, "2"), (25, 100, "3"), (12, 12, "2"), (10, 10, "2"), (5, 15, None), (20, 30, None)],
)
def test_a_range_is_graded_by_its_inside(lo, hi, grade):
    """The quick buttons (0–10, 10–25, 25–100 %) each mean one grade although 10 % and 25 % are fair."""
    assert get_scheme("istanbul2011").range_grade(lo, hi) == grade


@pytest.mark.parametrize(
    ("lo", "hi", "model_pct", "grade"),
    [(0, 10, 15.0, "1"), (25, 100, 15.0, "3"), (10, 25, 3.0, "2"), (5, 15, 3.0, "1"), (5, 15, 20.0, "2"),
     (25, 30, 20.0, "3"), (20, 30, 40.0, "3"), (20, 30, 10.0, "2"), (25, 100, None, "3")],
)
def test_a_range_label_decides_the_reported_grade(lo, hi, model_pct, grade):
    """A person's range wins over the model; only a range that spans grades leaves the model to choose."""
    assert reported_grade(get_scheme("istanbul2011"), None, lo, hi, model_pct) == (grade, "human")


@pytest.mark.parametrize(("lo", "hi"), [(0, 10), (10, 25), (25, 100), (25, 30), (20, 30), (5, 15), (12, 12)])
@pytest.mark.parametrize("model_pct", [None, 0.0, 9.0, 10.0, 24.0, 25.0, 26.0, 60.0])
def test_the_csv_and_the_day_grades_read_a_range_label_alike(lo, hi, model_pct):
    """One rule: the grade in the CSV is the grade of the % the day grades and the report use
    (before, "25-30 %" with the model under 25 was grade 3 in the CSV and grade 2 in the day grade)."""
    from embryograde_app.core.project.timing import answer_pct

    scheme = get_scheme("istanbul2011")
    pct, by_person = answer_pct(model_pct, None, lo, hi)
    assert by_person and lo <= pct <= hi
    assert reported_grade(scheme, None, lo, hi, model_pct)[0] == scheme.grade(pct)
    inside = scheme.range_grade(lo, hi)
    assert inside is None or scheme.grade(pct) == inside  # a range within one grade is that grade


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown grading scheme 'nope'"):
        get_scheme("nope")


def test_overlapping_scheme_file_is_rejected(tmp_path):
    bad = {"x": {"bins": [{"grade": "1", "lo": 0, "hi": 20, "hi_closed": True}, {"grade": "2", "lo": 20, "hi": 100}]}}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="falls in 2 bins"):
        load_schemes(path)


def test_labels_round_trip(tmp_path):
    rows = [
        LabelRow("E1", 0, 24.0, 12.5, None, None, "2"),
        LabelRow("E1", 1, 24.25, None, 10.0, 25.0, "2"),
        LabelRow("E,2", 3),  # a comma in an id survives RFC 4180 quoting
    ]
    path = tmp_path / "labels.csv"
    write_labels(path, rows)
    assert read_labels(path) == rows


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("E1,x,,,,,", "frame is not an integer"),
        ("E1,0,,abc,,,", "'frag_pct' is not a number"),
        ("E1,0,,,30,20,", "not within 0 <= lo <= hi <= 100"),
        ("E1,0,,,10,,", "both be given"),
        (",0,,,,,", "empty embryo_id"),
        ("E1,0,,150,,,", "outside 0..100"),
    ],
)
def test_bad_label_rows_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "labels.csv"
    path.write_text("embryo_id,frame,time_h,frag_pct,range_lo,range_hi,grade\n" + line + "\n")
    with pytest.raises(LayoutError, match=message) as err:
        read_labels(path)
    assert "labels.csv:2" in str(err.value)


def test_labels_missing_columns(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(LayoutError, match="missing column"):
        read_labels(path)


def test_layout_items_join_masks_and_labels(tmp_path):
    layout = DatasetLayout(tmp_path)
    img = np.full((8, 8), 100, np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:4, 2:4] = 1
    layout.write_frame("E1", 0, img)
    layout.write_frame("E1", 1, img)
    layout.write_mask("E1", 0, mask)
    write_labels(layout.labels_csv, [LabelRow("E1", 1, range_lo=0, range_hi=10)])
    items = list(layout.items())
    assert [(i.frame, i.mask_path is not None, i.label is not None) for i in items] == [
        (0, True, False),
        (1, False, True),
    ]
    assert np.array_equal(read_mask(items[0].mask_path), mask)


def test_write_mask_rejects_non_class_values(tmp_path):
    with pytest.raises(ValueError):
        DatasetLayout(tmp_path).write_mask("E1", 0, np.full((4, 4), 7, np.uint8))


def test_read_mask_errors_name_the_file(tmp_path):
    empty = tmp_path / "m.png"
    empty.write_bytes(b"")
    with pytest.raises(LayoutError, match="m.png: mask file is missing or empty"):
        read_mask(empty)
    junk = tmp_path / "j.png"
    junk.write_bytes(b"not a png at all")
    with pytest.raises(LayoutError, match="j.png: not a readable PNG mask"):
        read_mask(junk)
