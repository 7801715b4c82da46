"""Benchmark: AttnRegDeepLab inference cost against a plain DeepLabV3+ with the same encoder (ARCHITECTURE.md 8).

Budget: <= 1.15x. Both networks run in the same process, interleaved, on the same input, on the CPU.
The full model takes the bundled weights' architecture (resources/) unless --skip-strides/--area-input say
otherwise; the baseline is the classic DeepLabV3+ layout: one stride-4 skip, no gates, no regression head.
Both run in channels-last memory format, as the predictor runs them.
Run: python -m bench.bench_inference [--quick] [--size 256] [--batch 1] [--repeats 20] [--skip-strides 2 4]
     [--refine-width 24]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import torch

from bench.timing import interleaved_medians
from embryograde_app.paths import BUNDLED_WEIGHTS
from models import AttnRegDeepLab, ModelConfig
from models.inference.weights import WeightsError, model_config_of
from models.network.attnregdeeplab import count_parameters

BUDGET = 1.15


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="inference overhead vs plain DeepLabV3+")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--area-input", action="store_true", help="full model with the regression head's area input")
    parser.add_argument("--skip-strides", type=int, nargs="+", help="full model's gated skips (default: as bundled)")
    parser.add_argument("--refine-width", type=int, help="full model's boundary refiner width (default: as bundled)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = parser.parse_args(argv)
    size, repeats = (64, 3) if args.quick else (args.size, args.repeats)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shipped = bundled_config()
    full_cfg = replace(shipped, input_size=size, area_input=args.area_input or shipped.area_input)
    if args.skip_strides:
        full_cfg = replace(full_cfg, skip_strides=tuple(args.skip_strides))
    if args.refine_width is not None:
        full_cfg = replace(full_cfg, refine_width=args.refine_width)
    full = AttnRegDeepLab(full_cfg).eval()
    plain_cfg = replace(
        full_cfg, skip_strides=(4,), attention_gates=False, regression_head=False, area_input=False, refine_width=0
    )
    plain = AttnRegDeepLab(plain_cfg).eval()
    x = torch.randn(args.batch, 1, size, size)

    def run(model):
        model = model.to(memory_format=torch.channels_last)  # as models.inference.predictor runs them

        def call():
            with torch.inference_mode():
                model(x)

        return call

    medians = interleaved_medians({"attnregdeeplab": run(full), "deeplabv3plus": run(plain)}, repeats)
    ratio = medians["attnregdeeplab"] / medians["deeplabv3plus"]
    result = {
        "size": size,
        "batch": args.batch,
        "area_input": args.area_input,
        "skip_strides": list(full_cfg.skip_strides),
        "refine_width": full_cfg.refine_width,
        "refine_dilations": list(full_cfg.refine_dilations),
        "threads": torch.get_num_threads(),
        "ms_per_frame_attnregdeeplab": round(1000 * medians["attnregdeeplab"] / args.batch, 2),
        "ms_per_frame_deeplabv3plus": round(1000 * medians["deeplabv3plus"] / args.batch, 2),
        "ratio": round(ratio, 3),
        "budget": BUDGET,
        "within_budget": ratio <= BUDGET,
        "params_attnregdeeplab": count_parameters(full),
        "params_deeplabv3plus": count_parameters(plain),
    }
    print(json.dumps(result, indent=2))
    return result


def bundled_config() -> ModelConfig:
    """The architecture of the shipped weights, so benches measure what users run."""
    try:
        return model_config_of(BUNDLED_WEIGHTS)
    except WeightsError:
        return ModelConfig()


if __name__ == "__main__":
    main()
