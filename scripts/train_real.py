"""Train the bundled model for real embryos and publish it into resources/ if it passes the synthetic guard.

Starts from the generator-only model (resources/generator_r18.safetensors, itself trained by
scripts/train_bundled.sh in 59.9 minutes) and runs the real-embryo recipe (models/training/real_recipe.py) on every
real labelled frame in ../shared/data/real-labelled plus generator frames. The frames themselves never enter
the repository; the weights may ship (the data set is MIT-licensed, credited in the README).

Publish rule: the synthetic guard (seed 90210, 30 embryos x 2 frames) must still pass: fragment Dice >= 0.76,
within-1px Dice >= 0.88, regression MAE <= 3.0 points, grade accuracy >= 0.90; and the whole chain of
training (generator model + this run) must stay within 90 minutes on 2 CPU cores. --force overrides both
and is recorded in the sidecar.

Run: .venv/bin/python scripts/train_real.py [--stage1-minutes 8] [--work /tmp/embryograde_real]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.real_eval import METRIC_KEYS, REAL_LABELLED, ensure_synth  # noqa: E402
from embryograde_app.paths import BUNDLED_WEIGHTS, GENERATOR_WEIGHTS, REPO_ROOT  # noqa: E402

GUARD_SEED, GUARD_EMBRYOS, GUARD_FRAMES = 90210, 30, 2
GUARD = {"dice_fragment": 0.76, "dice_fragment_within_1px": 0.88, "mae_pct": 3.0, "grade_accuracy": 0.90}
BUDGET_MINUTES = 90.0
DATASET_CREDIT = (
    "CleavageEmbryo 2023 (github.com/12austincc/Cleavage-StageEmbryoSegmentation, MIT licence): "
    "9 frames of 5 embryos with blastomere and fragment polygons"
)


def guard_failures(metrics: dict) -> list[str]:
    """The synthetic guard's targets a model misses (lower is better for MAE, higher for the rest)."""
    failed = []
    for key, target in GUARD.items():
        value = metrics.get(key)
        worse = value is None or (value > target if key == "mae_pct" else value < target)
        if worse:
            failed.append(f"{key} {value if value is None else round(value, 4)} (target {target})")
    return failed


def train_candidate(args: argparse.Namespace, work: Path, argv: list[str] | None):
    """The recipe on every real labelled frame; the model and its sidecar (chain, data, history, minutes)."""
    from embryograde_app.core.training.samples import samples_from_layout
    from models.training.real_recipe import RealRecipe, train_on_real, with_overrides

    real = samples_from_layout(args.data)
    synth = ensure_synth(work / f"synth_{args.synth_embryos}_{args.synth_seed}", args.synth_embryos, args.synth_seed)
    recipe = replace(RealRecipe(device="cpu"), stage1_minutes=args.stage1_minutes)
    if args.stage2_epochs:
        recipe = replace(recipe, stage2_epochs=args.stage2_epochs)
    recipe = with_overrides(recipe, args)
    t0 = time.monotonic()
    fit = train_on_real(str(GENERATOR_WEIGHTS), real, synth, recipe, work_dir=str(work))
    command = "python scripts/train_real.py " + " ".join(argv or sys.argv[1:])
    meta = candidate_meta(fit, (time.monotonic() - t0) / 60, command)
    return fit.model, meta


def loeo_figures(path: Path, variant: str | None = None) -> dict | None:
    """The pooled leave-one-embryo-out figures recorded with a published model (its held-out evidence)."""
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    if variant:
        result = result["variants"][variant]
    source = os.path.relpath(path, REPO_ROOT) + (f" ({variant})" if variant else "")
    return {**result.get("loeo", {}), "source": source}


