"""Inference on frames of any size: the network runs at its input size, results come back at frame size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.inference.device import channels_last_helps, select_device
from models.inference.weights import load_model
from models.network.attnregdeeplab import AttnRegDeepLab, ModelConfig, argmax3, display_attention_of
from models.network.canonical import EmbryoView
from models.network.inputs import InputSpec

_BACKGROUND_LOGITS = [0.0, -20.0, -20.0]  # outside the canonical view: background, never a cell or fragment


def stretch_attention(att: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-frame contrast for the attention view, within the embryo.

    The gate's raw coefficients are near 1 over the whole embryo and near 0 around it: a saturated disc
    whatever the gate looks at. Stretched between their 5th and 99.5th percentiles over the embryo's own
    pixels (the predicted cells and fragments), with everything outside the embryo dark, the map shows
    where in this embryo the gate passes the most fine detail to the decoder, against where it damps it.
    """
    inside = att[mask > 0]
    if inside.size < 16:
        return att.astype(np.float32)
    inside = inside[:: max(1, inside.size // 20000)]
    lo, hi = np.percentile(inside, (5.0, 99.5))
    if hi - lo < 1e-4:
        return np.where(mask > 0, 0.5, 0.0).astype(np.float32)
    out = np.clip((att - lo) / (hi - lo), 0.0, 1.0)
    out[mask == 0] = 0.0
    return out.astype(np.float32)


@dataclass(frozen=True)
class Prediction:
    mask: np.ndarray  # (H, W) uint8 class ids 0/1/2 at the frame's own size
    fraction: float  # regression head's fragmentation fraction (0..1)
    attention: np.ndarray | None  # (H, W) float32 in 0..1: the attention gate's map (None: not asked for)
    fragment_prob: np.ndarray | None = None  # (H, W) float32 in 0..1: the network's probability of "fragment"

    @property
    def regression_pct(self) -> float:
        return 100.0 * self.fraction


@dataclass(frozen=True)
class _Outputs:
    """What postprocess reads of a forward pass, whichever backend ran it."""

    seg_logits: torch.Tensor
    attention: dict
    fraction: torch.Tensor


class Predictor:
    """Loads a weights file once and grades batches of grey uint8 frames.

    On the CPU the network runs under ONNX Runtime where it is installed (models/inference/onnx_backend.py: same
    outputs to ~1e-5, faster on few cores); on CUDA/MPS, or with EMBRYOGRADE_BACKEND=torch, through torch.
    """

    def __init__(
        self,
        model: AttnRegDeepLab | None,
        meta: dict | None = None,
        device: str | torch.device = "cpu",
        session=None,
        cfg: ModelConfig | None = None,
    ):
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        self.session = session  # an onnx_backend.OnnxSession: ONNX Runtime runs the weights
        self.backend_note = ""
        self.model = model  # None when ONNX Runtime holds the weights
        if model is not None:
            self.model = model.to(self.device).eval()
            if channels_last_helps(self.device):  # ~15-27 % faster convolutions
                self.model = self.model.to(memory_format=torch.channels_last)
        self.cfg = cfg if cfg is not None else model.cfg
        self.attention_index = display_attention_of(self.cfg)
        self.meta = meta or {}
        self.input_size = self.cfg.input_size
        self.spec = InputSpec.of(self.cfg)

    @classmethod
    def from_file(cls, path: str | Path, device: str = "auto", backend: str | None = None) -> Predictor:
        """backend: auto (ONNX Runtime on the CPU where installed), torch, or onnx (an error if it cannot);
        None reads EMBRYOGRADE_BACKEND."""
        from models.inference import onnx_backend
        dev = select_device(device)
        choice = onnx_backend.chosen_backend(backend)
        wants_onnx = dev.type == "cpu" and choice != "torch" and (choice == "onnx" or onnx_backend.available())
        if wants_onnx:
            ready = cls._from_export(path)
            if ready is not None:
                return ready
        model, meta = load_model(path, dev)
        predictor = cls(model, meta, dev)
        if wants_onnx:
            try:
                predictor.use_onnx(path)
            except onnx_backend.OnnxUnavailable as exc:
                if choice == "onnx":
                    raise
                predictor.backend_note = f"ONNX Runtime not used ({exc}); torch runs the network"
                onnx_backend.log.warning("%s: %s", path, predictor.backend_note)
        return predictor

    @classmethod
    def _from_export(cls, path: str | Path) -> Predictor | None:
        """The predictor straight from an earlier export of these weights, without building the torch network
        (a quarter of a gigabyte less for `grade`); None when there is no export yet or it cannot be opened."""
        from models.inference import onnx_backend
        from models.inference.weights import WeightsError, model_config_of, read_metadata, sha256_of

        if not Path(path).is_file():
            return None  # load_model names what is wrong
        try:
            meta = read_metadata(path)
        except WeightsError:
            return None
        sha = str(meta.get("sha256", ""))
        export = onnx_backend.find_export(path, sha)
        if export is None:
            return None
        if sha256_of(path) != sha:  # the same check load_model makes
            raise WeightsError(f"{path}: sha256 does not match its sidecar (file changed or truncated)")
        try:
            session = onnx_backend.OnnxSession(export)
        except Exception:  # noqa: BLE001 - a damaged export is made again from the weights
            Path(export).unlink(missing_ok=True)
            return None
        return cls(None, meta, torch.device("cpu"), session=session, cfg=model_config_of(path, meta))

    def use_onnx(self, weights: str | Path) -> None:
        """Run the network under ONNX Runtime (exported next to ``weights`` at first use); the torch copy of the
        weights is then released."""
        from models.inference import onnx_backend
        self.session = onnx_backend.open_session(self.model, weights, str(self.meta.get("sha256", "")))
        self.model = None

    @property
    def backend(self) -> str:
        return "onnxruntime" if self.session is not None else "torch"

    @property
    def version(self) -> str:
        return str(self.meta.get("version") or self.meta.get("sha256", "")[:12] or "unversioned")

    def preprocess(self, frames: list[np.ndarray]) -> tuple[torch.Tensor, list[EmbryoView]]:
        """The network's input batch and, per frame, the view it was taken from (canonical or whole)."""
        pairs = [self.spec.frame_tensor(f) for f in frames]
        return torch.stack([t for t, _ in pairs]), [v for _, v in pairs]

    @torch.inference_mode()
    def forward(self, batch: torch.Tensor):
        if self.session is not None:
            seg, att, frac = self.session.run(batch.numpy())
            index = self.attention_index
            return _Outputs(torch.from_numpy(seg), {index: torch.from_numpy(att)}, torch.from_numpy(frac))
        return self.model(batch.to(self.device))

    @staticmethod
    def frame_logits(out, i: int, view: EmbryoView) -> torch.Tensor:
        """(1, 3, H, W) logits of batch item i on its frame: resized onto the view's window, background outside."""
        return view.tensor_to_frame(out.seg_logits[i : i + 1].float(), _BACKGROUND_LOGITS)

    def postprocess(self, out, views: list[EmbryoView], maps: bool = True) -> list[Prediction]:
        """Masks at frame size: logits resized bilinearly onto the view's window of the frame (background
        outside it), then argmax (softmax would not change it). maps=False skips the attention and fragment
        probability maps, which only the window shows (batch grading stores masks and readings)."""
        results = []
        for i, view in enumerate(views):
            logits = self.frame_logits(out, i, view)
            mask = argmax3(logits[0]).cpu().numpy()
            fraction = float(out.fraction[i].clamp(0, 1))
            if not maps:
                results.append(Prediction(mask, fraction, None, None))
                continue
            fragment_prob = logits[0].softmax(dim=0)[2].cpu().numpy()
            if self.attention_index is not None:
                att = view.tensor_to_frame(out.attention[self.attention_index][i : i + 1].float(), 0.0)
                attention = stretch_attention(att[0, 0].clamp(0, 1).cpu().numpy(), mask)
            else:
                attention = np.zeros(view.frame_shape, np.float32)
            results.append(Prediction(mask, fraction, attention, fragment_prob))
        return results

    def predict(self, frames: list[np.ndarray]) -> list[Prediction]:
        """Frames are 2-D uint8 (any size); one Prediction per frame, in order."""
        if not frames:
            return []
        for f in frames:
            if f.ndim != 2 or f.dtype != np.uint8:
                raise ValueError(f"frames must be 2-D uint8, got shape {f.shape} dtype {f.dtype}")
        batch, views = self.preprocess(frames)
        return self.postprocess(self.forward(batch), views)
