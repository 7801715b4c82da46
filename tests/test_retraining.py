"""Retraining from a project's corrections: samples, candidate, publish/discard/rollback, failure, cancel, cache."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from embryograde_app.core.domain.schemes import frag_pct
from embryograde_app.core.project import registry as reg
from embryograde_app.core.project.frame_import import import_into_project
from embryograde_app.core.project.registry import ensure_active_model
from embryograde_app.core.project.store import ProjectError, ProjectStore
from embryograde_app.core.training import retraining as rt
from models.inference.weights import read_metadata, sha256_of
from models.training.loop import TrainingCancelled, TrainingError


def _settings(project, **kw) -> rt.RetrainSettings:
    base = {"project": str(project), "epochs": 1, "batch_size": 4, "device": "cpu", "views": 1, "val_fraction": 0.34,
            "generator_frames": 4}
    base.update(kw)
    return rt.RetrainSettings(**base)


def _active(project) -> str:
    with ProjectStore(project) as store:
        return store.active_model()["version"]


def _candidate_files(project) -> list:
    folder = project / reg.CANDIDATES_DIR
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _assert_one_candidate(project, candidate) -> None:
    """Weights, sidecar, the run's owner note and, on the CPU, its ONNX export (the re-grade starts on it)."""
    files = _candidate_files(project)
    exports = [f for f in files if f.endswith(".onnx")]
    assert len(exports) == 1 and exports[0].startswith(f"{candidate.version}.")
    rest = [f for f in files if f not in exports]
    assert rest == [f"{candidate.version}.{ext}" for ext in ("json", "owner", "safetensors")]


def test_samples_are_human_and_imported_labels_never_model_masks(project):
    with ProjectStore(project) as store:
        frames = store.frames()
        masked = next(f for f in frames if store.latest_mask(f.id, ("import",)) is not None)
        ranged = next(f for f in frames if store.latest_mask(f.id) is None)
        # A correction after the import wins; a model's mask on a range-labelled frame is not training data.
        corrected = np.zeros((masked.height, masked.width), np.uint8)
        corrected[10:40, 10:40] = 1
        corrected[20:25, 20:30] = 2
        store.add_mask_revision(masked.id, corrected, "human", "dr-a")
        store.add_mask_revision(ranged.id, np.full((ranged.height, ranged.width), 2, np.uint8), "model", "tiny")
        samples = {(s.embryo_id, s.frame): s for s in rt.gather_samples(store)}
        label = store.range_label(ranged.id)
    assert len(samples) == len(frames)  # every frame of this set carries a mask or a range
    s = samples[(masked.embryo_key, masked.frame_number)]
    assert s.lo_pct == s.hi_pct == pytest.approx(frag_pct(corrected))
    r = samples[(ranged.embryo_key, ranged.frame_number)]
    assert r.mask_path is None and (r.lo_pct, r.hi_pct) == (label["lo"], label["hi"])


def test_retrain_makes_a_candidate_and_leaves_the_active_model(project):
    updates = []
    candidate = rt.retrain(_settings(project, epochs=3), updates.append)
    assert _active(project) == "tiny-test" and candidate.parent_version == "tiny-test"
    _assert_one_candidate(project, candidate)
    assert [u.epoch for u in updates if u.epoch_end] == [1, 2, 3]
    assert updates[0].phase == "features" and updates[-1].fraction == 1.0
    fractions = [u.fraction for u in updates]
    assert fractions == sorted(fractions)
    for metrics in (candidate.before, candidate.after):
        assert set(metrics) >= {"mae_pct", "range_violation_rate", "dice_fragment"}
        assert metrics["n_frames"] > 0
    val = set(candidate.data_summary["val_embryos"])
    train = candidate.data_summary["stages"]["stage2"]["train"]
    assert val and train["embryos"] + len(val) == 6  # split by embryo, no embryo on both sides
    assert candidate.acceptable == (not candidate.warnings)


