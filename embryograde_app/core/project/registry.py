"""The project's model registry: which weights a run uses, and the versions a project keeps.

Registering a weights file (copied into PROJECT/models/ once, matched by content), the active model, the
candidates a retrain leaves under PROJECT/models/candidates/ (publish, discard, the sweep of abandoned ones),
rolling back, and the versions' list. Besides registering (ensure_active_model, register_weights with
activate), the active model changes in publish() and rollback() alone, each one SQLite transaction. The models
package is imported inside the functions that read a weights file, so the window may import this module.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from embryograde_app.core.io.atomic import atomic_write_bytes
from embryograde_app.core.project.store import ProjectError, ProjectStore
from embryograde_app.paths import BUNDLED_WEIGHTS

CANDIDATES_DIR = "models/candidates"
NO_HELD_OUT_OVERRIDE = "published without held-out evidence: how it does on an embryo it has not seen is unknown"


class RetrainError(ValueError):
    """A retrain that cannot start or finish (too few labels, a bad weights file), or a candidate that cannot be
    published; the message says why."""


@dataclass(frozen=True)
class Candidate:
    """A trained model waiting for the user's decision: its file, and metrics before/after on held-out embryos."""

    project: str
    version: str
    parent_version: str
    stage: str
    weights: str
    before: dict
    after: dict
    data_summary: dict
    history: list[dict]
    device: str
    seconds: float
    cache: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    active_version: str | None = None  # the model in use when training began: publish() refuses if it changed

    @property
    def acceptable(self) -> bool:
        """Validated on held-out embryos and no worse on MAE, range violations or fragment Dice."""
        return not self.warnings

    @property
    def validated(self) -> bool:
        """At least one embryo was held out of training and measured: the evidence a publish needs."""
        return bool(self.data_summary.get("val_embryos"))


@dataclass(frozen=True)
class ModelVersion:
    version: str
    parent_version: str | None
    created_at: float
    active: bool
    metrics: dict
    data_summary: dict
    path: Path


# ------------------------------------------------------------------------------------ which weights
def resolve_weights(
    explicit: str | Path | None = None,
    project: ProjectStore | None = None,
    default: str | Path | None = BUNDLED_WEIGHTS,
) -> Path | None:
    """Which weights a run uses: an explicit file given by the user (`grade --weights`, the window's ``weights``)
    wins as it is (loading it names what is wrong with it); else the active model of ``project``; else
    ``default`` (the bundled weights) when that file exists: what grading the project would register. None
    when there is none of these.

    Only looks: nothing is registered or checked, so the window may ask on opening any project, read-only
    ones too. A run that grades the project (and so records which model graded) goes through
    ensure_active_model instead, which registers the explicit or the bundled file and checks the active one.
    """
    if explicit:
        return Path(explicit)
    if project is not None:
        row = project.active_model()
        if row is not None:
            return project.model_path(row)
    if default is not None and Path(default).exists():
        return Path(default)
    return None


def register_weights(store: ProjectStore, weights: str | Path, activate: bool) -> tuple[str, Path]:
    """A weights file in the project's registry, copied into PROJECT/models/ once (matched by content).

    A different file under a version name the project already uses is kept beside it under a name with its
    sha256, and its sidecar says so: a registered file is never overwritten."""
    from models.inference.weights import read_metadata, sha256_of

    weights = Path(weights)
    meta = read_metadata(weights)
    digest = sha256_of(weights)
    for row in store.models():
        if row["sha256"] == digest:
            if activate:
                store.activate_model(row["version"])
            return row["version"], store.model_path(row)
    version = str(meta.get("version") or digest[:12])
    folder = store.root / "models"
    folder.mkdir(parents=True, exist_ok=True)
    taken = {row["version"] for row in store.models()}
    plain = folder / f"{version}.safetensors"
    if version in taken or (plain.exists() and sha256_of(plain) != digest):
        version = f"{version}-{digest[:8]}"
    target = folder / f"{version}.safetensors"
    if not target.exists():
        try:
            atomic_write_bytes(target, weights.read_bytes(), overwrite=False)
        except FileExistsError:  # another process copied it in the meantime: the same bytes are fine
            if sha256_of(target) != digest:
                raise ProjectError(f"{target}: another file already has this name; not registered") from None
    elif sha256_of(target) != digest:
        raise ProjectError(f"{target}: another file already has this name; not registered")
    # (present with the same content: an earlier copy whose registration never happened; used as it is)
    share_onnx_export(weights, target, digest)
    side = target.with_suffix(".json")
    if not side.exists():
        try:
            atomic_write_bytes(side, json.dumps(dict(meta, version=version), indent=1).encode("utf-8"), overwrite=False)
        except FileExistsError:
            pass  # another process wrote the same sidecar for the same file
    parent = meta.get("parent")
    store.register_model(
        version,
        target.relative_to(store.root),
        digest,
        parent_version=parent.get("version") if isinstance(parent, dict) else parent,
        metrics=meta.get("metrics"),
        data_summary=meta.get("data"),
        activate=activate,
    )
    return version, target


