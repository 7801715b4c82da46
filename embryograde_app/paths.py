"""Where bundled resources live (the top-level resources/ folder of the checkout)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESOURCES = REPO_ROOT / "resources"
GRADING_SCHEMES_JSON = RESOURCES / "grading_schemes.json"
BUNDLED_WEIGHTS = RESOURCES / "attnregdeeplab_r18.safetensors"
