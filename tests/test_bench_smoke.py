"""Every benchmark has a quick smoke mode that the suite runs (numbers are not asserted: no timing tests)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest


def test_inference_bench_quick():
    from bench.bench_inference import main

    result = main(["--quick"])
    assert result["ms_per_frame_attnregdeeplab"] > 0 and result["ms_per_frame_deeplabv3plus"] > 0
    assert result["ratio"] > 0
    assert result["params_attnregdeeplab"] > result["params_deeplabv3plus"]
    assert main(["--quick", "--area-input"])["area_input"] is True


def test_ablation_quick(tmp_path):
    from bench.ablation import main

    summary = main(["--quick", "--out", str(tmp_path / "ablation.md")])
    rows = summary["rows"]
    assert set(rows) == {"plain", "gates", "e2e", "two_stage", "refined"}
    assert rows["plain"]["mae_pct"] is None  # no regression head, no regression MAE
    assert rows["two_stage"]["mae_pct"] is not None
    # the refine stage trains the refiner alone: the regression is exactly the two-stage model's
    assert rows["refined"]["mae_pct"] == rows["two_stage"]["mae_pct"]
    assert rows["refined"]["params"] > rows["two_stage"]["params"] == rows["e2e"]["params"]
    assert (tmp_path / "ablation.md").read_text().count("\n") >= 6


def test_grade_bench_quick(tiny_weights):
    from bench.bench_grade import main

    for destination in ("project", "csv"):
        result = main(["--quick", "--weights", str(tiny_weights), "--to", destination])
        assert result["frames"] == 12 and result["skipped"] == 0
        assert result["fps"] > 0 and set(result["share"]) == {
            "read_s",
            "preprocess_s",
            "forward_s",
            "postprocess_s",
            "write_s",
        }


def test_retrain_bench_quick():
    from bench.bench_retrain import main

    result = main(["--quick"])
    assert result["frames"] == 24 and result["cache_build_s"] > 0 and result["cache_reload_s"] > 0
    for config in ("with_seg_refinement", "grading_head_only"):
        timed = result[config]
        assert [len(v) for v in timed["epoch_times_s"].values()] == [2, 1]
        assert timed["epoch_cached_s"] > 0 and timed["epoch_network_s"] > 0 and timed["speedup_per_epoch"] > 0
    assert result["with_seg_refinement"]["seg_items"] > 0 == result["grading_head_only"]["seg_items"]


def test_resolution_ceiling_quick():
    from bench.resolution_ceiling import coarse_then_upsampled, main

    result = main(["--quick"])
    best = result["best_dice_fragment"]
    assert best["1"] == 1.0  # the mask against itself
    assert best["1"] >= best["2"] >= best["4"] >= best["8"]
    mask = np.zeros((16, 16), np.uint8)
    mask[:, 8:] = 1
    assert np.array_equal(coarse_then_upsampled(mask, 4), mask)  # an edge on the coarse grid survives
    mask[3, 2] = 2
    assert not (coarse_then_upsampled(mask, 4) == 2).any()  # a 1-px fragment cannot
    assert (coarse_then_upsampled(mask, 1) == 2).sum() == 1


def test_real_frames_survey_on_the_real_sequences(tiny_weights, tmp_path):
    from bench.make_real_overlays import REAL
    from bench.real_frames_survey import main

    if not REAL.is_dir():
        pytest.skip("the real sequences live next to the working tree, not in a clone")
    png, out = tmp_path / "timecourse.png", tmp_path / "survey.json"
    (result,) = main(["--every", "200", "--png", str(png), "--json", str(out), str(tiny_weights)])
    assert set(result["sequences"]) == {p.name for p in REAL.iterdir() if p.is_dir()}
    for seq in result["sequences"].values():
        assert seq["frames"] >= 1 and sum(seq["grade_counts"].values()) == seq["frames"]
        assert 0 <= seq["mean_regression_pct"] <= 100 and 0 <= seq["mean_mask_pct"] <= 100
        assert seq["tenths"][0]["frames"][0] == 1 and seq["tenths"][-1]["frames"][1] == seq["series"]["frame"][-1]
        assert seq["series"]["frame"][0] == 1 and len(seq["series"]["flagged"]) == seq["frames"]
    assert json.loads(out.read_text())["results"][0]["version"] == result["version"]
    assert cv2.imread(str(png)) is not None


def test_timecourse_plot_marks_the_flagged_frames(tmp_path):
    from bench.real_frames_survey import plot_timecourse

    frames = list(range(1, 101))
    series = {
        "frame": frames,
        "regression_pct": [f / 2 for f in frames],
        "mask_pct": [f / 2 + 3 for f in frames],
        "flagged": [f in (40, 41) for f in frames],
    }
    result = {"version": "test", "sequences": {"a": {"frames": 100, "flag_rate": 0.02, "series": series}}}
    path = tmp_path / "t.png"
    plot_timecourse(result, path)
    img = cv2.imread(str(path))
    red = (img[..., 2] > 180) & (img[..., 0] < 80) & (img[..., 1] < 80)
    cols = np.nonzero(red.any(axis=0))[0]
    assert 0 < len(cols) <= 6  # the two flagged frames' ticks, side by side, and nothing else red
    plot_timecourse({**result, "sequences": {}}, path)  # no sequence: a title-only figure, no crash


def test_fragment_errors_split_edges_from_whole_fragments():
    from bench.fragment_errors import FragmentErrors

    truth = np.zeros((40, 40), np.uint8)
    truth[5:25, 5:25] = 1  # a blastomere
    truth[8:13, 30:35] = 2  # a fragment the prediction finds, one px too wide all round
    truth[30:34, 30:34] = 2  # a fragment it misses outright
    pred = truth.copy()
    pred[7:14, 29:36] = 2
    pred[30:34, 30:34] = 0
    errors = FragmentErrors()
    errors.add(pred, truth)
    r = errors.result()
    assert r["wrong_fragment_px"] == {"missed": 16, "false": 49 - 25}
    assert r["share_whole_objects"] == {"missed": 1.0, "false": 0.0}
    assert r["share_within_2px_of_an_edge"]["false"] == 1.0
    assert r["dice_fragment"] == pytest.approx(2 * 25 / (41 + 49))
    assert r["dice_if_found_fragments_had_perfect_edges"] == pytest.approx(2 * 25 / (2 * 25 + 16))
    assert r["dice_if_missed_and_false_fragments_were_fixed"] == pytest.approx(2 * 25 / (2 * 25 + 24))


def test_fragment_errors_say_which_classes_are_confused():
    from bench.fragment_errors import FragmentErrors

    truth = np.zeros((40, 40), np.uint8)
    truth[0:20, 0:20] = 1  # a blastomere
    truth[25:30, 25:30] = 2  # a fragment: 15 px of it called blastomere, 10 background
    pred = truth.copy()
    pred[0:4, 0:5] = 2  # 20 px of the blastomere called fragment
    pred[35:37, 35:37] = 2  # 4 px of background called fragment
    pred[25:28, 25:30] = 1
    pred[28:30, 25:30] = 0
    errors = FragmentErrors()
    errors.add(pred, truth)
    r = errors.result()
    false_on = r["false_fragment_px_truly"]
    assert false_on == {"background": pytest.approx(4 / 24), "blastomere": pytest.approx(20 / 24)}
    assert r["missed_fragment_px_called"] == {"background": pytest.approx(0.4), "blastomere": pytest.approx(0.6)}
    # the 4 background px lie past the hull of the true embryo (blastomere and fragment): a zona rule's most
    assert r["share_of_false_px_outside_the_embryo_hull"] == pytest.approx(4 / 24)
    assert r["dice_if_false_fragments_outside_the_embryo_hull_were_removed"] == 0.0  # nothing found stays nothing


def test_fragment_errors_of_a_leave_one_embryo_out_come_from_each_embryo_s_own_model(tmp_path, tiny_weights):
    import shutil

    from bench.fragment_errors import main

    data = _tiny_real_layout(tmp_path / "real", n_embryos=2)
    folds = tmp_path / "folds"
    folds.mkdir()
    embryos = sorted({line.split(",")[0] for line in (data / "labels.csv").read_text().splitlines()[1:]})
    shutil.copy(tiny_weights, folds / f"loeo_{embryos[0]}.safetensors")
    shutil.copy(tiny_weights.with_suffix(".json"), folds / f"loeo_{embryos[0]}.json")
    with pytest.raises(SystemExit, match=f"no fold model for embryo {embryos[1]}"):
        main(["--loeo", str(folds), "--data", str(data)])
    shutil.copy(tiny_weights, folds / f"loeo_{embryos[1]}.safetensors")
    shutil.copy(tiny_weights.with_suffix(".json"), folds / f"loeo_{embryos[1]}.json")
    result = main(["--loeo", str(folds), "--data", str(data)])
    assert sorted(result["per_embryo"]) == embryos and result["frames"] == 4


def test_truth_sensitivity_scores_a_mask_against_itself_moved_one_pixel():
    from bench.fragment_errors import TruthSensitivity

    truth = np.zeros((30, 30), np.uint8)
    truth[10:14, 10:14] = 2  # one 4x4 fragment: a one-pixel shift keeps 12 of its 16 pixels
    sensitivity = TruthSensitivity()
    sensitivity.add(truth)
    r = sensitivity.result()
    assert r["truth_dice_against_itself"]["shifted_1px_along_an_axis"] == pytest.approx(12 / 16)
    assert r["truth_dice_against_itself"]["shifted_1px_diagonally"] == pytest.approx(9 / 16)
    assert r["truth_dice_against_itself"]["grown_1px"] == pytest.approx(2 * 16 / (16 + 32))
    assert r["truth_dice_against_itself"]["shrunk_1px"] == pytest.approx(2 * 4 / (16 + 4))
    assert r["true_fragments"] == 1 and r["true_fragment_median_px"] == 16


def test_fragment_errors_bench_quick(tiny_weights):
    from bench.fragment_errors import main

    result = main(["--quick", "--weights", str(tiny_weights)])
    assert result["frames"] == 4 and "share_whole_objects" in result


def _tiny_real_layout(root, n_embryos: int = 3):
    """A layout-v1 'real' set: a few generator embryos standing in for the real labelled frames."""
    from embryograde_app.core.synth.generator import generate_dataset

    generate_dataset(root, embryos=n_embryos, frames=2, size=96, seed=21)
    return root


def test_loeo_folds_never_train_on_the_test_embryo(tmp_path):
    from bench.real_eval import loeo_folds
    from embryograde_app.core.training.samples import samples_from_layout

    samples = samples_from_layout(_tiny_real_layout(tmp_path / "real", 4))
    folds = loeo_folds(samples)
    assert [e for e, _, _ in folds] == sorted({s.embryo_id for s in samples})
    for embryo, train, test in folds:
        assert test and all(s.embryo_id == embryo for s in test)
        assert not {s.image_path for s in train} & {s.image_path for s in test}
        assert len(train) + len(test) == len(samples)


def _real_eval_argv(tmp_path, data, weights, name: str, *extra: str) -> list[str]:
    """A quick real_eval run on the tiny layout, its results named ``name`` (.json, .md) in tmp_path."""
    return [
        "--quick", "--data", str(data), "--weights", str(weights), "--init", str(weights),
        "--work", str(tmp_path / "work"), "--synth-embryos", "2",
        "--json", str(tmp_path / f"{name}.json"), "--md", str(tmp_path / f"{name}.md"), *extra,
    ]  # fmt: skip


def test_real_eval_quick(tmp_path, tiny_weights):
    from bench.real_eval import main

    data = _tiny_real_layout(tmp_path / "real")
    result = main(_real_eval_argv(tmp_path, data, tiny_weights, "r"))
    assert set(result["folds"]) == {"E000", "E001", "E002"}
    for fold in result["folds"].values():
        assert fold["n_frames"] == 2 and 0.0 <= fold["dice_blastomere"] <= 1.0
    assert result["loeo"]["n_frames"] == 6
    assert result["zero_shot"]["pooled"]["n_frames"] == 6
    text = (tmp_path / "r.md").read_text()
    assert "pooled" in text and "E001" in text
    assert all(fold["model"].startswith("trained") for fold in result["folds"].values())

    # --reuse takes the fold models this run left (same recipe, same training embryos) instead of training
    again = main(_real_eval_argv(tmp_path, data, tiny_weights, "r2", "--reuse", "--stage2-epochs", "2"))
    assert all(fold["model"].startswith("trained") for fold in again["folds"].values())  # another recipe
    third = main(_real_eval_argv(tmp_path, data, tiny_weights, "r3", "--reuse", "--stage2-epochs", "2"))
    assert all(fold["model"].startswith("reused") for fold in third["folds"].values())
    assert third["loeo"] == again["loeo"]


def test_correction_curve_quick(tmp_path, tiny_weights):
    """K frames become a person's corrections in a project, retrained by the window's own code path."""
    from bench.correction_curve import main, pick_frames

    data = _tiny_real_layout(tmp_path / "real", 4)
    result = main([
        "--data", str(data), "--init", str(tiny_weights), "--test-embryo", "E000", "--ks", "0", "2", "all",
        "--work", str(tmp_path / "work"), "--stage1-epochs", "1", "--stage2-epochs", "1", "--edge-epochs", "1",
        "--generator-frames", "2", "--views", "1", "--threads", "1",
        "--json", str(tmp_path / "c.json"), "--png", str(tmp_path / "c.png"),
    ])
    assert [p["k"] for p in result["points"]] == [0, 2, 6]
    assert result["points"][0]["retrain_minutes"] == 0 and result["points"][0]["stages"] == []
    for point in result["points"][1:]:
        assert point["stages"] == ["1", "2", "refine"] and point["n_frames"] == 2
    assert (tmp_path / "c.png").stat().st_size > 1000
    from embryograde_app.core.project.store import ProjectStore

    with ProjectStore(tmp_path / "work" / "k2") as store:  # the masks are stored as a person's corrections
        kinds = {store.latest_mask(f.id, ("human",)) is not None for f in store.frames()}
        assert kinds == {True} and len(store.frames()) == 2
    from embryograde_app.core.training.samples import samples_from_layout

    picked = pick_frames(samples_from_layout(data), 2)
    assert len({s.embryo_id for s in picked}) == 2  # two embryos, not two frames of one


@pytest.mark.parametrize("keep", [False, True])
def test_bench_scratch_folders_are_removed_when_the_process_ends_unless_kept(keep, tmp_path):
    """The quick benches run in every `make test`: their projects and caches must not pile up in /tmp."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("EMBRYOGRADE_KEEP_BENCH", None)
    if keep:
        env["EMBRYOGRADE_KEEP_BENCH"] = "1"
    code = "from bench.workdir import scratch_dir; d = scratch_dir('x-'); (d / 'f').write_text('1'); print(d)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    made = Path(out.stdout.strip())
    assert made.parent == tmp_path
    assert made.exists() == keep