def test_publish_registers_a_version_and_rollback_restores_the_parent(project):
    candidate = rt.retrain(_settings(project))
    path = reg.publish(candidate)
    assert path == project / "models" / f"{candidate.version}.safetensors" and not _candidate_files(project)
    assert len(list(path.parent.glob(f"{candidate.version}.*.onnx"))) == 1  # its export came along
    versions = {v.version: v for v in reg.model_versions(project)}
    new = versions[candidate.version]
    assert new.active and new.parent_version == "tiny-test" and not versions["tiny-test"].active
    assert new.metrics["before"] == candidate.before and new.metrics["after"] == candidate.after
    assert read_metadata(path)["metrics"]["after"] == candidate.after  # the sidecar carries them too
    assert new.data_summary["val_embryos"] == candidate.data_summary["val_embryos"]
    with ProjectStore(project) as store:
        row = store.active_model()
        assert row["sha256"] == sha256_of(path) == read_metadata(path)["sha256"]
        assert [
            json.loads(r["details"])["version"]
            for r in store.conn.execute("SELECT details FROM audit WHERE action='activate' ORDER BY id")
        ][-1] == candidate.version
    assert read_metadata(path)["parent"]["version"] == "tiny-test"

    old = reg.rollback(project, "tiny-test")
    assert _active(project) == "tiny-test" and old.name == "tiny-test.safetensors"
    assert reg.rollback(project, candidate.version) == path  # and forward again
    with pytest.raises(ProjectError, match="no model version"):
        reg.rollback(project, "nope")
    path.write_bytes(path.read_bytes()[:-10])  # a damaged file is never made active
    reg.rollback(project, "tiny-test")
    with pytest.raises(ProjectError, match="changed since they were registered"):
        reg.rollback(project, candidate.version)
    assert _active(project) == "tiny-test"


def test_discard_leaves_nothing(project):
    candidate = rt.retrain(_settings(project))
    reg.discard(candidate)
    assert not _candidate_files(project)
    assert [v.version for v in reg.model_versions(project)] == ["tiny-test"]
    with pytest.raises(reg.RetrainError, match="candidate file is gone"):
        reg.publish(candidate)


def test_nan_loss_fails_and_keeps_the_old_model(project, monkeypatch):
    import torch

    import models.training.stage2 as training

    monkeypatch.setattr(training, "reg_loss", lambda fraction, lo, hi: fraction.sum() * torch.tensor(float("nan")))
    with pytest.raises(TrainingError, match="loss became nan"):
        rt.retrain(_settings(project))
    assert _active(project) == "tiny-test" and not _candidate_files(project)


def test_cancel_in_the_middle_leaves_no_candidate(project):
    seen = []

    def stop() -> bool:
        return len(seen) >= 2  # two epochs done, many to go

    with pytest.raises(TrainingCancelled):
        rt.retrain(_settings(project, stage="1", stage1_epochs=50, patience=100), seen.append, stop)
    assert 2 <= len(seen) < 50
    assert _active(project) == "tiny-test" and not _candidate_files(project)


def test_too_few_labels_is_a_clear_error(tmp_path, tiny_weights):
    root = tmp_path / "empty"
    with ProjectStore.create(root) as store:
        ensure_active_model(store, tiny_weights)
    with pytest.raises(rt.RetrainError, match="at least 2 frames"):
        rt.retrain(_settings(root))


def test_feature_cache_is_reused_across_runs_and_versions(project, tmp_path):
    from embryograde_app.core.synth.generator import generate_dataset

    first = rt.retrain(_settings(project))
    assert first.cache["hits"] == 0 and first.cache["misses"] > 0
    assert any((project / rt.FEATURE_CACHE_DIR).rglob("*.safetensors"))
    reg.publish(first)  # stage 2 keeps the frozen half bit-identical: the next version reuses the features
    second = rt.retrain(_settings(project))
    assert second.parent_version == first.version
    assert second.cache == {"hits": first.cache["misses"], "misses": 0}
    reg.discard(second)

    more = tmp_path / "more"  # the dataset grows by 2 embryos: only their frames go through the network
    generate_dataset(more, embryos=2, frames=4, size=96, seed=99, range_label_fraction=0.5)
    for folder in ("frames", "masks"):  # new embryo names (the generator numbers embryos from E000)
        for sub in sorted((more / folder).iterdir()):
            sub.rename(sub.with_name("N" + sub.name))
    labels = more / "labels.csv"
    labels.write_text(labels.read_text().replace("\nE", "\nNE"))
    assert import_into_project(project, [more]).added_frames == 8
    third = rt.retrain(_settings(project))
    assert third.cache == {"hits": 24, "misses": 8}  # 24 old frames read back, 8 new ones computed (1 view each)


