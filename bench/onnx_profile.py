"""Where the network's time goes under ONNX Runtime on the CPU, by module, against the plain DeepLabV3+.

Why: the CPU grading budget (the whole pipeline <= 0.8x the bare torch forward of a plain DeepLabV3+ with the
same encoder) leaves the network about two thirds of that forward. This says which modules hold the time
(ONNX Runtime's own per-node profile, grouped by the module that made each node: encoder stages, ASPP,
decoder, refiner, heads) and what the plain network itself costs under each runtime, in the same run, so a
change of architecture or runtime can be weighed before anyone trains it.
Run: python -m bench.onnx_profile [--weights W] [--batch 8] [--repeats 4] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from embryograde_app.paths import BUNDLED_WEIGHTS

# Node names carry the module path of the exported network (/model/encoder/layer4/...); the first match wins.
GROUPS = (
    ("encoder.stem", "/model/encoder/stem"),
    ("encoder.layer1", "/model/encoder/layer1"),
    ("encoder.layer2", "/model/encoder/layer2"),
    ("encoder.layer3", "/model/encoder/layer3"),
    ("encoder.layer4", "/model/encoder/layer4"),
    ("encoder (other)", "/model/encoder"),
    ("aspp", "/model/aspp"),
    ("decoder", "/model/decoder"),
    ("refiner", "/model/refine"),
    ("seg_head", "/model/seg_head"),
    ("reg_head", "/model/reg_head"),
    ("injection", "/model/injection"),
)


def group_of(node_name: str) -> str:
    for group, prefix in GROUPS:
        if node_name.startswith(prefix):
            return group
    return "other"


def profile_by_group(onnx_path: str | Path, batch: np.ndarray, repeats: int, threads: int, folder: Path) -> dict:
    """Milliseconds per frame in each module group, from ONNX Runtime's node profile."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    options.enable_profiling = True
    options.profile_file_prefix = str(folder / "ort_profile")
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: batch})  # the first run allocates; it is in the profile too, so subtract it below
    first = session.end_profiling()
    warm = _kernel_times(first)
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    for _ in range(repeats + 1):
        session.run(None, {name: batch})
    total = _kernel_times(session.end_profiling())
    frames = repeats * len(batch)
    by_group: Counter = Counter()
    for node, us in total.items():
        by_group[group_of(node)] += us - warm.get(node, 0.0)
    return {g: round(us / 1000 / frames, 2) for g, us in by_group.most_common()}


def _kernel_times(profile_file: str) -> dict[str, float]:
    events = json.loads(Path(profile_file).read_text())
    Path(profile_file).unlink(missing_ok=True)
    times: Counter = Counter()
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            times[event["name"]] += float(event["dur"])
    return dict(times)


def ms_per_frame(run, batch, repeats: int) -> float:
    run(batch)
    t = time.perf_counter()
    for _ in range(repeats):
        run(batch)
    return 1000 * (time.perf_counter() - t) / (repeats * len(batch))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=str(BUNDLED_WEIGHTS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smoke mode: batch 1, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.repeats = 1, 1
    import torch

    from bench.workdir import scratch_dir
    from models import AttnRegDeepLab
    from models.inference import onnx_backend
    from models.inference.weights import load_model

    torch.set_num_threads(args.threads)
    work = scratch_dir("onnx-profile-")
    model, meta = load_model(args.weights, torch.device("cpu"))
    cfg = model.cfg
    plain = AttnRegDeepLab(
        replace(cfg, skip_strides=(4,), attention_gates=False, regression_head=False, area_input=False,
                refine_width=0)
    ).eval()
    batch = np.random.default_rng(0).random((args.batch, 1, cfg.input_size, cfg.input_size), np.float32)
    ours_onnx = onnx_backend._export(model.eval(), work / "ours.safetensors", work / "ours.onnx")
    plain_onnx = onnx_backend._export(plain, work / "plain.safetensors", work / "plain.onnx")

    def torch_runner(net):
        net = net.to(memory_format=torch.channels_last)

        def run(x):
            with torch.inference_mode():
                net(torch.from_numpy(x))

        return run

    def ort_runner(path):
        session = onnx_backend.OnnxSession(path, threads=args.threads)
        return session.run

    timings = {
        "plain_torch_ms": ms_per_frame(torch_runner(plain), batch, args.repeats),
        "plain_onnxruntime_ms": ms_per_frame(ort_runner(plain_onnx), batch, args.repeats),
        "ours_torch_ms": ms_per_frame(torch_runner(model), batch, args.repeats),
        "ours_onnxruntime_ms": ms_per_frame(ort_runner(ours_onnx), batch, args.repeats),
    }
    base = timings["plain_torch_ms"]
    result = {
        "weights": str(args.weights),
        "batch": args.batch,
        "threads": args.threads,
        **{k: round(v, 2) for k, v in timings.items()},
        "ratios_to_plain_torch": {k.removesuffix("_ms"): round(v / base, 3) for k, v in timings.items()},
        "budget_for_the_whole_pipeline_ms": round(0.8 * base, 2),
        "ours_onnxruntime_by_module_ms": profile_by_group(ours_onnx, batch, args.repeats, args.threads, work),
        "plain_onnxruntime_by_module_ms": profile_by_group(plain_onnx, batch, args.repeats, args.threads, work),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
