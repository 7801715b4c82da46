"""AttnRegDeepLab and all torch code. No Qt, no SQLite, no embryograde_app import.

The network's names are loaded on first use (PEP 562), so that torch-free helpers such as
`models.diskspace` can be imported by the app's core without importing torch.
"""

__all__ = ["AttnRegDeepLab", "ModelConfig", "ModelOutput"]


def __getattr__(name: str):
    if name in __all__:
        from models.network import attnregdeeplab
        return getattr(attnregdeeplab, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
