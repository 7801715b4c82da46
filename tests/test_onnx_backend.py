"""ONNX Runtime on the CPU: the same masks and readings as torch, one export per weights file, torch on demand."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from models.inference import onnx_backend
from models.inference.predictor import Predictor

pytest.importorskip("onnxruntime")


@pytest.fixture
def weights(tmp_path, tiny_weights):
    """The tiny network in a folder of its own (exports land next to the weights)."""
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_weights.with_suffix(suffix), tmp_path / f"net{suffix}")
    return tmp_path / "net.safetensors"


def _frames(tiny_dataset) -> list[np.ndarray]:
    from embryograde_app.core.training.samples import samples_from_layout
    from models.network.inputs import read_grey_uint8

    return [read_grey_uint8(s.image_path) for s in samples_from_layout(tiny_dataset)]


def test_onnx_gives_the_same_masks_and_readings_as_torch(weights, tiny_dataset):
    frames = _frames(tiny_dataset)
    onnx = Predictor.from_file(weights, "cpu", backend="onnx")
    torch_ = Predictor.from_file(weights, "cpu", backend="torch")
    assert onnx.backend == "onnxruntime" and torch_.backend == "torch"
    for a, b in zip(onnx.predict(frames), torch_.predict(frames), strict=True):
        assert np.mean(a.mask == b.mask) >= 0.999
        assert abs(a.regression_pct - b.regression_pct) <= 0.05
        assert np.abs(a.attention - b.attention).max() < 1e-3


def test_one_export_per_weights_and_a_new_one_when_they_change(weights):
    Predictor.from_file(weights, "cpu", backend="onnx")
    exports = list(weights.parent.glob("*.onnx"))
    assert len(exports) == 1 and exports[0].name.startswith("net.")
    stamp = exports[0].stat().st_mtime_ns
    Predictor.from_file(weights, "cpu", backend="onnx")
    assert exports[0].stat().st_mtime_ns == stamp  # reused, not exported again
    model = Predictor.from_file(weights, "cpu", backend="torch").model
    newer = onnx_backend.ensure_exported(model, weights, "f" * 64)  # the weights changed: another key
    assert newer.exists() and [p.name for p in weights.parent.glob("*.onnx")] == [newer.name]  # stale one gone


def test_the_switch_forces_torch(weights, monkeypatch):
    monkeypatch.setenv(onnx_backend.BACKEND_ENV, "torch")
    assert Predictor.from_file(weights, "cpu").backend == "torch"
    assert not list(weights.parent.glob("*.onnx"))
    monkeypatch.setenv(onnx_backend.BACKEND_ENV, "tensorrt")
    with pytest.raises(ValueError, match="EMBRYOGRADE_BACKEND"):
        Predictor.from_file(weights, "cpu")


def test_a_failed_export_falls_back_to_torch_and_leaves_no_partial_file(weights, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(onnx_backend.torch.onnx, "export", broken)
    predictor = Predictor.from_file(weights, "cpu")
    assert predictor.backend == "torch" and "exporter exploded" in predictor.backend_note
    assert not list(weights.parent.glob("*.onnx")) and not list(weights.parent.glob(".*.tmp"))
    with pytest.raises(onnx_backend.OnnxUnavailable):
        Predictor.from_file(weights, "cpu", backend="onnx")


def test_a_read_only_weights_folder_exports_to_the_cache(weights, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_backend, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(onnx_backend, "_writable", lambda folder: folder == tmp_path / "cache")
    assert Predictor.from_file(weights, "cpu", backend="onnx").backend == "onnxruntime"
    assert len(list((tmp_path / "cache").glob("net.*.onnx"))) == 1


def test_two_threads_meeting_new_weights_export_them_once(weights):
    """The inference worker and a re-grade both met a newly published model: one export failed
    ("GLOBALS.in_onnx_export must be False") and fell back to torch."""
    import threading

    results: list = []

    def load():
        results.append(Predictor.from_file(weights, "cpu").backend)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["onnxruntime", "onnxruntime"]
    assert len(list(weights.parent.glob("*.onnx"))) == 1


def test_a_projects_copy_of_the_weights_shares_their_export(weights, tmp_path, monkeypatch):
    """Grade all on a new project used to export the copied bundled model again, building the torch network in
    a background thread of the window (a 68 ms event-loop gap): the copy now starts from the source's export."""
    from embryograde_app.core.project.registry import register_weights
    from embryograde_app.core.project.store import ProjectStore

    Predictor.from_file(weights, "cpu", backend="onnx")  # the source's export, as shipped for the bundled model
    with ProjectStore.create(tmp_path / "proj") as store:
        _version, copy = register_weights(store, weights, activate=True)
    shared = list(copy.parent.glob("*.onnx"))
    assert len(shared) == 1 and shared[0].read_bytes() == next(weights.parent.glob("*.onnx")).read_bytes()
    monkeypatch.setattr(onnx_backend, "_export", lambda *a, **k: pytest.fail("exported again"))
    monkeypatch.setattr(onnx_backend, "_export_in_child", lambda *a, **k: pytest.fail("exported again"))
    predictor = Predictor.from_file(copy, "cpu")
    assert predictor.backend == "onnxruntime" and predictor.model is None  # no torch network was built
