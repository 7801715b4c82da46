"""Benchmark: stage-2 retraining epoch on cached features vs through the frozen network (ARCHITECTURE.md section 8).

Both epochs run the same steps on the same batches with the same loss code (models.training.stage2.Stage2Run),
so they make the same updates; the only difference is where the frozen encoder/ASPP/decoder output comes
from: the feature cache, or a forward pass of the frozen network over each step's frames (images already
decoded in memory, which favours the baseline). Two configurations: stage 2 as trained (grading head +
seg-head refinement on up to 256 cached decoder maps) and the grading head alone. Also reported: the time
to build the disk cache (first retrain) and to read it back (every later retrain on the same frames).

Run: python -m bench.bench_retrain [--quick] [--frames 500] [--size 160] [--weights W] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

from bench.workdir import scratch_dir
from embryograde_app.paths import BUNDLED_WEIGHTS

PER_EMBRYO = 25


def _setup(args, work: Path):
    import torch

    from embryograde_app.core.synth.generator import generate_dataset
    from embryograde_app.core.training.samples import samples_from_layout
    from models.training.loop import TrainConfig

    embryos = math.ceil(args.frames / PER_EMBRYO)
    t = time.perf_counter()
    generate_dataset(work / "ds", embryos, PER_EMBRYO, size=args.size, seed=7, range_label_fraction=0.3)
    generate_s = time.perf_counter() - t
    samples = samples_from_layout(work / "ds")[: args.frames]
    if args.weights is None:  # --quick: a tiny untrained network
        from models import AttnRegDeepLab, ModelConfig
        from models.inference.weights import save_model

        torch.manual_seed(0)
        small = ModelConfig(input_size=64, aspp_channels=16, decoder_channels=16, skip_channels=8, embedding_dim=16)
        args.weights = str(work / "tiny.safetensors")
        save_model(args.weights, AttnRegDeepLab(small).eval())
    cfg = TrainConfig(
        stage="2",
        batch_size=args.batch_size,
        device="cpu",
        init_weights=args.weights,
        stage2_views=1,
        cache_dir=str(work / "cache"),
    )
    return cfg, samples, generate_s


def _compare(run, cached_epoch, network_epoch, cached_epochs: int, network_epochs: int) -> dict:
    """Median epoch time both ways, interleaved (cached, network, cached, ...) so machine load hits both alike."""
    timings: dict[str, list[float]] = {"cached": [], "network": []}
    plan = [
        name
        for k in range(max(cached_epochs, network_epochs))
        for name, n in (("cached", cached_epochs), ("network", network_epochs))
        if k < n
    ]
    cached_epoch(run, 0)  # warm-up
    for epoch, name in enumerate(plan, start=1):
        t = time.perf_counter()
        (cached_epoch if name == "cached" else network_epoch)(run, epoch)
        timings[name].append(time.perf_counter() - t)
    cached_s = statistics.median(timings["cached"])
    network_s = statistics.median(timings["network"])
    return {
        "seg_items": len(run.seg_idx) if run.cfg.refine_seg else 0,
        "epoch_cached_s": round(cached_s, 3),
        "epoch_network_s": round(network_s, 3),
        "speedup_per_epoch": round(network_s / cached_s, 1),
        "epoch_times_s": {k: [round(x, 3) for x in v] for k, v in timings.items()},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="stage-2 retraining: cached features vs the frozen network")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 24 frames, tiny model")
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--size", type=int, default=160, help="frame size written by the generator")
    parser.add_argument("--weights", default=str(BUNDLED_WEIGHTS))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cached-epochs", type=int, default=5)
    parser.add_argument("--network-epochs", type=int, default=1)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.size, args.weights, args.cached_epochs, args.network_epochs = 24, 96, None, 2, 1

    import torch

    from models.network.inputs import read_grey_uint8, to_tensor
    from models.training.config import build_model, set_trainable
    from models.training.features import Stage2Item
    from models.training.loop import _Stopper
    from models.training.stage2 import Stage2Run

    work = scratch_dir("bench-retrain-")
    cfg, samples, generate_s = _setup(args, work)
    device = torch.device("cpu")
    model, _ = build_model(cfg, device)
    params = set_trainable(model, "2")
    stopper = _Stopper(None, None)

    t = time.perf_counter()
    run = Stage2Run(cfg, model, samples, [], device, stopper)  # first retrain: every frame through the network
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    run = Stage2Run(cfg, model, samples, [], device, stopper)  # later retrains: read back from disk
    reload_s = time.perf_counter() - t
    assert run.cache_stats["misses"] == 0, run.cache_stats
    assert len(run.train_items) == len(samples), "every frame is labelled, one view each"
    head_only = Stage2Run(replace(cfg, refine_seg=False), model, samples, [], device, stopper)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _s: 1.0)
    images = [to_tensor(read_grey_uint8(s.image_path), model.cfg.input_size) for s in samples]

    def cached_epoch(r, epoch: int) -> None:
        r.train_epoch(epoch, opt, sched, None)

    def network_epoch(r, epoch: int) -> None:
        """Stage2Run.train_epoch step for step, with each batch's frozen features computed from its images."""
        model.reg_head.train()
        reg_batches = r._batches(r.reg_idx, epoch)
        seg_batches = r._batches(r.seg_idx, epoch + 10_000) if r.cfg.refine_seg else []
        for step in range(r.steps_per_epoch):
            rb = reg_batches[step] if step < len(reg_batches) else []
            sb = seg_batches[step] if step < len(seg_batches) else []
            frames = sorted(set(rb) | set(sb))  # a frame in both batches runs once
            with torch.no_grad():
                dec, pooled, _ = model.frozen_features(torch.stack([images[i] for i in frames]).to(device))
            items = r.train_items
            fresh = {
                i: Stage2Item(pooled[j], dec[j] if i in sb else None, items[i].mask, items[i].lo, items[i].hi)
                for j, i in enumerate(frames)
            }
            loss = r._step_loss(rb, sb, fresh)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        model.eval()

    result = {
        "frames": len(samples),
        "frame_size": args.size,
        "input_size": model.cfg.input_size,
        "encoder": model.cfg.encoder,
        "weights": Path(args.weights).name,
        "batch_size": cfg.batch_size,
        "steps_per_epoch": run.steps_per_epoch,
        "threads": torch.get_num_threads(),
        "generate_s": round(generate_s, 2),
        "cache_build_s": round(build_s, 2),
        "cache_reload_s": round(reload_s, 2),
    }
    configs = {"with_seg_refinement": run, "grading_head_only": head_only}
    for label, r in configs.items():
        result[label] = _compare(r, cached_epoch, network_epoch, args.cached_epochs, args.network_epochs)
    result["speedup_per_epoch"] = result["with_seg_refinement"]["speedup_per_epoch"]
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