def test_stage1_then_stage2_makes_one_candidate(project):
    updates = []
    candidate = rt.retrain(_settings(project, stage="1", stage1_epochs=1, epochs=1), updates.append)
    stages = [u.stage for u in updates if u.epoch_end]
    assert stages == ["1", "2"] and candidate.stage == "1"
    assert set(candidate.data_summary["stages"]) == {"stage1", "stage2"}
    _assert_one_candidate(project, candidate)
    assert _active(project) == "tiny-test"


def test_stage1_follows_the_real_recipe(project):
    """Segmentation retraining moves the model to the canonical embryo view, mixes generator frames made once
    into the project, repeats the person's frames, and grades from the masks' area (area_input)."""
    from models.inference.weights import model_config_of

    candidate = rt.retrain(_settings(project, stage="1", stage1_epochs=1, epochs=1))
    cfg = model_config_of(candidate.weights)
    assert cfg.canonical_crop and cfg.input_norm == "per_image" and cfg.area_input
    generated = list((project / rt.GENERATOR_DIR).iterdir())
    assert [p.name for p in generated] == [f"seed{rt.GENERATOR_SEED}_4"]
    assert (generated[0] / "labels.csv").exists()
    stage1 = candidate.data_summary["stages"]["stage1"]["train"]
    with ProjectStore(project) as store:
        person_masks = len([s for s in rt.gather_samples(store) if s.mask_path])
    assert stage1["frames"] > person_masks  # repeated person frames + generator frames
    again = rt.retrain(_settings(project, stage="1", stage1_epochs=1, epochs=1))
    assert again.weights != candidate.weights
    assert [p.name for p in (project / rt.GENERATOR_DIR).iterdir()] == [f"seed{rt.GENERATOR_SEED}_4"]


def test_refine_retrain_gives_a_model_without_a_refiner_one_and_trains_only_it(project):
    """The dock's "Mask edges" run: corrected masks train the boundary refiner; every other tensor is kept."""
    from models.inference.weights import load_model

    updates = []
    candidate = rt.retrain(_settings(project, stage="refine", epochs=2, lr=1e-2), updates.append)
    assert candidate.stage == "refine" and _active(project) == "tiny-test"
    parent = project / "models" / "tiny-test.safetensors"
    before, _ = load_model(parent)
    after, _ = load_model(candidate.weights)
    assert before.cfg.refine_width == 0 and after.cfg.refine_width == rt.REFINE_WIDTH
    new = after.state_dict()
    for key, value in before.state_dict().items():
        assert np.array_equal(value.numpy(), new[key].numpy()), key
    assert any(u.phase == "stage refine" for u in updates)
    assert candidate.data_summary["stages"]["stagerefine"]["train"]["with_mask"] >= 1


def _other_weights(tiny_weights, path, version: str):
    """Weights unlike the project's, saved under ``version``."""
    from models.inference.weights import load_model, save_model

    model, _meta = load_model(tiny_weights)
    next(model.parameters()).data *= 1.01  # a slightly different network: another file, another sha256
    save_model(path, model, {"version": version})
    return path


def test_a_starting_model_given_with_init_does_not_become_the_model_in_use(project, tiny_weights, tmp_path):
    """--init is where training starts; the active model changes only when a candidate is published."""
    other = _other_weights(tiny_weights, tmp_path / "other.safetensors", "other-v")
    candidate = rt.retrain(_settings(project, init_weights=str(other)))
    assert _active(project) == "tiny-test"
    assert candidate.parent_version == "other-v" and candidate.active_version == "tiny-test"
    assert {v.version: v.active for v in reg.model_versions(project)} == {"tiny-test": True, "other-v": False}
    reg.discard(candidate)


