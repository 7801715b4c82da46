"""Shared fixtures: tiny synthetic datasets and tiny models keep the suite fast on 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """6 embryos x 3 frames at 96 px, every frame with a mask."""
    from embryograde_app.core.synth.generator import generate_dataset

    out = tmp_path_factory.mktemp("tiny_ds")
    generate_dataset(out, embryos=6, frames=3, size=96, seed=11)
    return out


@pytest.fixture(scope="session")
def tiny_weak_dataset(tmp_path_factory) -> Path:
    """Like tiny_dataset but half the frames carry only a range label."""
    from embryograde_app.core.synth.generator import generate_dataset

    out = tmp_path_factory.mktemp("tiny_weak_ds")
    generate_dataset(out, embryos=6, frames=4, size=96, seed=12, range_label_fraction=0.5)
    return out


@pytest.fixture(scope="session")
def tiny_model_config():
    from models import ModelConfig

    return ModelConfig(input_size=64, aspp_channels=16, decoder_channels=16, skip_channels=8, embedding_dim=16)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_model_config) -> Path:
    """An untrained tiny network saved like a real one: enough to test every pipeline end to end."""
    import torch

    from models import AttnRegDeepLab
    from models.inference.weights import save_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_model(path, AttnRegDeepLab(tiny_model_config).eval(), {"version": "tiny-test"})
    return path


@pytest.fixture
def labelled_project(tmp_path, tiny_weak_dataset, tiny_weights) -> Path:
    """6 embryos x 4 frames, half with imported masks, half with range labels only; the tiny model active."""
    from embryograde_app.core.project.frame_import import import_into_project
    from embryograde_app.core.project.registry import ensure_active_model
    from embryograde_app.core.project.store import ProjectStore

    root = tmp_path / "proj"
    import_into_project(root, [tiny_weak_dataset])
    with ProjectStore(root) as store:
        ensure_active_model(store, tiny_weights)
    return root


@pytest.fixture
def project(labelled_project) -> Path:
    """The labelled project under its short name (test modules with a project of their own override it)."""
    return labelled_project
