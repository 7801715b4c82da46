"""Real validation: leave-one-embryo-out over the real labelled embryos, and the shipped model zero-shot.

For every real labelled embryo E, the real-embryo recipe (models/training/real_recipe.py) fine-tunes the
generator-only model on the real frames of the *other* embryos plus generator frames, and the result is
measured on E's frames alone; no frame of E is ever in its training set (asserted). The shipped model is
also measured on every embryo as it is. Per embryo and pooled over all frames: fragment and blastomere
Dice, within-1px fragment Dice, regression MAE, mask-area MAE and grade agreement.

Run:   python -m bench.real_eval                     (about 10 minutes per embryo on 2 CPU cores)
       python -m bench.real_eval --embryos E1 E2     (only those folds)
Writes bench/results/real_eval.json and .md. The real frames live in ../shared/data/real-labelled and are
never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from embryograde_app.paths import BUNDLED_WEIGHTS, GENERATOR_WEIGHTS, REPO_ROOT

REAL_LABELLED = REPO_ROOT.parent / "shared" / "data" / "real-labelled" / "cleavageembryo-2023"
RESULTS = REPO_ROOT / "bench" / "results"
METRIC_KEYS = (
    "dice_fragment",
    "dice_blastomere",
    "dice_fragment_within_1px",
    "mae_pct",
    "area_mae_pct",
    "grade_accuracy",
    "area_grade_accuracy",
    "n_frames",
)


def loeo_folds(samples: list) -> list[tuple[str, list, list]]:
    """(test embryo, training samples, test samples) for each embryo; a test embryo's frames never train."""
    embryos = sorted({s.embryo_id for s in samples})
    folds = []
    for embryo in embryos:
        train = [s for s in samples if s.embryo_id != embryo]
        test = [s for s in samples if s.embryo_id == embryo]
        train_paths = {s.image_path for s in train}
        assert not train_paths & {s.image_path for s in test}, f"fold {embryo}: a test frame is in training"
        assert embryo not in {s.embryo_id for s in train}
        folds.append((embryo, train, test))
    return folds


def ensure_synth(path: Path, embryos: int, seed: int, size: int = 256) -> list:
    """Generator frames (layout v1) for the mix, written once and reused."""
    from embryograde_app.core.synth.generator import generate_dataset
    from embryograde_app.core.training.samples import samples_from_layout

    if not (path / "labels.csv").exists():
        generate_dataset(path, embryos, 2, size=size, seed=seed)
    return samples_from_layout(path)


def summarise(pairs: list, by_embryo: bool = True) -> dict:
    """Pooled metrics of (sample, prediction) pairs and, with by_embryo, each embryo's."""
    from embryograde_app.core.training.evaluate import evaluate_predictions

    def pick(m: dict) -> dict:
        return {k: m.get(k) for k in METRIC_KEYS}

    out = {"pooled": pick(evaluate_predictions(pairs))}
    if by_embryo:
        for embryo in sorted({s.embryo_id for s, _ in pairs}):
            out[embryo] = pick(evaluate_predictions([(s, p) for s, p in pairs if s.embryo_id == embryo]))
    return out


def predict_pairs(predictor, samples: list) -> list:
    from embryograde_app.core.training.evaluate import predictions

    return list(predictions(predictor, samples))


def run(args: argparse.Namespace) -> dict:
    from embryograde_app.core.training.samples import samples_from_layout
    from models.inference.predictor import Predictor
    from models.inference.weights import save_model
    from models.training.real_recipe import QUICK_RECIPE, RealRecipe, train_on_real, with_overrides

    data = Path(args.data)
    real = samples_from_layout(data)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    synth = ensure_synth(work / f"synth_{args.synth_embryos}_{args.synth_seed}", args.synth_embryos, args.synth_seed)
    recipe = QUICK_RECIPE if args.quick else RealRecipe()
    recipe = replace(recipe, device=args.device)
    if args.stage1_minutes is not None:
        recipe = replace(recipe, stage1_minutes=args.stage1_minutes)
    if args.stage2_epochs is not None:
        recipe = replace(recipe, stage2_epochs=args.stage2_epochs)
    recipe = with_overrides(recipe, args)
    result: dict = {"data": str(data), "recipe": recipe.__dict__, "init": str(args.init), "folds": {}}

    shipped = Predictor.from_file(args.weights, args.device)
    result["zero_shot"] = {"weights": str(args.weights), "model_version": shipped.version}
    result["zero_shot"].update(summarise(predict_pairs(shipped, real)))
    if args.init != args.weights:
        base = Predictor.from_file(args.init, args.device)
        result["generator_zero_shot"] = {"weights": str(args.init), "model_version": base.version}
        result["generator_zero_shot"].update(summarise(predict_pairs(base, real), by_embryo=False))
    print(json.dumps({"zero_shot": result["zero_shot"]["pooled"]}), flush=True)
    if args.no_loeo:
        return result

    pairs = []
    for embryo, train, test in loeo_folds(real):
        if args.embryos and embryo not in args.embryos:
            continue
        t = time.monotonic()
        path = work / f"loeo_{embryo}.safetensors"
        train_embryos = sorted({s.embryo_id for s in train})
        reused = args.reuse and _reusable(path, recipe, train_embryos)
        if not reused:
            fit = train_on_real(str(args.init), train, synth, recipe, work_dir=str(work))
            meta = {"version": f"loeo-{embryo}", "recipe": recipe.__dict__, "train_embryos": train_embryos}
            save_model(path, fit.model, meta)
        fold_pairs = predict_pairs(Predictor.from_file(path, args.device), test)
        pairs += fold_pairs
        fold = summarise(fold_pairs, by_embryo=False)["pooled"]
        fold["train_embryos"] = train_embryos
        fold["minutes"] = None if reused else round((time.monotonic() - t) / 60, 2)
        fold["model"] = f"reused {path.name}" if reused else f"trained in this run: {path.name}"
        result["folds"][embryo] = fold
        print(json.dumps({embryo: fold}), flush=True)
    if pairs:
        result["loeo"] = summarise(pairs, by_embryo=False)["pooled"]
    return result


