"""Ablation (issue: model): plain DeepLabV3+ | + attention gates | full model end-to-end | full two-stage,
then the shipped boundary refiner trained by the refine stage over the two-stage model.

All variants get the same training data, the same wall-clock budget per training run, and are scored in
the same run on a held-out synthetic set made with a seed never used for training. Rows without a
regression head are graded from the mask area (area % -> grade), which is reported for every row too.
Only the last row has a refiner: its refine stage reads a second set of embryos (as the bundled script does),
because on frames stage 1 trained on the network's logits are better than on any new frame.

Run: python -m bench.ablation [--quick] [--minutes 10] [--out bench/results/ablation.md]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.bench_inference import bundled_config
from bench.timing import interleaved_medians
from bench.workdir import scratch_dir
from embryograde_app.core.synth.generator import generate_dataset
from embryograde_app.core.training.evaluate import evaluate_predictor
from embryograde_app.core.training.retraining import REFINE_WIDTH
from embryograde_app.core.training.samples import samples_from_layout
from models import AttnRegDeepLab
from models.inference.predictor import Predictor
from models.network.attnregdeeplab import count_parameters
from models.training.loop import TrainConfig, train

TRAIN_SEED, TEST_SEED = 4242, 777001
ROWS = [
    ("plain", "DeepLabV3+"),
    ("gates", "+ attention gates"),
    ("e2e", "full model, end-to-end"),
    ("two_stage", "full model, two-stage (ours)"),
    ("refined", "+ boundary refiner, refine stage (shipped)"),
]


def _fmt(v, digits=3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="ablation of AttnRegDeepLab's parts")
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny data, tiny budget")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget per training run")
    parser.add_argument("--embryos", type=int, default=200)
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--out", help="write the Markdown table here (and a .json beside it)")
    args = parser.parse_args(argv)
    quick = args.quick
    size = 64 if quick else 256
    # "ours" is the shipped architecture; the refiner is added by the last row only
    refine_width = bundled_config().refine_width or REFINE_WIDTH
    base = replace(bundled_config(), input_size=size, area_input=False, refine_width=0)
    if quick:
        base = replace(
            base,
            aspp_channels=16,
            decoder_channels=16,
            skip_channels=8,
            embedding_dim=16,
            fine_channels=8,
            fine_skip_channels=4,
        )
        refine_width = 4
    work = scratch_dir("ablation-")
    n_emb, n_frames = (6, 2) if quick else (args.embryos, args.frames)
    generate_dataset(work / "train", n_emb, n_frames, size=size, seed=TRAIN_SEED)
    generate_dataset(work / "refine", n_emb, n_frames, size=size, seed=TRAIN_SEED + 1)
    generate_dataset(work / "test", 3 if quick else 15, 2 if quick else 8, size=size, seed=TEST_SEED)
    train_samples = samples_from_layout(work / "train")
    test_samples = samples_from_layout(work / "test")
    minutes = 0.05 if quick else args.minutes
    epochs = 1 if quick else 200  # the wall-clock budget ends each run (best validation epoch kept)
    common = {
        "device": "cpu",
        "seed": 0,
        "val_fraction": 0.15,
        "epochs": epochs,
        "patience": 1000,
        "max_minutes": minutes,
        "batch_size": 4 if quick else 8,
    }
    t0 = time.monotonic()

    def stage(cfg_model, stage_name, init=None, samples=None, **kw):
        cfg = TrainConfig(stage=stage_name, model=cfg_model, init_weights=init, **{**common, **kw})
        return train(cfg, samples or train_samples).model

    models: dict[str, AttnRegDeepLab] = {}
    crop = None if quick else 192
    plain = replace(base, skip_strides=(4,), attention_gates=False, regression_head=False)  # classic DeepLabV3+
    models["plain"] = stage(plain, "1", crop=crop)
    full_stage1 = stage(base, "1", crop=crop)
    gates = AttnRegDeepLab(replace(base, regression_head=False))
    gates.load_state_dict(
        {k: v for k, v in full_stage1.state_dict().items() if not k.startswith(("reg_head.", "injection."))}
    )
    models["gates"] = gates.eval()
    models["e2e"] = stage(base, "e2e", lr=1e-3)
    with tempfile.TemporaryDirectory() as tmp:
        from models.inference.weights import save_model

        path = Path(tmp) / "stage1.safetensors"
        save_model(path, full_stage1, fp16=False)
        models["two_stage"] = stage(
            base,
            "2",
            init=str(path),
            max_minutes=minutes / 2,
            stage2_views=4 if not quick else 1,
            batch_size=16,
            patience=15,
        )
        path = Path(tmp) / "stage2.safetensors"
        save_model(path, models["two_stage"], fp16=False)
        models["refined"] = stage(
            base,
            "refine",
            init=str(path),
            samples=samples_from_layout(work / "refine"),
            init_overrides={"refine_width": refine_width},
            max_minutes=minutes / 2,
            crop=None if quick else 128,
            batch_size=16,
            lr=3e-3,
        )
    train_minutes = (time.monotonic() - t0) / 60

    x = torch.randn(1, 1, size, size)

    def runner(model):
        model = model.to(memory_format=torch.channels_last)  # as the predictor runs them

        def call():
            with torch.inference_mode():
                model(x)

        return call

    timings = interleaved_medians({k: runner(m.eval()) for k, m in models.items()}, repeats=3 if quick else 15)
    results = {}
    for key, _label in ROWS:
        metrics = evaluate_predictor(Predictor(models[key]), test_samples)
        has_reg = models[key].reg_head is not None
        results[key] = {
            "dice_fragment": metrics["dice_fragment"],
            "dice_blastomere": metrics["dice_blastomere"],
            "mae_pct": metrics["mae_pct"] if has_reg else None,
            "grade_accuracy": metrics["grade_accuracy"] if has_reg else None,
            "kappa": metrics["kappa_linear"] if has_reg else None,
            "area_mae_pct": metrics["area_mae_pct"],
            "area_grade_accuracy": metrics["area_grade_accuracy"],
            "params": count_parameters(models[key]),
            "cpu_ms_per_frame": 1000 * timings[key],
        }
    lines = [
        f"Held-out synthetic set: {len(test_samples)} frames, seed {TEST_SEED}; training data seed {TRAIN_SEED}, "
        f"{len(train_samples)} frames; {minutes:g} min per training run on {torch.get_num_threads()} CPU threads; "
        f"{size}-px frames.",
        "",
        "| variant | dice_fragment | dice_blastomere | mae_pct (regression) | grade_accuracy | kappa | "
        "mae_pct (mask area) | grade_acc (mask area) | parameters | CPU ms / frame |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in ROWS:
        r = results[key]
        lines.append(
            f"| {label} | {_fmt(r['dice_fragment'])} | {_fmt(r['dice_blastomere'])} | {_fmt(r['mae_pct'], 2)} | "
            f"{_fmt(r['grade_accuracy'])} | {_fmt(r['kappa'])} | {_fmt(r['area_mae_pct'], 2)} | "
            f"{_fmt(r['area_grade_accuracy'])} | {r['params'] / 1e6:.2f} M | {r['cpu_ms_per_frame']:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    summary = {"rows": results, "train_minutes_total": round(train_minutes, 1), "table": table}
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table + "\n")
        out.with_suffix(".json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


if __name__ == "__main__":
    main()
