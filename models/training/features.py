"""Stage-2 feature cache: what the frozen encoder/ASPP/decoder computes, keyed by model and frame content.

A retrain on a grown dataset only runs the frozen network on frames it has not seen; everything else is
read back from the cache (memory, and disk when a folder is given).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from models.inference.weights import save_tensors_atomic
from models.network.attnregdeeplab import AttnRegDeepLab
from models.network.inputs import InputSpec, decode_grey_uint8
from models.training.data import Sample, read_mask_at

TEMP_SUFFIX = ".tmp"  # save_tensors_atomic's temp files: ".<name>.<random>.tmp"
STALE_TEMP_SECONDS = 3600.0


def frozen_fingerprint(model: AttnRegDeepLab) -> str:
    """sha256 of the frozen half's tensors: features are only reusable for these exact weights."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        if name.startswith(model.frozen_prefixes):
            h.update(name.encode())
            h.update(t.detach().cpu().float().numpy().tobytes())
    h.update(InputSpec.of(model.cfg).key.encode())
    return h.hexdigest()


def dihedral(a: np.ndarray, view: int) -> np.ndarray:
    """One of the 8 flips/rotations of the last two axes (leading ones, e.g. channels, go along); view 0 is
    the frame itself."""
    a = np.rot90(a, view % 4, axes=(-2, -1))
    return np.ascontiguousarray(a[..., ::-1] if view >= 4 else a)


@dataclass
class Stage2Item:
    pooled: torch.Tensor  # (P,) float32
    dec: torch.Tensor | None  # (C, S/4, S/4) float16, only for frames used in seg refinement
    mask: torch.Tensor | None  # (S, S) uint8
    lo: float
    hi: float

    @property
    def has_label(self) -> bool:
        return not np.isnan(self.lo)


class FeatureCache:
    def __init__(self, directory: str | Path | None, model: AttnRegDeepLab):
        self.model_key = frozen_fingerprint(model)
        self.directory = Path(directory) / self.model_key[:20] if directory else None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._sweep_stale_temps()
        self.memory: dict[str, dict[str, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def frame_key(image_bytes: bytes, view: int) -> str:
        return hashlib.sha256(image_bytes).hexdigest()[:32] + f"_v{view}"

    def get(self, key: str, need_dec: bool) -> dict[str, torch.Tensor] | None:
        entry = self.memory.get(key)
        if entry is None and self.directory is not None:
            path = self.directory / f"{key}.safetensors"
            if path.exists():
                try:
                    entry = load_file(str(path))
                except Exception:  # a torn or corrupt entry is recomputed, never trusted
                    entry = None
        if entry is None or (need_dec and "dec" not in entry):
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def put(self, key: str, entry: dict[str, torch.Tensor]) -> None:
        """Store an entry; on disk atomically under a temp name of this writer's own, so two retrains of
        one project (the window's child and a command line) writing the same frame never take each other's
        temp file: the last rename wins, and both wrote the same features."""
        if self.directory is None:
            self.memory[key] = entry
            return
        tensors = {k: v.contiguous() for k, v in entry.items()}
        save_tensors_atomic(self.directory / f"{key}.safetensors", tensors, durable=False)

    def _sweep_stale_temps(self) -> None:
        """Temp files of writers killed before their rename (older than STALE_TEMP_SECONDS, so a writer that
        is still running keeps its own)."""
        cutoff = time.time() - STALE_TEMP_SECONDS
        for tmp in self.directory.glob(f".*{TEMP_SUFFIX}"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except OSError:
                pass  # gone already, or not ours to remove: it is never read either way

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses}


def build_stage2_items(
    model: AttnRegDeepLab,
    samples: list[Sample],
    cache: FeatureCache,
    device: torch.device,
    views: int,
    refine_seg: bool,
    max_seg_items: int,
    check: Callable[[], None] = lambda: None,
    batch_size: int = 16,
) -> list[Stage2Item]:
    """One item per (frame, view): cached frozen features plus its label and (for refinement) mask."""
    spec = InputSpec.of(model.cfg)
    items: list[Stage2Item | None] = []
    pending: list[tuple[int, str, np.ndarray, bool]] = []
    # Decoder maps are big: keep them for frames spread evenly over the set (every embryo, not the first few).
    masked = [i for i, s in enumerate(samples) if s.mask_path]
    n_seg_frames = min(len(masked), max_seg_items // max(views, 1)) if refine_seg else 0
    seg_frames = {masked[j] for j in np.linspace(0, len(masked) - 1, n_seg_frames).round().astype(int)}

    def flush() -> None:
        if not pending:
            return
        check()
        batch = torch.stack([spec.tensor(img) for _, _, img, _ in pending]).to(device)
        with torch.no_grad():
            dec, pooled, _ = model.frozen_features(batch)
        for j, (slot, key, _, need_dec) in enumerate(pending):
            entry = {"pooled": pooled[j].float().cpu()}
            if need_dec:
                entry["dec"] = dec[j].half().cpu().contiguous()  # NHWC out of channels_last: stored as NCHW
            cache.put(key, entry)
            items[slot].pooled = entry["pooled"]
            items[slot].dec = entry.get("dec")
        pending.clear()

    for n, s in enumerate(samples):
        raw = Path(s.image_path).read_bytes()
        need_dec = n in seg_frames
        if not (need_dec or s.has_label):
            continue
        frame = decode_grey_uint8(raw, s.image_path)  # one read serves the hash and the pixels
        view = image = None  # the embryo detector runs only for a mask or a cache miss, not on a warm cache
        mask = None
        if need_dec:
            view = spec.view(frame)
            mask = view.mask_to_input(read_mask_at(s.mask_path, frame.shape), spec.size)
        lo = s.lo_pct / 100 if s.has_label else float("nan")
        hi = s.hi_pct / 100 if s.has_label else float("nan")
        for turn in range(views):
            key = cache.frame_key(raw, turn) + "_" + spec.key
            view_mask = torch.from_numpy(dihedral(mask, turn)) if need_dec else None
            items.append(Stage2Item(torch.empty(0), None, view_mask, lo, hi))
            entry = cache.get(key, need_dec)
            if entry is not None:
                items[-1].pooled = entry["pooled"].float()
                items[-1].dec = entry["dec"] if need_dec else None
            else:
                if image is None:
                    image = spec.image(frame, view)
                pending.append((len(items) - 1, key, dihedral(image, turn), need_dec))
                if len(pending) >= batch_size:
                    flush()
    flush()
    return [it for it in items if it is not None]
