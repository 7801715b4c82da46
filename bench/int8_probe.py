"""Probe: would int8 ONNX Runtime (static QDQ quantization of the convolutions) buy the CPU grading budget, and
at what cost in agreement with the validated fp32 model? (Issue: grading <= 0.8x a plain DeepLabV3+.)

Calibrates on real EmbryoScope frames, compares on other real frames (both looks): the share of pixels whose
class agrees with fp32, the largest change of the regression % and the time per frame at batch 8 on 2 threads.
The bundled pipeline keeps fp32 unless int8 agrees with it to >= 99.9 % of pixels and 0.05 points.
Run: python -m bench.int8_probe [--scope all|encoder] [--out bench/results/int8_probe.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path

import numpy as np

from embryograde_app.paths import BUNDLED_WEIGHTS, REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "data"


def _frames(pattern: str, step: int, offset: int = 0) -> list[np.ndarray]:
    import cv2

    files = sorted(glob.glob(str(SHARED / pattern)))
    return [cv2.imread(f, cv2.IMREAD_GRAYSCALE) for f in files[offset::step]]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scope", choices=["all", "encoder"], default="all")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from models.inference.onnx_backend import find_export
    from models.inference.predictor import Predictor
    from models.inference.weights import read_metadata

    predictor = Predictor.from_file(BUNDLED_WEIGHTS, "cpu")
    source = find_export(BUNDLED_WEIGHTS, read_metadata(BUNDLED_WEIGHTS)["sha256"])
    if source is None:
        raise SystemExit("no ONNX export of the bundled weights yet: grade once first")
    cal = _frames("real/gomez-AA83-7/*.jpeg", 20) + _frames("real/gomez-AAL839-6/*.jpeg", 30)
    test = (
        _frames("real/gomez-AA83-7/*.jpeg", 20, 10)
        + _frames("real/gomez-AAL839-6/*.jpeg", 30, 15)
        + _frames("real-labelled/cleavageembryo-2023/frames/*/*.png", 1)
    )
    if not cal or not test:
        raise SystemExit(f"needs the real frames under {SHARED}")
    cal_x, test_x = (np.asarray(predictor.preprocess(frames)[0]) for frames in (cal, test))
    name = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{name: cal_x[i : i + 1]} for i in range(len(cal_x))])

        def get_next(self):
            return next(self.batches, None)

    exclude = []
    if args.scope == "encoder":
        graph = onnx.load(str(source)).graph
        exclude = [n.name for n in graph.node if n.op_type == "Conv" and not n.name.startswith("/model/encoder")]
    quantized = Path(source).with_suffix(".int8-probe.onnx")
    quantize_static(
        str(source), str(quantized), Calibration(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
        nodes_to_exclude=exclude,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    fp32 = ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    int8 = ort.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"])
    a, b = fp32.run(None, {name: test_x}), int8.run(None, {name: test_x})
    fraction = [i for i, out in enumerate(fp32.get_outputs()) if out.name == "fraction"][0]
    timing = {}
    for label, session in (("fp32", fp32), ("int8", int8)):
        session.run(None, {name: test_x[:8]})
        start = time.perf_counter()
        for _ in range(3):
            session.run(None, {name: test_x[:8]})
        timing[label] = round((time.perf_counter() - start) / 24 * 1000, 1)
    quantized.unlink()
    result = {
        "scope": args.scope,
        "calibration_frames": len(cal_x),
        "test_frames": len(test_x),
        "pixel_agreement": round(float((a[0].argmax(1) == b[0].argmax(1)).mean()), 5),
        "max_regression_change_points": round(float(100 * np.abs(a[fraction] - b[fraction]).max()), 3),
        "ms_per_frame": timing,
        "speedup": round(timing["fp32"] / timing["int8"], 2),
        "adopt_threshold": {"pixel_agreement": 0.999, "max_regression_change_points": 0.05},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