def share_onnx_export(weights: Path, target: Path, digest: str) -> None:
    """The copy runs on ONNX Runtime at once from its source's export, instead of exporting the network again
    (seconds of work, and torch's tracer in a background thread of the window)."""
    try:
        from models.inference import onnx_backend
    except ImportError:  # no torch here: nothing to share
        return
    onnx_backend.share_export(weights, target, digest)


def ensure_active_model(store: ProjectStore, weights: str | Path | None = None) -> tuple[str, Path]:
    """The project's active model, checked against the sha256 it was registered with; the first time (or with
    ``weights``) the bundled (or given) weights are registered and activated."""
    from models.inference.weights import sha256_of

    if weights is None:
        row = store.active_model()
        if row is not None:
            path = store.model_path(row)
            if not path.is_file():
                raise ProjectError(f"{path}: the weights of the model in use ({row['version']}) are missing")
            if sha256_of(path) != row["sha256"]:
                raise ProjectError(
                    f"{path}: the weights of the model in use ({row['version']}) changed since they were "
                    "registered; roll back to another version"
                )
            share_onnx_export(BUNDLED_WEIGHTS, path, row["sha256"])  # a project made before copies shared exports
            return row["version"], path
        weights = BUNDLED_WEIGHTS
    return register_weights(store, weights, activate=True)


# ------------------------------------------------------------------------------------ candidates
def reserve_candidate_version(root: Path, stage: str) -> str:
    """A version name no other run can take: its candidate file is created exclusively here (two runs started
    in the same second would otherwise share a name, and the second publish would meet the first's file)."""
    base = time.strftime("%Y%m%d-%H%M%S") + f"-stage{stage}"
    with ProjectStore(root) as store:
        taken = {row["version"] for row in store.models()}
    folder = root / CANDIDATES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    version, n = base, 1
    while True:
        if version not in taken and not (root / "models" / f"{version}.safetensors").exists():
            try:
                (folder / f"{version}.safetensors").open("x").close()  # the reservation; the weights replace it
            except FileExistsError:
                pass
            else:
                (folder / f"{version}.owner").write_text(f"{socket.gethostname()} {os.getpid()}\n", encoding="utf-8")
                return version
        n += 1
        version = f"{base}-{n}"


def remove_weights(path: Path) -> None:
    """A weights file and what goes with it: its sidecar, its run's .owner file and its ONNX exports."""
    path.unlink(missing_ok=True)
    path.with_suffix(".json").unlink(missing_ok=True)
    path.with_suffix(".owner").unlink(missing_ok=True)
    for export in path.parent.glob(f"{path.stem}.*.onnx"):  # its ONNX exports (models/inference/onnx_backend.py)
        export.unlink(missing_ok=True)


def _process_gone(owner: str) -> bool:
    """Whether the process a candidate's .owner file names ("host pid") has ended; unsure means no."""
    host, _, pid = owner.strip().rpartition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's run (a shared folder), or not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive but not ours, or a platform where signal 0 does not ask
    return False


def sweep_abandoned_candidates(root: Path) -> list[str]:
    """Remove the candidate files of runs whose process died (kill -9, a crash, a power cut) and return their
    versions. A run or an undecided candidate whose process is alive is left alone, and so is anything without
    an owner file."""
    folder = root / CANDIDATES_DIR
    removed = []
    for owner in sorted(folder.glob("*.owner")) if folder.is_dir() else []:
        try:
            gone = _process_gone(owner.read_text(encoding="utf-8"))
        except OSError:
            continue
        if gone:
            version = owner.stem
            _sweep_half_published(root, version)
            for path in folder.glob(f"{version}.*"):
                path.unlink(missing_ok=True)
            removed.append(version)
    return removed


