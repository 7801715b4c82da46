"""Copy a trained model (the last stage of scripts/train_bundled.sh) into resources/ as the bundled weights
(fp16), if it beats the current one.

"Beats" means, on the same test seed, no worse on any of the issue's three targets (fragment Dice, MAE,
grade accuracy) beyond run-to-run noise, and better than that noise on at least one. A weighted sum once let a
model that lost Dice and MAE through on grade accuracy alone. Every committed version stays in the history, so a
weaker one is never committed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embryograde_app.paths import BUNDLED_WEIGHTS  # noqa: E402
from models.inference.weights import load_model, read_metadata, save_model  # noqa: E402

TARGETS = {"dice_fragment": 1, "grade_accuracy": 1, "mae_pct": -1}  # +1: higher is better
# What counts as noise, not as a change. Dice: stage 2's seg-head refinement alone moves fragment Dice by up to
# 0.004 between seeds over one stage-1 model (README), so a model that only re-ran stage 2 must not be blocked by
# 0.001. MAE: a twentieth of a point. Grade accuracy: none (one frame of 120 is already 0.008).
NOISE = {"dice_fragment": 0.003, "grade_accuracy": 0.0, "mae_pct": 0.05}


def beats(new: dict, old: dict) -> bool:
    """New dominates old on the targets: none worse beyond noise, at least one better beyond it."""
    if any(new.get(k) is None for k in TARGETS):
        return False  # a metric that was not measured is not a gain
    gains = {k: sign * (new[k] - (old.get(k) or 0)) for k, sign in TARGETS.items()}
    return all(g >= -NOISE[k] for k, g in gains.items()) and any(g > NOISE[k] for k, g in gains.items())


BUDGET_MINUTES = 60.0  # the limit on training the bundled weights (2-core CPU), every stage of the chain


def within_budget(meta: dict) -> bool:
    """The whole chain of a model about to be published trained within the budget."""
    return meta.get("total_training_minutes", 0.0) <= BUDGET_MINUTES


KEPT_METRICS = (
    "dice_fragment",
    "dice_blastomere",
    "dice_fragment_within_1px",
    "mae_pct",
    "area_mae_pct",
    "grade_accuracy",
    "kappa_linear",
    "grade_confusion",
    "n_frames",
)


def bundled_metadata(
    chain: list[dict],
    test: dict,
    stage1_test: dict | None,
    previous: dict | None,
    test_seed: int,
    minutes: float,
) -> dict:
    """The sidecar of a published model: its own sidecar plus the chain of commands, times and held-out figures.

    chain holds the sidecars from the published file back along its parents (stage 2, then the refine stage,
    over a network). The last is where training started: a stage-1 file, or (STAGE2_INIT) an earlier bundled
    model, whose chain of commands and stage-1 figures then carry over.
    """
    final, trained, root = chain[0], chain[:-1], chain[-1]
    meta = dict(final, metrics=dict(final.get("metrics", {})))
    meta["version"] = "bundled-r18-" + meta["sha256"][:8]
    meta["metrics"]["held_out"] = {"test_seed": test_seed, **{k: test.get(k) for k in KEPT_METRICS}}
    for earlier_stage in trained[1:]:  # e.g. stage 2's own validation when a refine stage followed it
        key = f"stage{earlier_stage.get('stage')}_validation"
        meta["metrics"][key] = earlier_stage.get("metrics", {}).get("validation")
    own_commands = [m.get("command") for m in reversed(trained)]
    if "commands" in root:  # over an earlier bundled network (STAGE2_INIT): its chain goes on
        how = "STAGE2_INIT" if any(m.get("stage") == "2" for m in trained) else "REFINE_INIT"
        chained = f"{how}=<{root.get('version')}> bash scripts/train_bundled.sh"
        meta["commands"] = [*root["commands"], chained, *own_commands]
        for key in ("stage1_validation", "held_out_stage1"):
            meta["metrics"][key] = root.get("metrics", {}).get(key)
        meta["stage1_history"] = root.get("stage1_history")
        earlier_minutes = root.get("total_training_minutes", 0)
    else:
        meta["commands"] = ["bash scripts/train_bundled.sh", root.get("command"), *own_commands]
        meta["metrics"]["stage1_validation"] = root.get("metrics", {}).get("validation")
        if stage1_test:
            meta["metrics"]["held_out_stage1"] = {k: stage1_test.get(k) for k in KEPT_METRICS}
        meta["stage1_history"] = root.get("history")
        earlier_minutes = root.get("train_seconds", 0) / 60
    own_minutes = sum(m.get("train_seconds", 0) for m in trained) / 60
    meta["total_training_minutes"] = round(earlier_minutes + own_minutes, 1)
    meta["script_wall_minutes_last_run"] = minutes
    meta["parent"] = (  # the bundled version this one replaces (its metrics stay in the git history)
        {
            "version": previous.get("version"),
            "sha256": previous.get("sha256"),
            "held_out": previous.get("metrics", {}).get("held_out"),
        }
        if previous is not None
        else None
    )
    meta.pop("sha256", None)
    return meta


def training_chain(meta: dict) -> list[dict]:
    """Sidecars from this one back along parent paths, up to a fresh network or an earlier bundled model."""
    chain = [meta]
    while "commands" not in chain[-1] and (chain[-1].get("parent") or {}).get("path"):
        chain.append(read_metadata(chain[-1]["parent"]["path"]))
    return chain


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, help="the trained file to publish (the last stage of the chain)")
    p.add_argument("--eval", required=True, help="evaluate JSON of that model on the held-out set")
    p.add_argument("--eval-stage1", help="evaluate JSON of the stage-1 model (Dice kept by stage 2?)")
    p.add_argument("--test-seed", type=int, required=True)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    test = json.loads(Path(args.eval).read_text())
    stage1_test = json.loads(Path(args.eval_stage1).read_text()) if args.eval_stage1 else None
    previous = read_metadata(BUNDLED_WEIGHTS) if BUNDLED_WEIGHTS.exists() else None
    if previous is not None and not args.force:
        old = previous.get("metrics", {}).get("held_out", {})
        if old.get("test_seed") == args.test_seed and not beats(test, old):
            shown = ", ".join(f"{k} {test.get(k):.4f} vs {old.get(k):.4f}" for k in TARGETS)
            print(f"not published: does not beat the bundled model on every target ({shown})")
            return 1
    model, meta = load_model(args.model)
    meta = bundled_metadata(training_chain(meta), test, stage1_test, previous, args.test_seed, args.minutes)
    if not within_budget(meta) and not args.force:
        print(
            f"not published: its chain took {meta['total_training_minutes']} min of training, "
            f"over the {BUDGET_MINUTES:.0f}-minute budget"
        )
        return 1
    save_model(BUNDLED_WEIGHTS, model, meta, fp16=True)
    size_mb = BUNDLED_WEIGHTS.stat().st_size / 1e6
    print(f"published {BUNDLED_WEIGHTS} ({size_mb:.1f} MB), held-out {meta['metrics']['held_out']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