def test_onnx_profile_quick_groups_every_node_by_module(tiny_weights):
    pytest.importorskip("onnxruntime")
    from bench.onnx_profile import group_of, main

    assert group_of("/model/encoder/layer4/layer4.0/conv2/Conv_output_0_nchwc_kernel_time") == "encoder.layer4"
    assert group_of("/model/refine/Softmax_kernel_time") == "refiner"
    assert group_of("something_else_kernel_time") == "other"
    result = main(["--quick", "--weights", str(tiny_weights)])
    assert result["ours_onnxruntime_ms"] > 0 and result["ratios_to_plain_torch"]["plain_torch"] == 1.0
    assert "decoder" in result["ours_onnxruntime_by_module_ms"]


def test_a_command_line_s_crop_margin_reaches_the_recipe_and_a_fold_of_another_margin_is_not_reused(
    tmp_path, tiny_weights
):
    import argparse
    import shutil

    from bench.real_eval import _reusable
    from models.inference.weights import read_metadata
    from models.training.real_recipe import RealRecipe, with_overrides

    asked = argparse.Namespace(crop_margin=1.2, synth_frames=None, real_repeats=None)
    recipe = with_overrides(RealRecipe(), asked)
    assert recipe.crop_margin == 1.2 and recipe.overrides()["crop_margin"] == 1.2
    assert with_overrides(RealRecipe(), argparse.Namespace()) == RealRecipe()

    fold = tmp_path / "loeo_E1.safetensors"
    shutil.copy(tiny_weights, fold)
    meta = read_metadata(tiny_weights)
    meta.update(recipe=RealRecipe().__dict__, train_embryos=["E2"])
    (tmp_path / "loeo_E1.json").write_text(json.dumps(meta))
    assert _reusable(fold, RealRecipe(), ["E2"])
    assert not _reusable(fold, recipe, ["E2"])


