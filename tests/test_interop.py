"""labelme / PNG mask formats (core/io/annotations) and project export (small images; runs in seconds)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from embryograde_app.core.domain.schemes import frag_pct
from embryograde_app.core.io.annotations import (
    InteropError,
    labelme_to_mask,
    mask_to_labelme,
    match_masks,
    read_png_mask,
    write_labelme,
)
from embryograde_app.core.io.atomic import encode_png
from embryograde_app.core.io.layout import DatasetLayout, read_labels
from embryograde_app.core.project.dataset_export import export_labelme, export_layout_v1, export_png_masks, safe_name
from embryograde_app.core.project.mask_import import import_labelme_files, import_png_masks
from embryograde_app.core.project.store import ProjectStore
from embryograde_app.core.synth.generator import render_embryo


def _doc(shapes: list[dict], h: int = 20, w: int = 30, **extra) -> dict:
    doc = {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": "img.png", "imageData": None}
    doc.update(imageHeight=h, imageWidth=w, **extra)
    return doc


def _shape(label: str, points, shape_type: str | None = "polygon") -> dict:
    shape = {"label": label, "points": points, "group_id": None, "flags": {}}
    if shape_type is not None:
        shape["shape_type"] = shape_type
    return shape


def _write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc, encoding="utf-8")
    return path


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def _png_file(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(image))
    return path


def _counts(store: ProjectStore) -> tuple[int, int, int]:
    return tuple(
        int(store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        for table in ("embryos", "frames", "mask_revisions")
    )


@pytest.fixture(scope="module")
def synth_frames():
    return [f for i in range(3) for f in render_embryo(i, 2, size=128)]


# ------------------------------------------------------------------------------------------ labelme in


def test_polygon_circle_rectangle_and_missing_shape_type(tmp_path):
    doc = _doc(
        [
            _shape("Cell", [[2, 2], [8, 2], [8, 8], [2, 8]], shape_type=None),  # no shape_type: a polygon
            _shape("blastomere", [[20, 10], [23, 10]], "circle"),  # centre + rim point, radius 3
            _shape("FRAG", [[12, 14], [15, 17]], "rectangle"),
        ]
    )
    ann = labelme_to_mask(_write_json(tmp_path / "a.json", doc))
    mask = ann.mask
    assert mask.shape == (20, 30) and mask.dtype == np.uint8
    assert (mask[2:9, 2:9] == 1).all() and mask[1, 2] == 0 and mask[2, 9] == 0  # boundary pixels included
    assert mask[10, 20] == 1 and mask[10, 23] == 1 and mask[10, 24] == 0 and mask[13, 20] == 1
    assert (mask[14:18, 12:16] == 2).all() and np.count_nonzero(mask == 2) == 16
    assert ann.unknown_labels == [] and ann.image is None
    assert ann.image_path == tmp_path / "img.png"


def test_fragment_is_drawn_over_cell_whatever_the_order(tmp_path):
    frag = _shape("fragment", [[4, 4], [6, 4], [6, 6], [4, 6]])
    cell = _shape("cell", [[0, 0], [10, 0], [10, 10], [0, 10]])
    mask = labelme_to_mask(_write_json(tmp_path / "z.json", _doc([frag, cell]))).mask
    assert (mask[4:7, 4:7] == 2).all()
    assert np.count_nonzero(mask == 1) == 121 - 9


def test_unknown_labels_are_ignored_and_listed(tmp_path):
    doc = _doc(
        [
            _shape("zona", [[0, 0], [5, 0], [5, 5]]),
            _shape("cell", [[10, 10], [12, 10], [12, 12]]),
            _shape("zona", [[1, 1], [2, 1], [2, 2]]),
            _shape("pronucleus", [[3, 3], [4, 3], [4, 4]]),
            _shape("cell", [[1, 1]], "point"),
        ]
    )
    ann = labelme_to_mask(_write_json(tmp_path / "u.json", doc))
    assert ann.unknown_labels == ["pronucleus", "zona"]
    assert set(np.unique(ann.mask)) == {0, 1} and ann.mask[0, 0] == 0
    assert ann.ignored_shapes == ["cell (point)"]


def test_shapes_with_no_area_in_the_image_are_ignored_and_listed(tmp_path):
    """A 2-point "polygon" would paint a line, a 1-point one a pixel; a shape off the frame paints nothing."""
    doc = _doc(
        [
            _shape("cell", [[2, 2], [20, 2]]),
            _shape("fragment", [[5, 5]]),
            _shape("cell", [[40, 1], [50, 1], [50, 9]]),
            _shape("fragment", [[1, 1], [4, 1], [4, 4]]),
        ]
    )
    annotation = labelme_to_mask(_write_json(tmp_path / "a.json", doc))
    assert annotation.ignored_shapes == [
        "cell (a polygon of 2 point(s))",
        "fragment (a polygon of 1 point(s))",
        "cell (outside the image)",
    ]
    assert set(np.unique(annotation.mask)) == {0, 2}  # only the real fragment is drawn
    far = _doc([_shape("cell", [[0, 0], [1e12, 0], [0, 5]])])
    with pytest.raises(InteropError, match="far outside any image"):
        labelme_to_mask(_write_json(tmp_path / "far.json", far))


def test_embedded_image_data_gives_image_and_size(tmp_path):
    image = _image(12, 16)
    doc = _doc([_shape("cell", [[1, 1], [5, 1], [5, 5]])], h=None, w=None)
    del doc["imageHeight"], doc["imageWidth"]
    doc["imageData"] = base64.b64encode(encode_png(image)).decode("ascii")
    ann = labelme_to_mask(_write_json(tmp_path / "e.json", doc))
    assert ann.mask.shape == (12, 16)
    np.testing.assert_array_equal(ann.image, image)


@pytest.mark.parametrize(
    "content, reason",
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "not an object"),
        (json.dumps({"imageHeight": 5, "imageWidth": 5}), "missing key 'shapes'"),
        (json.dumps(_doc([_shape("cell", [[0, "a"], [1, 1], [2, 2]])])), "not a pair of finite numbers"),
        (json.dumps(_doc([_shape("cell", [[0, 0], [1, 1], [2]])])), "not an [x, y] pair"),
        (json.dumps(_doc([{"label": "cell", "shape_type": "polygon"}])), "missing key 'points'"),
        (json.dumps(_doc([], h=0, w=10)), "zero or negative image size"),
        (json.dumps({"shapes": [], "imagePath": "x.png"}), "missing key 'imageHeight'"),
        (json.dumps(_doc([], imageData="not base64 at all!!")), "imageData"),
    ],
)
def test_bad_labelme_files_name_file_and_reason(tmp_path, content, reason):
    path = _write_json(tmp_path / "bad.json", content)
    with pytest.raises(InteropError) as info:
        labelme_to_mask(path)
    assert str(path) in str(info.value) and reason in str(info.value)


# ------------------------------------------------------------------------------------------ labelme out


def _round_trip(mask: np.ndarray, tmp_path: Path, name: str = "rt.json") -> np.ndarray:
    path = tmp_path / name
    write_labelme(path, mask, "frame.png", mask.shape)
    return labelme_to_mask(path).mask


def test_simple_shapes_round_trip_exactly(tmp_path):
    mask = np.zeros((40, 50), np.uint8)
    cv2.circle(mask, (15, 15), 9, 1, -1)
    cv2.circle(mask, (14, 14), 3, 2, -1)  # fragment inside a cell (a hole in class 1)
    mask[30:35, 30:48] = 1
    mask[5, 40] = 2  # single pixel
    mask[8, 40:42] = 2  # two pixels
    mask[20:26, 40] = 1  # one pixel wide line
    mask[0:3, 0:3] = 2  # touches the image border
    cv2.line(mask, (25, 25), (29, 29), 1)  # diagonal, 8-connected
    np.testing.assert_array_equal(_round_trip(mask, tmp_path), mask)


def test_holes_round_trip_as_keyholes(tmp_path):
    mask = np.zeros((40, 40), np.uint8)
    mask[2:38, 2:38] = 1
    mask[6:16, 6:16] = 0  # background hole in a cell
    mask[8:12, 8:12] = 1  # a cell inside that hole
    mask[20:30, 20:30] = 2  # fragment over the cell region...
    mask[23:27, 23:27] = 0  # ...with a background hole of its own
    mask[6:12, 28:34] = 0  # a second hole in the same cell
    np.testing.assert_array_equal(_round_trip(mask, tmp_path), mask)


def test_export_format_is_labelme_5(tmp_path):
    mask = np.zeros((10, 12), np.uint8)
    mask[1:4, 1:4] = 1
    mask[6:8, 6:9] = 2
    path = tmp_path / "f.json"
    write_labelme(path, mask, "f.png", (10, 12, 3))
    doc = json.loads(path.read_text())
    assert doc["version"] == "5.2.1" and doc["imageData"] is None and doc["flags"] == {}
    assert (doc["imageHeight"], doc["imageWidth"], doc["imagePath"]) == (10, 12, "f.png")
    assert [s["label"] for s in doc["shapes"]] == ["cell", "fragment"]
    for shape in doc["shapes"]:
        assert set(shape) == {"label", "points", "group_id", "description", "shape_type", "flags"}
        assert shape["shape_type"] == "polygon" and len(shape["points"]) >= 3
    with pytest.raises(ValueError):
        mask_to_labelme(mask, "f.png", (11, 12))


def test_realistic_masks_round_trip(tmp_path, synth_frames):
    total = agree = 0
    for i, frame in enumerate(synth_frames):
        back = _round_trip(frame.mask, tmp_path, f"{i}.json")
        agree += int(np.count_nonzero(back == frame.mask))
        total += frame.mask.size
        assert np.mean(back == frame.mask) >= 0.99
        assert abs(frag_pct(back) - frame.frag_pct) < 1.0
    assert agree / total >= 0.999


# ------------------------------------------------------------------------------------------ PNG masks


def test_png_masks_class_ids_and_visual(tmp_path):
    ids = np.array([[0, 1, 2, 1]], np.uint8)
    np.testing.assert_array_equal(read_png_mask(_png_file(tmp_path / "ids.png", ids)), ids)
    for mid in (127, 128):
        visual = np.array([[0, mid, 255, mid]], np.uint8)
        np.testing.assert_array_equal(read_png_mask(_png_file(tmp_path / f"v{mid}.png", visual)), ids)
    rgb = cv2.cvtColor(np.array([[0, 128, 255, 128]], np.uint8), cv2.COLOR_GRAY2BGR)
    cv2.imwrite(str(tmp_path / "rgb.png"), rgb)
    np.testing.assert_array_equal(read_png_mask(tmp_path / "rgb.png"), ids)
    wide = np.array([[0, 32768, 65535, 32768]], np.uint16)
    np.testing.assert_array_equal(read_png_mask(_png_file(tmp_path / "w.png", wide)), ids)


@pytest.mark.parametrize(
    "values, reason",
    [([0, 3, 7], "3, 7"), ([0, 255], "binary mask"), ([0, 128, 200], "200"), ([0, 1, 2, 255], "255")],
)
def test_png_masks_with_other_values_are_refused(tmp_path, values, reason):
    path = _png_file(tmp_path / "bad.png", np.array([values], np.uint8))
    with pytest.raises(InteropError) as info:
        read_png_mask(path)
    assert str(path) in str(info.value) and reason in str(info.value)


def test_png_mask_not_an_image_and_colour(tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(InteropError, match="junk.png: not a readable image"):
        read_png_mask(junk)
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[0, 0] = (0, 0, 128)
    cv2.imwrite(str(tmp_path / "c.png"), colour)
    with pytest.raises(InteropError, match="colour mask"):
        read_png_mask(tmp_path / "c.png")


def test_match_masks_by_stem_mask_suffix_and_embryo_folder(tmp_path):
    images = [tmp_path / "E1" / "0001.png", tmp_path / "E1" / "0002.png", tmp_path / "E2" / "0001.png"]
    masks = tmp_path / "masks"
    _png_file(masks / "0002_mask.png", np.zeros((2, 2), np.uint8))
    _png_file(masks / "0001.png", np.zeros((2, 2), np.uint8))
    _png_file(masks / "E2" / "0001.png", np.zeros((2, 2), np.uint8))
    found = match_masks(images, masks)
    assert found == {
        images[0]: masks / "0001.png",
        images[1]: masks / "0002_mask.png",
        images[2]: masks / "E2" / "0001.png",
    }


# ------------------------------------------------------------------------------------------ import


def _labelme_folder(tmp_path: Path, synth_frames, count: int = 3) -> list[Path]:
    folder = tmp_path / "E007"
    paths = []
    for k, frame in enumerate(synth_frames[:count]):
        _png_file(folder / f"frame{k + 1:03d}.png", frame.image)
        path = folder / f"frame{k + 1:03d}.json"
        write_labelme(path, frame.mask, f"frame{k + 1:03d}.png", frame.mask.shape)
        paths.append(path)
    return paths


def test_import_labelme_is_idempotent(tmp_path, synth_frames):
    paths = _labelme_folder(tmp_path, synth_frames)
    store = ProjectStore.create(tmp_path / "proj")
    report = import_labelme_files(store, paths)
    assert (report.added_frames, report.added_masks, report.skipped) == (3, 3, [])
    assert _counts(store) == (1, 3, 3)
    frames = store.frames()
    assert [f.frame_number for f in frames] == [1, 2, 3] and frames[0].embryo_key == "E007"
    revision = store.latest_mask(frames[0].id)
    assert (revision.author_kind, revision.author) == ("import", "labelme:frame001.json")
    np.testing.assert_array_equal(store.read_mask(revision), labelme_to_mask(paths[0]).mask)
    again = import_labelme_files(store, paths)
    assert (again.added_frames, again.added_masks, again.skipped) == (0, 0, [])
    assert _counts(store) == (1, 3, 3)
    store.close()


def test_import_labelme_reuses_frames_the_caller_imported(tmp_path, synth_frames):
    paths = _labelme_folder(tmp_path, synth_frames, count=1)
    store = ProjectStore.create(tmp_path / "proj")
    embryo = store.ensure_embryo("S0717/well7")
    image_bytes = (tmp_path / "E007" / "frame001.png").read_bytes()
    frame_id, _ = store.add_frame(embryo, 185, image_bytes, ".png", (128, 128), source="caller")
    report = import_labelme_files(store, paths)
    assert (report.added_frames, report.added_masks) == (0, 1)
    assert _counts(store) == (1, 1, 1) and store.latest_mask(frame_id) is not None
    store.close()


def test_import_labelme_embedded_image_and_bad_files_are_skipped(tmp_path, synth_frames):
    frame = synth_frames[0]
    doc = mask_to_labelme(frame.mask, "gone/frame0009.png", frame.mask.shape)
    doc["imageData"] = base64.b64encode(encode_png(frame.image)).decode("ascii")
    embedded = _write_json(tmp_path / "emb.json", doc)
    corrupt = _write_json(tmp_path / "corrupt.json", "{")
    missing = _write_json(tmp_path / "missing.json", mask_to_labelme(frame.mask, "nowhere.png", frame.mask.shape))
    store = ProjectStore.create(tmp_path / "proj")
    report = import_labelme_files(store, [corrupt, embedded, missing], embryo_key="EMB")
    assert (report.added_frames, report.added_masks) == (1, 1)
    assert len(report.skipped) == 2
    assert any("corrupt.json" in s and "invalid JSON" in s for s in report.skipped)
    assert any("missing.json" in s and "not found" in s for s in report.skipped)
    (record,) = store.frames()
    assert (record.embryo_key, record.frame_number, record.image_path.suffix) == ("EMB", 9, ".png")
    np.testing.assert_array_equal(store.read_frame(record.id), frame.image)
    store.close()


def test_a_partly_annotated_labelme_folder_imports_each_image_once(tmp_path, synth_frames):
    """Images without an annotation and images with one share one numbering: none refused, none doubled."""
    from embryograde_app.core.project.frame_import import import_into_project

    folder = tmp_path / "well"
    for name, frame in zip(["alpha", "bravo", "charlie"], synth_frames, strict=False):
        _png_file(folder / f"{name}.png", frame.image)
    doc = mask_to_labelme(synth_frames[1].mask, "bravo.png", synth_frames[1].mask.shape)
    doc["shapes"].append(_shape("nucleus", [[1, 1], [5, 1], [5, 5]]))
    _write_json(folder / "bravo.json", doc)
    summary = import_into_project(tmp_path / "proj", [folder])
    assert (summary.added_frames, summary.added_masks, summary.skipped) == (3, 1, [])
    assert any("nucleus" in w for w in summary.warnings)  # labelme's warnings reach the summary
    with ProjectStore(tmp_path / "proj") as store:
        frames = store.frames()
        assert [f.frame_number for f in frames] == [0, 1, 2]
        np.testing.assert_array_equal(store.read_frame(frames[1].id), synth_frames[1].image)
        assert store.latest_mask(frames[1].id) is not None and store.latest_mask(frames[0].id) is None
    again = import_into_project(tmp_path / "proj", [folder])
    assert (again.added_frames, again.existing_frames, again.added_masks, again.skipped) == (0, 3, 0, [])


def test_import_png_masks(tmp_path, synth_frames):
    images = [_png_file(tmp_path / "E1" / f"{k:04d}.png", f.image) for k, f in enumerate(synth_frames[:3])]
    masks = tmp_path / "masks"
    _png_file(masks / "0000.png", synth_frames[0].mask)
    _png_file(masks / "0001_mask.png", (synth_frames[1].mask.astype(np.uint16) * 255 // 2).astype(np.uint8))
    _png_file(masks / "0002.png", np.full((128, 128), 9, np.uint8))  # bad values
    store = ProjectStore.create(tmp_path / "proj")
    report = import_png_masks(store, images, masks)
    assert (report.added_frames, report.added_masks) == (2, 2)
    assert len(report.skipped) == 1 and "0002.png" in report.skipped[0] and "9" in report.skipped[0]
    assert _counts(store) == (1, 2, 2)
    second = store.frames()[1]
    np.testing.assert_array_equal(store.read_mask(store.latest_mask(second.id)), synth_frames[1].mask)
    again = import_png_masks(store, images[:2], masks)
    assert (again.added_frames, again.added_masks, again.skipped) == (0, 0, [])
    store.close()


# ------------------------------------------------------------------------------------------ export


@pytest.fixture
def small_store(tmp_path, synth_frames):
    """Embryo 'S1/well 2' (unsafe key): frames 0..2 with import / model / no masks; one focal plane +15."""
    store = ProjectStore.create(tmp_path / "proj")
    embryo = store.ensure_embryo("S1/well 2")
    ids = []
    for k, frame in enumerate(synth_frames[:3]):
        frame_id, _ = store.add_frame(
            embryo, k, encode_png(frame.image), ".png", (128, 128), source="test", time_h=1.5 * k
        )
        ids.append(frame_id)
    store.add_mask_revision(ids[0], synth_frames[0].mask, "import", "test")
    store.add_mask_revision(ids[0], np.zeros((128, 128), np.uint8), "model", "v1")  # human/import wins
    store.add_prediction(ids[1], "v1", 12.0, synth_frames[1].mask, "2", "istanbul2011")  # model mask only
    store.set_range_label(ids[1], 12.0, 20.0)
    store.set_range_label(ids[2], 5.0, 30.0)  # spans two grades: no grade
    plane_id, _ = store.add_frame(embryo, 0, encode_png(synth_frames[3].image), ".png", (128, 128), "t", 15)
    store.add_mask_revision(plane_id, synth_frames[3].mask, "human", "me")
    yield store, ids, plane_id
    store.close()


def test_export_png_masks(tmp_path, small_store, synth_frames):
    store, _, _ = small_store
    out = tmp_path / "png"
    assert export_png_masks(store, out) == 3
    folder = out / safe_name("S1/well 2")
    assert folder.name == "S1_well_2"
    assert sorted(p.name for p in folder.iterdir()) == ["0000.png", "0000_F15.png", "0001.png"]
    np.testing.assert_array_equal(read_png_mask(folder / "0000.png"), synth_frames[0].mask)
    np.testing.assert_array_equal(read_png_mask(folder / "0001.png"), synth_frames[1].mask)


def test_export_labelme_round_trips_through_import(tmp_path, small_store, synth_frames):
    store, _, _ = small_store
    out = tmp_path / "lm"
    assert export_labelme(store, out) == 3
    folder = out / "S1_well_2"
    ann = labelme_to_mask(folder / "0000.json")
    assert ann.image_path == folder / "0000.png" and ann.image_path.is_file()
    assert np.mean(ann.mask == synth_frames[0].mask) >= 0.99
    other = ProjectStore.create(tmp_path / "proj2")
    report = import_labelme_files(other, sorted(folder.glob("*.json")))
    assert report.skipped == [] and report.added_masks == 3
    assert {(f.frame_number, f.focal_plane) for f in other.frames()} == {(0, 0), (1, 0), (0, 15)}
    other.close()


def test_export_layout_v1_reads_back_as_training_samples(tmp_path, small_store, synth_frames):
    store, _, _ = small_store
    out = tmp_path / "layout"
    assert export_layout_v1(store, out) == 4
    layout = DatasetLayout(out)
    assert layout.embryo_ids() == ["S1_well_2", "S1_well_2_F15"]
    rows = {(r.embryo_id, r.frame): r for r in read_labels(layout.labels_csv)}
    first, second, third = (rows[("S1_well_2", k)] for k in range(3))
    assert first.frag_pct == pytest.approx(synth_frames[0].frag_pct, abs=1e-3) and first.grade is not None
    assert second.frag_pct is None and (second.range_lo, second.range_hi, second.grade) == (12.0, 20.0, "2")
    assert not layout.mask_path("S1_well_2", 1).exists()  # model masks are not ground truth
    assert third.grade is None and third.time_h == pytest.approx(3.0)
    np.testing.assert_array_equal(cv2.imread(str(layout.frame_path("S1_well_2", 2)), 0), synth_frames[2].image)

    pytest.importorskip("torch")
    from embryograde_app.core.training.samples import samples_from_layout

    samples = {(s.embryo_id, s.frame): s for s in samples_from_layout(out)}
    assert len(samples) == 4
    assert samples[("S1_well_2", 0)].lo_pct == pytest.approx(synth_frames[0].frag_pct)
    assert (samples[("S1_well_2", 1)].lo_pct, samples[("S1_well_2", 1)].hi_pct) == (12.0, 20.0)
    assert samples[("S1_well_2_F15", 0)].mask_path is not None