def _sweep_half_published(root: Path, version: str) -> None:
    """A publish killed before it registered the version leaves models/VERSION.json, perhaps the weights and
    the atomic copy's .VERSION.*.tmp: remove them, unless the version did get registered."""
    models = root / "models"
    if not models.is_dir():
        return
    with ProjectStore(root) as store:
        if any(row["version"] == version for row in store.models()):
            return
    remove_weights(models / f"{version}.safetensors")
    for tmp in models.glob(f".{version}.*.tmp"):
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------ the decision
def publish(candidate: Candidate, activate: bool = True, override: str | None = None) -> Path:
    """Move the candidate into PROJECT/models/ and register it (parent, metrics, data, sha256); activate it.

    The file is verified against its sidecar first; registration and activation are one transaction, so the
    active model changes only when both succeed. A candidate measured on no held-out embryo is published only
    with an explicit ``override`` (who and why), recorded in the model's registry entry and sidecar.
    """
    from models.inference.weights import WeightsError, read_metadata, sha256_of

    root = Path(candidate.project)
    source = Path(candidate.weights)
    if not source.is_file():
        raise RetrainError(f"{source}: the candidate file is gone (discarded or moved)")
    digest = sha256_of(source)
    try:
        recorded = read_metadata(source).get("sha256")
    except WeightsError as exc:
        raise RetrainError(str(exc)) from exc
    if recorded != digest:
        raise RetrainError(f"{source}: sha256 does not match its sidecar; not published")
    if not candidate.validated and not override:
        raise RetrainError(
            "no held-out embryo measured this model: label frames of at least 2 embryos and retrain, or publish "
            "with an override (recorded with the model)"
        )
    target = root / "models" / source.name
    metrics = {"before": candidate.before, "after": candidate.after, "warnings": candidate.warnings}
    if override:
        metrics["override"] = override
    summary = dict(candidate.data_summary, stage=candidate.stage, device=candidate.device, seconds=candidate.seconds)
    with ProjectStore(root) as store:
        active = store.active_model()
        now = active["version"] if active is not None else None
        if activate and now != candidate.active_version:
            raise RetrainError(
                f"the model in use changed to {now} after this candidate was trained (it was compared with "
                f"{candidate.parent_version}); not published: retrain from the model in use"
            )
        if any(row["version"] == candidate.version for row in store.models()):
            raise RetrainError(f"version {candidate.version} is already registered; not published again")
        # The name was reserved by this candidate's run: files under it are left from a publish that crashed.
        remove_weights(target)
        # Copied in first (never over an existing file), registered, then the candidate dropped: a failed
        # registration leaves the candidate as it was to publish again, and nothing in models/ is replaced.
        # The sidecar carries the held-out comparison too (ARCHITECTURE.md section 4: metrics travel with the file).
        sidecar = dict(read_metadata(source), metrics=metrics)
        try:
            sidecar_bytes = json.dumps(sidecar, indent=1, default=float).encode("utf-8")
            atomic_write_bytes(target.with_suffix(".json"), sidecar_bytes, overwrite=False)
        except FileExistsError:
            raise RetrainError(f"{target}: a model of that name is already in the project; not published") from None
        try:
            atomic_write_bytes(target, source.read_bytes(), overwrite=False)
        except BaseException:
            target.with_suffix(".json").unlink(missing_ok=True)
            raise
        try:
            store.register_model(
                candidate.version,
                target.relative_to(root),
                digest,
                parent_version=candidate.parent_version,
                metrics=metrics,
                data_summary=summary,
                activate=activate,
            )
        except BaseException:
            remove_weights(target)
            raise
    share_onnx_export(source, target, digest)  # re-grading starts on ONNX Runtime at once
    remove_weights(source)
    return target


def discard(candidate: Candidate) -> None:
    """Delete the candidate's files; the registry and the active model never knew it."""
    remove_weights(Path(candidate.weights))


def rollback(project: str | Path, version: str) -> Path:
    """Make an earlier (or any registered) version active again, after checking its file is intact."""
    from models.inference.weights import sha256_of

    with ProjectStore(project) as store:
        row = next((r for r in store.models() if r["version"] == version), None)
        if row is None:
            raise ProjectError(f"no model version {version!r} in this project")
        path = store.model_path(row)
        if not path.is_file():
            raise ProjectError(f"{path}: the weights of version {version} are missing")
        if sha256_of(path) != row["sha256"]:
            raise ProjectError(f"{path}: the weights of version {version} changed since they were registered")
        store.activate_model(version)
    return path


def model_versions(project: str | Path) -> list[ModelVersion]:
    """Every registered version, oldest first, with its parent and metrics."""
    with ProjectStore(project) as store:
        return [
            ModelVersion(
                row["version"],
                row["parent_version"],
                row["created_at"],
                bool(row["active"]),
                json.loads(row["metrics"] or "{}"),
                json.loads(row["data_summary"] or "{}"),
                store.model_path(row),
            )
            for row in store.models()
        ]
