"""Mask editing without Qt: exact brush pixels, polygons, flood fill, patches, documents and review rules."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from embryograde_app.core.domain.schemes import get_scheme
from embryograde_app.core.project.corrections import Corrections
from embryograde_app.core.project.review import ReviewFilter, next_needing_review, quick_ranges, review_states
from embryograde_app.core.project.store import ProjectStore
from embryograde_app.core.view.editing import (
    brush_footprint,
    diff_patch,
    fill_polygon,
    flood_fill,
    paint_segment,
    pixel_under,
    polygon_mask,
)


def test_size_one_paints_exactly_the_pixel_under_the_cursor_anywhere_in_it():
    for x, y in [(7.01, 3.01), (7.99, 3.99), (7.5, 3.5), (7.0, 3.0)]:
        mask = np.zeros((10, 10), np.uint8)
        pixel = pixel_under(x, y)
        paint_segment(mask, pixel, pixel, 1, 2)
        assert np.argwhere(mask).tolist() == [[3, 7]]
        assert mask[3, 7] == 2


def test_brush_footprints_are_discs_of_the_given_diameter():
    assert brush_footprint(1).sum() == 1
    assert brush_footprint(3).sum() == 9  # diagonals at 1.41 <= 1.5
    disc = brush_footprint(9)
    assert disc.sum() == sum(1 for r in range(-5, 6) for c in range(-5, 6) if r * r + c * c <= 4.5**2 + 1e-9)
    assert (disc == disc.T).all() and (disc == disc[::-1]).all()


def test_a_fast_stroke_leaves_no_gaps_and_stays_within_the_capsule():
    mask = np.zeros((40, 60), np.uint8)
    paint_segment(mask, (5, 5), (30, 50), 3, 1)
    rows, cols = np.nonzero(mask)
    # every pixel painted is within 1.5 of the segment; the segment's pixels themselves are all painted
    for t in np.linspace(0, 1, 200):
        r, c = 5 + 25 * t, 5 + 45 * t
        assert mask[int(round(r)), int(round(c))] == 1
    d = np.abs((cols - 5) * 25 - (rows - 5) * 45) / np.hypot(25, 45)
    assert d.max() <= 1.5 + 1e-9
    # clipped at the border, nothing outside the image
    assert paint_segment(mask, (-10, -10), (-8, -8), 3, 1) is None
    region = paint_segment(mask, (0, 59), (0, 59), 5, 2)
    assert region is not None and mask[0, 59] == 2


def test_polygon_fills_pixel_centres_inside():
    square = polygon_mask((10, 10), [(2, 2), (6, 2), (6, 5), (2, 5)])
    assert np.argwhere(square).min(0).tolist() == [2, 2]
    assert np.argwhere(square).max(0).tolist() == [4, 5]
    assert square.sum() == 3 * 4
    tri = polygon_mask((50, 50), [(5, 5), (45, 5), (5, 45)])
    yc, xc = np.mgrid[0:50, 0:50] + 0.5
    assert (tri == ((xc > 5) & (yc > 5) & (xc + yc < 50))).all()  # exactly the centres inside
    assert polygon_mask((10, 10), [(1, 1), (5, 5)]).sum() == 0
    mask = np.zeros((10, 10), np.uint8)
    fill_polygon(mask, [(0, 0), (10, 0), (10, 10), (0, 10)], 1)
    assert (mask == 1).all()


def test_flood_fill_is_four_connected_and_exact():
    mask = np.zeros((8, 8), np.uint8)
    mask[1:4, 1:4] = 1
    mask[4, 4] = 1  # touches only diagonally: not part of the region
    assert flood_fill(mask, 2, 2, 2)
    assert (mask[1:4, 1:4] == 2).all() and mask[4, 4] == 1 and (mask == 2).sum() == 9
    assert not flood_fill(mask, 2, 2, 2)  # already that class
    assert not flood_fill(mask, 20, 2, 2)


def test_patches_undo_and_redo_exactly():
    rng = np.random.default_rng(0)
    before = rng.integers(0, 3, (30, 40), dtype=np.uint8)
    after = before.copy()
    paint_segment(after, (10, 10), (12, 20), 4, 2)
    patch = diff_patch(before, after)
    assert patch is not None and patch.nbytes < before.nbytes
    work = before.copy()
    patch.apply(work)
    assert (work == after).all()
    patch.revert(work)
    assert (work == before).all()
    assert diff_patch(before, before.copy()) is None
    with pytest.raises(ValueError):
        diff_patch(before, after[:10])


@pytest.fixture
def project(tmp_path):
    store = ProjectStore.create(tmp_path / "p")
    embryo = store.ensure_embryo("E1")
    ids = []
    for n in range(5):
        png = cv2.imencode(".png", np.full((12, 16), 40 + n, np.uint8))[1].tobytes()
        ids.append(store.add_frame(embryo, n, png, ".png", (12, 16), f"{n}.png")[0])
    yield store, ids
    store.close()


def test_documents_start_from_the_best_mask_and_save_human_revisions(project):
    store, ids = project
    corrections = Corrections(store, author="ann")
    model = np.ones((12, 16), np.uint8)
    doc = corrections.document(ids[0], lambda: model)
    assert (doc.mask == 1).all() and doc.revision_id is None
    doc.begin_stroke()
    paint_segment(doc.mask, (2, 2), (2, 2), 1, 2)
    patch = doc.end_stroke()
    assert patch is not None and patch.changed_pixels == 1
    assert corrections.save(doc) and not doc.dirty
    revision = store.latest_mask(ids[0], ("human",))
    assert revision.author == "ann" and (store.read_mask(revision) == doc.mask).all()
    # a fresh session reads the human revision back, not the model's mask
    again = Corrections(store).document(ids[0], lambda: np.zeros((12, 16), np.uint8))
    assert (again.mask == doc.mask).all()
    # no model mask at all: an empty mask of the frame's size
    assert (corrections.document(ids[1]).mask == 0).all()


def test_a_failed_save_stays_dirty_and_is_retried(project, monkeypatch):
    store, ids = project
    corrections = Corrections(store)
    doc = corrections.document(ids[0])
    doc.mask[0, 0] = 1
    real = store.add_mask_revision

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store, "add_mask_revision", broken)
    assert not corrections.save(doc)
    assert doc.dirty and doc.last_error == "disk full"
    assert store.latest_mask(ids[0], ("human",)) is None
    assert corrections.save_all() == [doc]
    monkeypatch.setattr(store, "add_mask_revision", real)
    assert corrections.save_all() == [] and not doc.dirty
    assert store.read_mask(store.latest_mask(ids[0], ("human",)))[0, 0] == 1


def test_span_labels_and_review_states(project):
    store, ids = project
    store.set_range_labels(ids[1:4], 10, 25, author="ann")
    assert [store.range_label(i) is not None for i in ids] == [False, True, True, True, False]
    before = store.conn.execute("SELECT COUNT(*) FROM range_labels").fetchone()[0]
    store.set_range_labels(ids[1:4], 10, 25)
    assert store.conn.execute("SELECT COUNT(*) FROM range_labels").fetchone()[0] == before
    store.set_review(ids[0], True, "ann")
    store.set_review(ids[2], True, "ann")
    states = review_states(store, ids)
    assert states[ids[0]].reviewed and "ann" in states[ids[0]].describe()
    assert not states[ids[1]].reviewed and states[ids[1]].describe() == "not reviewed"
    assert next_needing_review(ids, 0, states, ReviewFilter.UNREVIEWED) == 1
    assert next_needing_review(ids, 1, states, ReviewFilter.UNREVIEWED) == 3
    assert next_needing_review(ids, 4, states, ReviewFilter.UNREVIEWED) == 1  # wraps
    assert next_needing_review(ids, 0, states, ReviewFilter.FLAGGED) is None
    assert next_needing_review(ids, 0, states, ReviewFilter.FLAGGED_FIRST) == 1  # nothing flagged: unreviewed


def _active_model_with_a_20_pct_mask(store, tmp_path):
    """An active model version "m1" (a placeholder file: nothing loads it) and a mask whose area is 20 %."""
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    store.register_model("m1", weights, "0" * 64, activate=True)
    mask = np.zeros((12, 16), np.uint8)
    mask[:, :8] = 1
    mask[:, 8:10] = 2
    return mask


def test_next_to_review_skips_reviewed_frames_and_takes_flagged_ones_first(project, tmp_path):
    store, ids = project
    mask = _active_model_with_a_20_pct_mask(store, tmp_path)
    store.add_prediction(ids[0], "m1", 40.0, mask, "2", "istanbul2011")  # flagged: grade 3 vs grade 2
    store.add_prediction(ids[1], "m1", 22.0, mask, "2", "istanbul2011")
    store.add_prediction(ids[3], "m1", 45.0, mask, "2", "istanbul2011")  # flagged
    states = review_states(store, ids)
    assert states[ids[0]].disagreement and not states[ids[1]].disagreement
    assert next_needing_review(ids, 0, states, ReviewFilter.FLAGGED_FIRST) == 3  # past unflagged 1 and 2
    assert next_needing_review(ids, 3, states, ReviewFilter.FLAGGED_FIRST) == 0  # wraps to the other flagged
    assert next_needing_review(ids, 0, states, ReviewFilter.UNREVIEWED) == 1
    store.set_review(ids[3], True)
    store.set_review(ids[0], True)
    states = review_states(store, ids)
    assert next_needing_review(ids, 0, states, ReviewFilter.FLAGGED) is None  # flagged but reviewed: done
    assert next_needing_review(ids, 0, states, ReviewFilter.FLAGGED_FIRST) == 1
    for fid in ids:
        store.set_review(fid, True)
    states = review_states(store, ids)
    assert all(next_needing_review(ids, 0, states, rule) is None for rule in ReviewFilter)


def test_quick_ranges_follow_the_scheme():
    assert quick_ranges(get_scheme("istanbul2011")) == [("0–10 %", 0, 10), ("10–25 %", 10, 25), ("25–100 %", 25, 100)]
    assert len(quick_ranges(get_scheme("asebir"))) == 4


def test_time_course_marks_are_the_labels_training_uses(project):
    """The plot shows what retraining learns from and the report grades by: a mask first, then a range label."""
    from embryograde_app.core.project.summaries import label_marks
    from embryograde_app.core.training.retraining import gather_samples

    store, ids = project
    mask = np.zeros((12, 16), np.uint8)
    mask[:, :12] = 1
    mask[:, 12:] = 2  # 25 %
    store.add_mask_revision(ids[1], mask, "import", "dataset")  # a dataset's mask is a label too
    store.add_mask_revision(ids[2], mask, "human", "ann")
    store.set_range_label(ids[3], 10, 25)
    store.add_mask_revision(ids[3], mask, "human", "ann")  # the exact mask wins over the range
    store.set_range_label(ids[4], 10, 25)
    store.add_mask_revision(ids[0], mask, "model", "m")  # a model's mask is not a label
    marks = label_marks(store, ids, [10, 11, 12, 13, 14])
    assert marks == [(11, 25.0, 25.0), (12, 25.0, 25.0), (13, 25.0, 25.0), (14, 10.0, 25.0)]
    by_number = {s.frame: (s.lo_pct, s.hi_pct) for s in gather_samples(store)}
    assert [(lo, hi) for _n, lo, hi in marks] == [by_number[f.frame_number] for f in store.frames()[1:]]


def test_the_readout_takes_the_persons_answer_by_the_same_rule_as_the_report_and_training(project):
    from embryograde_app.core.view.readouts import person_answer

    store, ids = project
    mask = np.zeros((12, 16), np.uint8)
    mask[:, :8] = 1
    mask[:, 8:10] = 2  # 20 %
    store.add_mask_revision(ids[0], mask, "import", "dataset annotator")
    store.set_range_labels([ids[1]], 10, 25, author="ann")
    store.add_mask_revision(ids[2], mask, "model", "m1")
    labels = store.person_labels()
    for fid in ids:
        answer = person_answer(store, fid)
        label = labels.get(fid)
        assert (answer is None) == (label is None), fid
        if answer is not None:
            assert (answer.lo, answer.hi) == (label.lo, label.hi)
    assert person_answer(store, ids[0]).author == "dataset annotator"


def test_the_review_list_flags_by_the_readout_s_rule_the_person_s_answer_first(project, tmp_path):
    """Where a person answered, the model is flagged against them, not against its own mask: the list and the
    readout never disagree about the same frame."""
    from embryograde_app.core.domain.schemes import get_scheme
    from embryograde_app.core.view.readouts import make_readout, person_answer

    store, ids = project
    mask = _active_model_with_a_20_pct_mask(store, tmp_path)
    store.add_prediction(ids[0], "m1", 40.0, mask, "3", "istanbul2011")  # readings disagree (3 vs 2) ...
    store.set_range_labels([ids[0]], 25, 100, author="ann")  # ... but the person says grade 3: no flag
    store.add_prediction(ids[1], "m1", 21.0, mask, "2", "istanbul2011")  # readings agree (2 and 2) ...
    store.set_range_labels([ids[1]], 0, 10, author="ann")  # ... and the person says grade 1: flag
    store.add_prediction(ids[2], "m1", 40.0, mask, "3", "istanbul2011")  # nobody answered: readings disagree
    states = review_states(store, ids)
    assert [states[i].disagreement for i in ids[:3]] == [False, True, True]
    scheme = get_scheme("istanbul2011")
    for fid in ids[:3]:
        pred = store.prediction(fid, "m1")
        readout = make_readout(scheme, pred["regression_pct"], pred["area_pct"], answer=person_answer(store, fid))
        assert readout.disagreement == states[fid].disagreement


def test_an_import_is_told_apart_by_its_source_not_by_the_name_imported(project):
    """The readout says "imported mask" for what an import brought; a person whose name happens to be
    "imported" still gets "by imported" (the answer carries whether it came from an import)."""
    from embryograde_app.core.domain.schemes import get_scheme
    from embryograde_app.core.view.readouts import make_readout, person_answer

    store, ids = project
    mask = np.zeros((12, 16), np.uint8)
    mask[:, :8] = 1
    mask[:, 8:10] = 2  # 20 %
    store.add_mask_revision(ids[0], mask, "import", "labelme:frame_0001.json")
    store.add_mask_revision(ids[1], mask, "human", "imported")
    scheme = get_scheme("istanbul2011")
    by_import, by_person = (person_answer(store, fid) for fid in ids[:2])
    assert by_import.imported and by_import.author == "imported"
    assert not by_person.imported
    assert make_readout(scheme, 20.0, 20.0, answer=by_import).answer_text == "20.0 % (imported mask)"
    assert make_readout(scheme, 20.0, 20.0, answer=by_person).answer_text == "20.0 % (mask) by imported"
