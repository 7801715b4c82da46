"""AttnRegDeepLab and all torch code. No Qt, no SQLite, no embryograde_app import."""

from models.attnregdeeplab import AttnRegDeepLab, ModelConfig, ModelOutput

__all__ = ["AttnRegDeepLab", "ModelConfig", "ModelOutput"]
