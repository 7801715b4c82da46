"""CUDA check: the shipped model's inference and a stage-1 training step on the GPU, timed against 2 CPU threads.

Also checks that the GPU and the CPU agree: the same frames give the same masks (share of equal pixels) and
regression within a small tolerance. Run: python -m bench.gpu_check [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def _frames(n: int, size: int = 500) -> list[np.ndarray]:
    from embryograde_app.core.synth.generator import render_embryo

    return [next(iter(render_embryo(i, 1, size=size, seed=4242))).image for i in range(n)]


def _time(fn, repeats: int, sync) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _train_step_seconds(device: torch.device, steps: int, batch: int, size: int) -> float:
    from embryograde_app.paths import GENERATOR_WEIGHTS
    from models.inference.weights import load_model
    from models.training.losses import segmentation_loss

    model, _ = load_model(GENERATOR_WEIGHTS)
    model = model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, size, size, device=device)
    y = torch.randint(0, 3, (batch, size, size), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = segmentation_loss(model(x).seg_logits, y, 2.0)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    return _time(step, steps, sync)


def main(argv: list[str] | None = None) -> dict:
    from embryograde_app.paths import BUNDLED_WEIGHTS
    from models.inference.predictor import Predictor

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(2)  # the CPU side stands for the 2-core workstation
    dev = torch.device(args.device)
    repeats = 3 if args.quick else 20
    frames = _frames(4 if args.quick else 16)
    result: dict = {"torch": torch.__version__, "device": args.device}
    if dev.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(0)
        result["cuda"] = torch.version.cuda
    gpu, cpu = Predictor.from_file(BUNDLED_WEIGHTS, args.device), Predictor.from_file(BUNDLED_WEIGHTS, "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    result["infer_ms_per_frame_batch1_device"] = round(1000 * _time(lambda: gpu.predict(frames[:1]), repeats, sync), 2)
    result["infer_ms_per_frame_batch16_device"] = round(
        1000 * _time(lambda: gpu.predict(frames), max(2, repeats // 4), sync) / len(frames), 2
    )
    result["infer_ms_per_frame_batch1_cpu2"] = round(1000 * _time(lambda: cpu.predict(frames[:1]), 3, sync), 2)
    pairs = list(zip(gpu.predict(frames), cpu.predict(frames), strict=True))
    result["mask_pixels_equal"] = round(float(np.mean([np.mean(x.mask == y.mask) for x, y in pairs])), 5)
    result["regression_max_diff_pct"] = round(max(abs(x.regression_pct - y.regression_pct) for x, y in pairs), 4)
    steps = 3 if args.quick else 30
    result["train_step_s_batch8_192_device"] = round(_train_step_seconds(dev, steps, 8, 192), 4)
    result["train_step_s_batch8_192_cpu2"] = round(_train_step_seconds(torch.device("cpu"), 2, 8, 192), 4)
    cpu_s, dev_s = result["train_step_s_batch8_192_cpu2"], result["train_step_s_batch8_192_device"]
    result["train_speedup"] = round(cpu_s / dev_s, 1)
    result["infer_speedup_batch1"] = round(
        result["infer_ms_per_frame_batch1_cpu2"] / result["infer_ms_per_frame_batch1_device"], 1
    )
    if dev.type == "cuda":
        result["max_memory_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(result, indent=2), flush=True)
    return result


if __name__ == "__main__":
    main()
