"""Weights as safetensors + a JSON sidecar; nothing is ever unpickled.

The sidecar (same name, .json) records the architecture, classes, input size, normalisation, training
data summary, metrics, parent version and the sha256 of the weights file, so a file rebuilds itself and
a tampered or truncated file is caught before it is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from models.diskspace import explain_disk_full, tensor_bytes
from models.network.attnregdeeplab import AttnRegDeepLab, ModelConfig
from models.network.inputs import NORM_MEAN, NORM_STD

CLASS_NAMES = ["background", "blastomere", "fragment"]


class WeightsError(ValueError):
    """A weights file that is missing, corrupt, or does not match its sidecar (message names the file)."""


def sidecar_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _plain_file_mode() -> int:
    """What open() would give (0o666 minus the umask). Read once at import: os.umask can only be read by
    setting it, and doing that per save would race with files other threads create meanwhile."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _plain_file_mode()


def _atomic_replace(tmp: str, final: Path, durable: bool = True) -> None:
    os.chmod(tmp, _FILE_MODE)  # mkstemp creates 0o600
    if durable:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, final)


def save_tensors_atomic(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None, durable: bool = True
) -> None:
    """Write a safetensors file so that a reader sees the old file or the new one, never half of one: under a
    temp name of this writer's own in the same folder (two writers of one path never take each other's temp
    file), then renamed; a failed write leaves no temp file, and a full disk is said as DiskFullError.
    durable=False skips the fsync, for what is only recomputed if lost (cache entries, checkpoints)."""
    path = Path(path)
    tmp: str | None = None
    try:
        with explain_disk_full(path, tensor_bytes(tensors)):
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            save_file(tensors, tmp, metadata=metadata)
            _atomic_replace(tmp, path, durable)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def save_model(path: str | Path, model: AttnRegDeepLab, metadata: dict | None = None, fp16: bool = True) -> dict:
    """Write weights (fp16 storage by default) and sidecar atomically; returns the sidecar dict."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        if fp16 and t.is_floating_point():
            t = t.half()
        tensors[name] = t.contiguous()
    save_tensors_atomic(path, tensors, metadata={"format": "pt", "architecture": "AttnRegDeepLab"})
    meta = dict(metadata or {})
    meta.update(
        {
            "architecture": "AttnRegDeepLab",
            "config": model.cfg.to_dict(),
            "classes": CLASS_NAMES,
            "input_size": model.cfg.input_size,
            "normalisation": {"mean": NORM_MEAN, "std": NORM_STD, "scale": "x/255"},
            "storage_dtype": "float16" if fp16 else "float32",
            "sha256": sha256_of(path),
        }
    )
    side = sidecar_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{side.name}.", suffix=".tmp", dir=side.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True)
    _atomic_replace(tmp, side)
    return meta


def read_metadata(path: str | Path) -> dict:
    side = sidecar_path(path)
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{side}: sidecar JSON is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{side}: unreadable sidecar ({exc})") from exc
    if not isinstance(meta, dict):
        raise WeightsError(f"{side}: the sidecar must be a JSON object, not {type(meta).__name__}")
    return meta


def model_config_of(path: str | Path, meta: dict | None = None) -> ModelConfig:
    """The architecture a weights file was trained with (from its sidecar, or ``meta`` already read from it),
    without loading tensors.

    A sidecar without its config is refused: building the default network instead would silently run
    another architecture (say, without the boundary refiner whose tensors the file holds)."""
    config = (read_metadata(path) if meta is None else meta).get("config")
    if config is None or config == {}:
        raise WeightsError(f"{sidecar_path(path)}: the sidecar has no 'config' block (the network's architecture)")
    try:
        return ModelConfig.from_dict(config)
    except ValueError as exc:
        raise WeightsError(f"{sidecar_path(path)}: {exc}") from None


def load_model(
    path: str | Path, device: str | torch.device = "cpu", verify: bool = True
) -> tuple[AttnRegDeepLab, dict]:
    """Rebuild the network from the sidecar and load the safetensors weights (as float32)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    meta = read_metadata(path)
    if verify and meta.get("sha256") and sha256_of(path) != meta["sha256"]:
        raise WeightsError(f"{path}: sha256 does not match its sidecar (file changed or truncated)")
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsError(f"{path}: not a valid safetensors file ({exc})") from exc
    model = AttnRegDeepLab(model_config_of(path, meta))
    state = model.state_dict()
    missing = set(state) - set(tensors)
    if missing:
        raise WeightsError(f"{path}: {len(missing)} tensors missing, e.g. {sorted(missing)[0]}")
    unused = set(tensors) - set(state)
    if unused:  # the sidecar's config describes another network than the one these weights were saved from
        raise WeightsError(
            f"{path}: {len(unused)} tensors the network of its sidecar's config does not use, e.g. {sorted(unused)[0]}"
        )
    for name, ref in state.items():
        if tensors[name].shape != ref.shape:
            raise WeightsError(
                f"{path}: tensor {name} has shape {tuple(tensors[name].shape)}, expected {tuple(ref.shape)}"
            )
    model.load_state_dict(
        {k: v.to(ref.dtype) for (k, v), ref in zip(((k, tensors[k]) for k in state), state.values(), strict=True)}
    )
    return model.to(device).eval(), meta


def state_dict_float(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the weights (for keeping the best epoch in memory)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
