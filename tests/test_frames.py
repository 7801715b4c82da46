"""Frame readers: every format, name parsing, grouping, the LRU cache and bad-file handling."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from embryograde_app.core.io import frames as frames_mod
from embryograde_app.core.io.frames import (
    FrameInfo,
    FramePathNotFoundError,
    FrameProblem,
    FrameReadError,
    NoFramesError,
    group_by_well_and_focal,
    natural_key,
    open_frames,
    parse_frame_name,
    to_uint8,
)

SIZE = 32


def grey(value: int, dtype=np.uint8, size: int = SIZE) -> np.ndarray:
    """A small frame whose pixel (0, 0) encodes `value`, so tests can tell frames apart."""
    image = np.full((size, size), 10, dtype)
    image[0, 0] = value
    image[size // 2 :, size // 2 :] = value
    return image


def write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image), path
    return path


def marker(image: np.ndarray) -> int:
    return int(image[-1, -1])


# ----------------------------------------------------------------------------------------------
# names and ordering
# ----------------------------------------------------------------------------------------------


def test_natural_key_orders_numbers_by_value():
    names = ["RUN10.png", "RUN2.png", "run1.png", "RUN100.png", "RUN9.png"]
    assert sorted(names, key=natural_key) == ["run1.png", "RUN2.png", "RUN9.png", "RUN10.png", "RUN100.png"]
    assert natural_key("a01") != natural_key("a1")  # distinct names never tie


def test_parse_embryoscope_run_style():
    parsed = parse_frame_name("D2013.01.28_S0717_I132_WELL7_RUN185.jpeg")
    assert parsed == {"well": 7, "focal_plane": None, "frame_number": 185, "slide": "S0717"}
    # without the extension too (the name contains dots)
    assert parse_frame_name("D2013.01.28_S0717_I132_WELL7_RUN185")["frame_number"] == 185


def test_parse_embryoscope_dash_style_with_signed_focal_plane():
    assert parse_frame_name("20230304-17097-3-F15-157.jpg") == {
        "well": 3,
        "focal_plane": 15,
        "frame_number": 157,
        "slide": "17097",
    }
    assert parse_frame_name("20230304-17097-3-F-15-157.jpg")["focal_plane"] == -15
    assert parse_frame_name("20230304-17097-3-F0-1.jpg")["focal_plane"] == 0


def test_parse_plain_names():
    assert parse_frame_name("0001.png") == {
        "well": None,
        "focal_plane": None,
        "frame_number": 1,
        "slide": None,
    }
    assert parse_frame_name("snapshot.png")["frame_number"] is None
    parsed = parse_frame_name("well3_F-5_frame12.tif")
    assert (parsed["well"], parsed["focal_plane"], parsed["frame_number"]) == (3, -5, 12)
    # the well number is not mistaken for a frame number
    assert parse_frame_name("WELL7.tif")["frame_number"] is None


def test_group_by_well_and_focal():
    names = [
        "20230304-17097-3-F15-2.jpg",
        "20230304-17097-3-F-15-1.jpg",
        "20230304-17097-3-F15-10.jpg",
        "20230304-17097-4-F0-1.jpg",
        "20230304-17097-3-F-15-2.jpg",
    ]
    groups = group_by_well_and_focal(names)
    assert list(groups) == [(3, -15), (3, 15), (4, 0)]
    assert [p.name for p in groups[(3, 15)]] == ["20230304-17097-3-F15-2.jpg", "20230304-17097-3-F15-10.jpg"]


# ----------------------------------------------------------------------------------------------
# formats
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"])
def test_folder_of_images_in_natural_order(tmp_path, ext):
    for n in (10, 2, 1, 3):
        write(tmp_path / f"RUN{n}{ext}", grey(n * 20))
    (tmp_path / "notes.csv").write_text("not a frame\n")  # ignored, not a problem
    seq = open_frames(tmp_path)
    assert len(seq) == 4 and seq.problems == []
    assert [i.frame_number for i in seq.infos] == [1, 2, 3, 10]
    assert [i.page for i in seq.infos] == [None] * 4
    image = seq.read(3)
    assert image.shape == (SIZE, SIZE) and image.dtype == np.uint8
    assert abs(marker(image) - 200) <= 3  # jpeg is lossy


def test_plain_names_and_frame_number_fallback(tmp_path):
    for name in ("b.png", "a.png", "c.png"):
        write(tmp_path / name, grey(5))
    seq = open_frames(tmp_path)
    assert [i.name for i in seq.infos] == ["a.png", "b.png", "c.png"]
    assert seq.frame_numbers() == [0, 1, 2]  # no number in the name: position in the sequence


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_stays_16_bit(tmp_path, ext):
    image = grey(4000, np.uint16)  # 12-bit data in uint16
    write(tmp_path / f"0001{ext}", image)
    seq = open_frames(tmp_path)
    out = seq.read(0)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, image)
    as8 = seq.read_uint8(0)
    assert as8.dtype == np.uint8 and as8.max() == 255 and as8.min() == 0


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp"])
def test_rgb_and_rgba_become_grey(tmp_path, ext):
    bgr = np.zeros((SIZE, SIZE, 3), np.uint8)
    bgr[..., 1] = 200  # pure green
    write(tmp_path / f"1{ext}", bgr)
    out = open_frames(tmp_path / f"1{ext}").read(0)
    assert out.ndim == 2 and out.dtype == np.uint8
    assert abs(int(out.mean()) - round(0.587 * 200)) <= 3


def test_rgba_png_and_rgb_tiff(tmp_path):
    bgra = np.zeros((SIZE, SIZE, 4), np.uint8)
    bgra[..., 2] = 100  # red in cv2's BGR order
    bgra[..., 3] = 255
    write(tmp_path / "a.png", bgra)
    rgb = np.zeros((SIZE, SIZE, 3), np.uint16)
    rgb[..., 0] = 1000  # red in tifffile's RGB order
    tifffile.imwrite(tmp_path / "b.tif", rgb, photometric="rgb")
    seq = open_frames(tmp_path)
    red_weight = 0.299
    assert abs(int(seq.read(0).mean()) - round(red_weight * 100)) <= 1
    out16 = seq.read(1)
    assert out16.dtype == np.uint16 and abs(int(out16.mean()) - round(red_weight * 1000)) <= 2


def test_multipage_tiff_each_page_a_frame(tmp_path):
    stack = np.stack([grey(v, np.uint16) for v in (100, 200, 300, 400, 500)])
    tifffile.imwrite(tmp_path / "WELL4.tif", stack, photometric="minisblack")
    seq = open_frames(tmp_path / "WELL4.tif")
    assert len(seq) == 5
    assert [i.page for i in seq.infos] == [0, 1, 2, 3, 4]
    assert seq.frame_numbers() == [0, 1, 2, 3, 4]
    assert seq.wells() == [4]
    assert seq.infos[2].name == "WELL4.tif [2]"
    assert [marker(seq.read(i)) for i in (4, 0, 2)] == [500, 100, 300]


def test_lzw_tiff_written_by_opencv(tmp_path):
    """cv2 writes LZW TIFFs, which tifffile cannot decode without imagecodecs: read them anyway."""
    pages = [grey(v, np.uint16) for v in (1000, 2000, 3000)]
    assert cv2.imwritemulti(str(tmp_path / "stack.tif"), pages)
    seq = open_frames(tmp_path / "stack.tif")
    assert len(seq) == 3
    for i, page in enumerate(pages):
        np.testing.assert_array_equal(seq.read(i), page)


def test_truncated_tiff_is_reported(tmp_path):
    stack = np.random.default_rng(1).integers(0, 60000, (3, 64, 64)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "full.tif", stack, photometric="minisblack")
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "full.tif").unlink()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    seq = open_frames(tmp_path / "cut.tif")
    # the first page is whole and still loads; the cut-off rest is reported at open time
    assert len(seq) == 1
    np.testing.assert_array_equal(seq.read(0), stack[0])
    assert [str(p) for p in seq.problems] == ["cut.tif: truncated TIFF (only 1 page(s) readable; the rest is cut off)"]

    # cut inside the first page's pixels: found at read time
    (tmp_path / "cut1.tif").write_bytes(data[:3000])
    seq = open_frames(tmp_path / "cut1.tif")
    with pytest.raises(FrameReadError, match="cut1.tif: truncated TIFF"):
        seq.read(0)
    assert [p.path.name for p in seq.problems] == ["cut1.tif", "cut1.tif"]


def test_single_page_tiff_and_float_tiff(tmp_path):
    tifffile.imwrite(tmp_path / "one.tif", grey(77))
    seq = open_frames(tmp_path / "one.tif")
    assert len(seq) == 1 and seq.infos[0].page is None and marker(seq.read(0)) == 77

    floats = np.linspace(0.0, 1.0, SIZE * SIZE, dtype=np.float32).reshape(SIZE, SIZE)
    tifffile.imwrite(tmp_path / "float01.tif", floats)
    out = open_frames(tmp_path / "float01.tif").read(0)
    assert out.dtype == np.uint16 and out.min() == 0 and out.max() == 65535

    wide = floats * 5000 - 100
    wide[0, 0] = np.nan
    tifffile.imwrite(tmp_path / "floatwide.tif", wide)
    out = open_frames(tmp_path / "floatwide.tif").read(0)
    assert out.dtype == np.uint16 and out.max() == 65535

    tifffile.imwrite(tmp_path / "nan.tif", np.full((SIZE, SIZE), np.nan, np.float32))
    seq = open_frames(tmp_path / "nan.tif")
    with pytest.raises(FrameReadError, match="nan.tif: .*no finite"):
        seq.read(0)


def test_video_frames(tmp_path):
    path = tmp_path / "WELL2.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (32, 32), isColor=True)
    if not writer.isOpened():
        pytest.skip("MJPG video writer not available in this OpenCV build")
    values = [20, 60, 100, 140, 180, 220]
    for v in values:
        writer.write(np.full((32, 32, 3), v, np.uint8))
    writer.release()
    try:
        seq = open_frames(path)
    except NoFramesError as exc:
        pytest.skip(f"video cannot be read back here: {exc}")
    assert len(seq) == len(values)
    assert [i.page for i in seq.infos] == list(range(len(values)))
    assert seq.wells() == [2]
    # sequential, then random access (seek)
    got = [int(seq.read(i).mean()) for i in range(len(values))]
    assert all(abs(g - v) <= 4 for g, v in zip(got, values, strict=True))
    assert abs(int(seq.read(1).mean()) - 60) <= 4
    assert seq.read(3).shape == (32, 32)
    seq.close()


# ----------------------------------------------------------------------------------------------
# EmbryoScope exports: gaps, mixed wells and focal planes
# ----------------------------------------------------------------------------------------------


def test_embryoscope_gaps_keep_real_numbers(tmp_path):
    for run in (1, 2, 3, 5, 10, 11):  # 4 and 6-9 missing
        write(tmp_path / f"D2013.01.28_S0717_I132_WELL7_RUN{run}.jpeg", grey(run))
    seq = open_frames(tmp_path)
    assert seq.frame_numbers() == [1, 2, 3, 5, 10, 11]
    assert seq.index_of(4) is None and seq.index_of(10) == 4
    assert seq.wells() == [7] and seq.focal_planes() == [None] and seq.slides() == ["S0717"]


def test_mixed_wells_and_focal_planes(tmp_path):
    for well in (3, 4):
        for focal in (-15, 0, 15):
            for frame in (1, 2, 10):
                write(tmp_path / f"20230304-17097-{well}-F{focal}-{frame}.png", grey(well * 10 + frame))
    seq = open_frames(tmp_path)
    assert len(seq) == 18
    assert seq.wells() == [3, 4]
    assert seq.focal_planes() == [-15, 0, 15]

    plane = seq.subset(well=4, focal_plane=-15)
    assert len(plane) == 3
    assert plane.frame_numbers() == [1, 2, 10]
    assert all(i.well == 4 and i.focal_plane == -15 for i in plane.infos)
    assert marker(plane.read(2)) == 50

    assert len(seq.subset(focal_plane=0)) == 6  # None = any well
    groups = seq.groups()
    assert list(groups) == [(w, f) for w in (3, 4) for f in (-15, 0, 15)]
    assert all(len(g) == 3 for g in groups.values())
    # subsets share the cache
    before = seq.cache_info().hits
    seq.read(seq.infos.index(plane.infos[2]))
    assert seq.cache_info().hits == before + 1


# ----------------------------------------------------------------------------------------------
# lazy reads and the LRU cache
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def folder_200(tmp_path) -> Path:
    for n in range(1, 201):
        write(tmp_path / f"{n:04d}.png", grey(n))
    return tmp_path


def test_open_decodes_nothing(folder_200, monkeypatch):
    calls = []
    for name in ("imdecode", "imread"):
        original = getattr(cv2, name)
        monkeypatch.setattr(cv2, name, lambda *a, _o=original, **k: calls.append(1) or _o(*a, **k))
    seq = open_frames(folder_200)
    assert len(seq) == 200 and calls == []
    assert seq.cache_info().frames == 0
    seq.read(0)
    assert len(calls) == 1


def test_lru_cache_is_bounded_and_hits(folder_200):
    seq = open_frames(folder_200, cache_frames=16)
    for i in range(len(seq)):
        assert marker(seq.read(i)) == i + 1
        assert seq.cache_info().frames <= 16
    info = seq.cache_info()
    assert info.frames == 16 and info.misses == 200 and info.hits == 0
    seq.read(199)  # most recent: a hit
    seq.read(0)  # evicted long ago: a miss
    info = seq.cache_info()
    assert (info.hits, info.misses) == (1, 201)


def test_cache_byte_limit_and_copies(folder_200):
    seq = open_frames(folder_200, cache_frames=1000, cache_bytes=SIZE * SIZE * 10)
    for i in range(50):
        seq.read(i)
    assert seq.cache_info().frames == 10 and seq.cache_info().nbytes <= SIZE * SIZE * 10
    image = seq.read(49)
    image[:] = 0  # callers get a copy: the cached frame is unchanged
    assert marker(seq.read(49)) == 50


def test_cache_disabled(folder_200):
    seq = open_frames(folder_200, cache_frames=0)
    seq.read(0)
    seq.read(0)
    assert seq.cache_info().frames == 0 and seq.cache_info().hits == 0


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------


def _encoded(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def test_bad_files_are_reported_and_skipped(tmp_path):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    base = "D2013.01.28_S0717_I132_WELL7_RUN{}"
    write(tmp_path / (base.format(1) + ".jpeg"), grey(1))
    (tmp_path / (base.format(2) + ".jpeg")).write_bytes(b"")
    jpeg = _encoded(".jpg", noisy)
    (tmp_path / (base.format(3) + ".jpeg")).write_bytes(jpeg[: len(jpeg) // 2])
    png = _encoded(".png", noisy)
    (tmp_path / (base.format(4) + ".png")).write_bytes(png[: len(png) // 2])
    (tmp_path / (base.format(5) + ".png")).write_text("this is a text file, not a PNG\n")
    write(tmp_path / (base.format(6) + ".png"), grey(6))
    bmp = _encoded(".bmp", noisy)
    (tmp_path / (base.format(7) + ".bmp")).write_bytes(bmp[: len(bmp) // 2])
    (tmp_path / (base.format(8) + ".tif")).write_bytes(b"\x00\x01\x02\x03garbage")

    seq = open_frames(tmp_path)
    assert seq.frame_numbers() == [1, 6]
    assert [marker(seq.read(i)) for i in range(2)] == [1, 6]
    messages = {p.path.name: str(p) for p in seq.problems}
    assert len(messages) == 6
    assert messages[base.format(2) + ".jpeg"] == base.format(2) + ".jpeg: file is empty (0 bytes)"
    assert "truncated JPEG" in messages[base.format(3) + ".jpeg"]
    assert "truncated PNG" in messages[base.format(4) + ".png"]
    assert "not an image (unrecognised header" in messages[base.format(5) + ".png"]
    assert "text file" in messages[base.format(5) + ".png"]
    assert "truncated BMP" in messages[base.format(7) + ".bmp"]
    assert "not an image" in messages[base.format(8) + ".tif"]
    assert all(str(p).startswith(p.path.name + ": ") for p in seq.problems)


def test_decode_failure_at_read_time_raises_and_is_recorded(tmp_path):
    write(tmp_path / "0001.png", grey(1))
    write(tmp_path / "0002.png", grey(2))
    # header and end marker look fine, the middle is garbage: only decoding can tell
    (tmp_path / "0003.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x07" * 200 + b"IEND\xaeB`\x82")
    write(tmp_path / "0004.png", grey(4))
    seq = open_frames(tmp_path)
    assert len(seq) == 4 and seq.problems == []
    (tmp_path / "0004.png").unlink()  # vanished after opening

    with pytest.raises(FrameReadError) as err:
        seq.read(2)
    assert isinstance(err.value, ValueError)
    assert err.value.path.name == "0003.png" and "0003.png" in str(err.value)
    assert "corrupt PNG" in err.value.reason
    with pytest.raises(FrameReadError, match="0004.png: file not found"):
        seq.read(3)
    with pytest.raises(FrameReadError):  # known failure: raised again, recorded once
        seq.read(2)
    assert [p.path.name for p in seq.problems] == ["0003.png", "0004.png"]

    good = [info.frame_number for info, _ in seq.iter_frames()]
    assert good == [1, 2]
    sub = seq.subset(well=None)
    assert [p.path.name for p in sub.problems] == ["0003.png", "0004.png"]


def test_empty_folder_error(tmp_path):
    with pytest.raises(NoFramesError, match="empty"):
        open_frames(tmp_path)


def test_folder_without_images_lists_what_it_found(tmp_path):
    (tmp_path / "labels.csv").write_text("a,b\n")
    (tmp_path / "readme.txt").write_text("hi\n")
    (tmp_path / "frames").mkdir()
    with pytest.raises(NoFramesError) as err:
        open_frames(tmp_path)
    message = str(err.value)
    assert "no image or video files" in message
    assert "labels.csv" in message and "readme.txt" in message and "frames/" in message


def test_nonexistent_path_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FramePathNotFoundError, match="nope: no such file or folder"):
        open_frames(missing)
    with pytest.raises(FileNotFoundError):
        open_frames(missing)
    with pytest.raises(ValueError):
        open_frames(missing)


def test_all_files_bad_is_an_error_with_problems(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.jpg").write_text("hello")
    with pytest.raises(NoFramesError) as err:
        open_frames(tmp_path)
    assert "a.png: file is empty" in str(err.value)
    assert len(err.value.problems) == 2


def test_list_of_files_with_missing_and_unsupported(tmp_path):
    a = write(tmp_path / "RUN2.png", grey(2))
    b = write(tmp_path / "RUN1.png", grey(1))
    other = tmp_path / "notes.txt"
    other.write_text("x")
    seq = open_frames([a, tmp_path / "gone.png", b, other])
    assert [i.name for i in seq.infos] == ["RUN2.png", "RUN1.png"]  # the caller's order is kept
    reasons = sorted(str(p) for p in seq.problems)
    assert reasons == ["gone.png: file not found", "notes.txt: unsupported file type '.txt'"]


def test_unsupported_single_file(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("x")
    with pytest.raises(NoFramesError, match="unsupported file type"):
        open_frames(path)


# ----------------------------------------------------------------------------------------------
# to_uint8 and records
# ----------------------------------------------------------------------------------------------


def test_to_uint8():
    u8 = grey(9)
    assert to_uint8(u8) is u8
    ramp = np.arange(4096, dtype=np.uint16).reshape(64, 64)  # 12-bit data
    out = to_uint8(ramp)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert np.all(np.diff(out.ravel().astype(int)) >= 0)  # monotonic
    hot = np.full((100, 100), 1000, np.uint16)
    hot[:50] = 2000
    hot[0, 0] = 65535  # one hot pixel does not crush the contrast
    out = to_uint8(hot)
    assert out[99, 99] == 0 and out[10, 10] == 255
    flat = np.full((10, 10), 257 * 40, np.uint16)
    assert np.all(to_uint8(flat) == 40)
    assert to_uint8(np.array([[0.0, 0.5, 1.0]], np.float32)).tolist() == [[0, 128, 255]]


def test_records_are_frozen_and_readable():
    problem = FrameProblem(Path("/x/D_RUN7.jpeg"), "file is empty (0 bytes)")
    assert str(problem) == "D_RUN7.jpeg: file is empty (0 bytes)"
    info = FrameInfo(Path("a.png"), None, 1, None, None, None, "a.png")
    with pytest.raises(AttributeError):
        info.frame_number = 2  # type: ignore[misc]
    err = FrameReadError("/x/y.png", "truncated PNG")
    assert str(err) == "y.png: truncated PNG" and err.path == Path("/x/y.png")
    assert frames_mod.DEFAULT_CACHE_FRAMES == 64


def test_leading_frame_number_with_a_trailing_focal_plane():
    assert parse_frame_name("0001_F15.png") == {"well": None, "focal_plane": 15, "frame_number": 1, "slide": None}


def test_a_frame_too_small_to_hold_an_embryo_is_refused_naming_it(tmp_path):
    """A 1x1 PNG was graded (0.18 %) with exit 0."""
    write(tmp_path / "0001.png", grey(1))
    write(tmp_path / "0002.png", np.full((1, 1), 90, np.uint8))
    seq = open_frames(tmp_path)
    assert marker(seq.read(0)) == 1
    with pytest.raises(FrameReadError, match=r"0002.png: 1x1 px is too small to hold an embryo \(at least 32 px"):
        seq.read(1)
