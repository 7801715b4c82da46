"""Where bundled resources live (the top-level resources/ folder of the checkout)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESOURCES = REPO_ROOT / "resources"
GRADING_SCHEMES_JSON = RESOURCES / "grading_schemes.json"
BUNDLED_WEIGHTS = RESOURCES / "attnregdeeplab_r18.safetensors"
# The generator-only model (bundled-r18-91a4f833, trained on synthetic frames alone): the starting point of
# the real-embryo recipe, of its leave-one-embryo-out validation and of the correction curve.
GENERATOR_WEIGHTS = RESOURCES / "generator_r18.safetensors"