def candidate_meta(fit, minutes: float, command: str, device: str = "cpu (2 cores)") -> dict:
    """The sidecar of a recipe run: its recipe, data, parent, history, the command and the chain's minutes."""
    from models.inference.weights import read_metadata

    parent = read_metadata(GENERATOR_WEIGHTS)
    return {
        "stage": "real",
        "recipe": fit.data["recipe"],
        "data": {**fit.data, "real_dataset": DATASET_CREDIT},
        "parent": {"version": parent.get("version"), "sha256": parent.get("sha256")},
        "history": {"stage1": fit.stage1.history, "stage2": fit.stage2.history if fit.stage2 else []},
        "train_seconds": round(fit.seconds, 1),
        "train_device": device,
        "commands": [*parent.get("commands", []), command],
        "total_training_minutes": round(parent.get("total_training_minutes", 0.0) + minutes, 1),
    }


def main(argv: list[str] | None = None) -> int:
    from embryograde_app.core.synth.generator import generate_dataset
    from embryograde_app.core.training.evaluate import evaluate_dataset
    from models.inference.weights import load_model, save_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(REAL_LABELLED))
    p.add_argument("--work", default="/tmp/embryograde_real")
    p.add_argument("--stage1-minutes", type=float, default=None, help="cap on stage 1 (default: its epochs)")
    p.add_argument("--stage2-epochs", type=int, default=None)
    p.add_argument("--synth-embryos", type=int, default=160)
    p.add_argument("--synth-frames", type=int, default=None, help="generator frames per stage-1 epoch")
    p.add_argument("--real-repeats", type=int, default=None, help="copies of each real frame per stage-1 epoch")
    p.add_argument("--crop-margin", type=float, default=None, help="canonical view: times the embryo's extent")
    p.add_argument("--synth-seed", type=int, default=1003)
    p.add_argument("--force", action="store_true", help="publish even if the guard or the budget fails")
    p.add_argument("--candidate", help="publish this earlier run's work/real.safetensors instead of training")
    p.add_argument("--loeo-from", default=str(REPO_ROOT / "bench" / "results" / "real_eval.json"),
                   help="the recipe's leave-one-embryo-out figures (bench.real_eval or bench.gpu_sweep JSON)")
    p.add_argument("--loeo-variant", help="with a bench.gpu_sweep JSON: the variant the candidate was trained as")
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.candidate:
        candidate = Path(args.candidate)
        model, meta = load_model(candidate)
    else:
        candidate = work / "real.safetensors"
        model, meta = train_candidate(args, work, argv)
        save_model(candidate, model, meta, fp16=True)
    guard_dir = work / f"guard_{GUARD_SEED}"
    if not (guard_dir / "labels.csv").exists():
        generate_dataset(guard_dir, GUARD_EMBRYOS, GUARD_FRAMES, size=256, seed=GUARD_SEED)
    guard = evaluate_dataset(candidate, guard_dir, device="cpu")
    minutes = meta["train_seconds"] / 60
    loeo = loeo_figures(Path(args.loeo_from), args.loeo_variant)
    failures = guard_failures(guard)
    over_budget = meta["total_training_minutes"] > BUDGET_MINUTES
    print(json.dumps({"guard": {k: guard.get(k) for k in GUARD}, "train_minutes": round(minutes, 1)}), flush=True)
    if (failures or over_budget) and not args.force:
        print("not published: " + "; ".join(failures + ([f"chain {meta['total_training_minutes']} min"] * over_budget)))
        return 1
    keep = (*METRIC_KEYS, "kappa_linear")
    meta["metrics"] = {
        "synthetic_guard": {"seed": GUARD_SEED, "embryos": GUARD_EMBRYOS, **{k: guard.get(k) for k in keep}},
        "real_leave_one_embryo_out": loeo,
    }
    if failures or over_budget:
        meta["published_with_force"] = failures + ([f"chain {meta['total_training_minutes']} min"] * over_budget)
    meta.pop("version", None)
    saved = save_model(BUNDLED_WEIGHTS, model, meta, fp16=True)
    saved["version"] = "bundled-r18-real-" + saved["sha256"][:8]
    save_model(BUNDLED_WEIGHTS, model, saved, fp16=True)  # the version names the file's own content
    print(f"published {BUNDLED_WEIGHTS} as {saved['version']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