def test_pseudo_mask_leaves_out_what_the_teacher_is_unsure_of():
    from bench.self_training import pseudo_mask
    from models.training.losses import IGNORE_INDEX

    probs = np.zeros((3, 2, 2), np.float32)
    probs[:, 0, 0] = (0.05, 0.05, 0.90)  # sure: fragment
    probs[:, 0, 1] = (0.95, 0.03, 0.02)  # sure: background
    probs[:, 1, 0] = (0.10, 0.50, 0.40)  # unsure
    probs[:, 1, 1] = (0.02, 0.92, 0.06)  # sure: blastomere
    assert pseudo_mask(probs, 0.9).tolist() == [[2, 0], [IGNORE_INDEX, 1]]


def test_self_training_quick(tmp_path, tiny_weights):
    from bench.self_training import main
    from embryograde_app.core.synth.generator import generate_dataset

    data = _tiny_real_layout(tmp_path / "real")
    unlabelled = tmp_path / "sequence"
    generate_dataset(tmp_path / "seqsrc", embryos=1, frames=4, size=96, seed=5)
    unlabelled.mkdir()
    for i, f in enumerate(sorted((tmp_path / "seqsrc" / "frames").rglob("*.png"))):
        (unlabelled / f"RUN{i + 1}.png").write_bytes(f.read_bytes())
    out = tmp_path / "self.safetensors"
    result = main([
        "--quick", "--out", str(out), "--teacher", str(tiny_weights), "--init", str(tiny_weights),
        "--data", str(data), "--hold", "E001", "--sequences", str(unlabelled), "--every", "2",
        "--synth-embryos", "2", "--work", str(tmp_path / "work"),
    ])  # fmt: skip
    assert out.exists() and result["pseudo_frames"] == 2
    assert "E001" not in result["train_embryos"] and result["train_embryos"]
    masks = sorted((tmp_path / "work" / "pseudo").glob("*_mask.png"))
    assert len(masks) == 2 and set(np.unique(cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED))) <= {0, 1, 2, 255}