def test_a_different_file_under_a_registered_name_is_kept_beside_it(project, tiny_weights, tmp_path):
    impostor = _other_weights(tiny_weights, tmp_path / "impostor.safetensors", "tiny-test")
    registered = project / "models" / "tiny-test.safetensors"
    before = sha256_of(registered)
    with ProjectStore(project) as store:
        version, path = reg.register_weights(store, impostor, activate=False)
        assert version == f"tiny-test-{sha256_of(impostor)[:8]}" and path != registered
        assert store.active_model()["version"] == "tiny-test"
    assert sha256_of(registered) == before and read_metadata(path)["version"] == version


def test_two_runs_in_the_same_second_get_their_own_names(project, monkeypatch):
    monkeypatch.setattr(reg.time, "strftime", lambda _fmt: "20261128-120000")
    first, second = reg.reserve_candidate_version(project, "2"), reg.reserve_candidate_version(project, "2")
    assert first == "20261128-120000-stage2" and second == "20261128-120000-stage2-2"
    assert (project / reg.CANDIDATES_DIR / f"{first}.safetensors").exists()  # reserved until saved or removed


def test_publishing_refuses_when_the_model_in_use_changed_since_training(project):
    """A candidate kept undecided while another was published was never compared with the one now in use."""
    slow, fast = rt.retrain(_settings(project)), rt.retrain(_settings(project, seed=1))
    reg.publish(fast)
    with pytest.raises(reg.RetrainError, match=f"changed to {fast.version}"):
        reg.publish(slow)
    assert _active(project) == fast.version and slow.weights.endswith(".safetensors")
    reg.discard(slow)


def test_a_model_in_use_whose_file_changed_is_refused_by_name(project):
    path = project / "models" / "tiny-test.safetensors"
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    with ProjectStore(project) as store, pytest.raises(ProjectError, match="changed since they were registered"):
        ensure_active_model(store)
    with pytest.raises(rt.RetrainError, match="roll back to another version"):
        rt.retrain(_settings(project))


def test_candidates_of_a_dead_run_are_swept_and_a_live_ones_kept(project):
    """kill -9 mid-run leaves a reserved name and perhaps its weights; the next run clears them, not others'."""
    import socket
    import subprocess
    import sys

    folder = project / reg.CANDIDATES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(ended.stdout)
    for version, owner in [
        ("dead", f"{socket.gethostname()} {dead_pid}"),
        ("alive", f"{socket.gethostname()} {os.getpid()}"),
        ("elsewhere", f"another-host {dead_pid}"),
    ]:
        for ext in ("safetensors", "stage1.safetensors", "json"):
            (folder / f"{version}.{ext}").write_bytes(b"x")
        (folder / f"{version}.owner").write_text(owner + "\n")
    (folder / "legacy.safetensors").write_bytes(b"x")  # no owner file: not ours to judge
    # A publish of "dead" killed before registration, and the half-copies of the live run's publish.
    models = project / "models"
    for version in ("dead", "alive"):
        (models / f"{version}.json").write_text("{}")
        (models / f".{version}.safetensors.k2j4.tmp").write_bytes(b"x" * 100)
    registered = sorted(p.name for p in models.iterdir())
    assert reg.sweep_abandoned_candidates(project) == ["dead"]
    left = {p.name.split(".")[0] for p in folder.iterdir()}
    assert left == {"alive", "elsewhere", "legacy"}
    assert sorted(p.name for p in models.iterdir()) == sorted(
        set(registered) - {"dead.json", ".dead.safetensors.k2j4.tmp"}
    )


def test_publish_needs_held_out_evidence_or_a_recorded_override(project):
    """With labels from one embryo the dock used to publish and re-grade everything, unchecked."""
    from dataclasses import replace

    candidate = rt.retrain(_settings(project))
    assert candidate.validated
    unchecked = replace(candidate, data_summary={**candidate.data_summary, "val_embryos": []})
    with pytest.raises(reg.RetrainError, match="no held-out embryo"):
        reg.publish(unchecked)
    assert _active(project) == "tiny-test"
    path = reg.publish(unchecked, override=f"{reg.NO_HELD_OUT_OVERRIDE} (by ann)")
    assert _active(project) == candidate.version
    with ProjectStore(project) as store:
        row = next(r for r in store.models() if r["version"] == candidate.version)
        assert "by ann" in json.loads(row["metrics"])["override"]
    assert "by ann" in read_metadata(path)["metrics"]["override"]