def _reusable(path: Path, recipe, train_embryos: list[str]) -> bool:
    """A fold model left by an earlier run of the same recipe on the same training embryos (--reuse): folds
    cost 20-30 CPU minutes each, so a validation may be assembled from runs. A model whose sidecar records
    no recipe (runs before it was recorded) is taken at the caller's word; the fold's row says it was reused."""
    from models.inference.weights import read_metadata

    if not path.exists():
        return False
    meta = read_metadata(path)
    recorded = meta.get("recipe")
    if recorded is None:
        return True
    same_recipe = {k: v for k, v in recorded.items() if k != "device"} == {
        k: v for k, v in recipe.__dict__.items() if k != "device"
    }
    return same_recipe and meta.get("train_embryos", train_embryos) == train_embryos


def has_real_data(data: str | Path) -> bool:
    """The real labelled frames are there (they live next to the repository); if not, say so."""
    if Path(data, "labels.csv").exists():
        return True
    print(f"{data}: real labelled frames not found (they live next to the repository)", file=sys.stderr)
    return False


def write_result(result: dict, path: str | Path, module: str, argv: list[str] | None) -> None:
    """The result as JSON, with the command that made it."""
    result["command"] = f"python -m {module} " + " ".join(argv if argv is not None else sys.argv[1:])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2, default=str))


def _fmt(v) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


RECIPE_SHOWN = ("stage1_minutes", "real_repeats", "synth_frames", "stage2_epochs", "stage2_views", "crop_margin")


def to_markdown(result: dict) -> str:
    cols = ["dice_fragment", "dice_blastomere", "dice_fragment_within_1px", "mae_pct", "area_mae_pct",
            "grade_accuracy", "n_frames"]
    head = "| | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols) + "\n"
    lines = ["# Real labelled embryos: leave-one-embryo-out and zero-shot", "",
             f"Data: `{Path(result['data']).name}`. Command: `{result.get('command', 'python -m bench.real_eval')}`.",
             "Recipe: " + ", ".join(f"{k}={result['recipe'].get(k)}" for k in RECIPE_SHOWN) + ".", ""]
    if result.get("folds"):
        lines += ["## Leave-one-embryo-out (fine-tuned on the other embryos + generator frames)", "", head.rstrip()]
        for embryo, m in result["folds"].items():
            lines.append(f"| {embryo} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |")
        if "loeo" in result:
            lines.append("| **pooled** | " + " | ".join(_fmt(result["loeo"].get(c)) for c in cols) + " |")
        lines.append("")
        lines += [
            f"- {embryo}: {m['model']}" + (f" ({m['minutes']} min)" if m.get("minutes") else "")
            for embryo, m in result["folds"].items()
            if "model" in m
        ]
        lines.append("")
    for key, title in (
        ("zero_shot", "Shipped model as it is (its own training frames, once it is the real-embryo model)"),
        ("generator_zero_shot", "Generator-only model, zero-shot"),
    ):
        if key not in result:
            continue
        z = result[key]
        lines += [f"## {title} (`{z['model_version']}`)", "", head.rstrip()]
        for embryo, m in z.items():
            if isinstance(m, dict):
                lines.append(f"| {embryo} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict | int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REAL_LABELLED))
    parser.add_argument("--weights", default=str(BUNDLED_WEIGHTS), help="the shipped model (zero-shot)")
    parser.add_argument("--init", default=str(GENERATOR_WEIGHTS), help="the generator-only model to fine-tune")
    parser.add_argument("--work", default="/tmp/embryograde_real_eval")
    parser.add_argument("--embryos", nargs="*", default=None, help="only these folds")
    parser.add_argument("--synth-embryos", type=int, default=160)
    parser.add_argument("--synth-frames", type=int, default=None, help="generator frames per stage-1 epoch")
    parser.add_argument("--real-repeats", type=int, default=None, help="copies of each real frame per stage-1 epoch")
    parser.add_argument(
        "--crop-margin", type=float, default=None, help="canonical view: this many times the embryo's extent"
    )
    parser.add_argument("--synth-seed", type=int, default=1003)
    parser.add_argument("--stage1-minutes", type=float, default=None)
    parser.add_argument("--stage2-epochs", type=int, default=None)
    parser.add_argument("--no-loeo", action="store_true", help="only the zero-shot figures")
    parser.add_argument(
        "--reuse", action="store_true", help="use fold models an earlier run of the same recipe left in --work"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few steps per stage (tests)")
    parser.add_argument("--json", default=str(RESULTS / "real_eval.json"))
    parser.add_argument("--md", default=str(RESULTS / "real_eval.md"))
    args = parser.parse_args(argv)
    if not has_real_data(args.data):
        return 1
    result = run(args)
    write_result(result, args.json, "bench.real_eval", argv)
    Path(args.md).write_text(to_markdown(result))
    print(to_markdown(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if isinstance(main(), dict) else 1)
