"""AttnRegDeepLab and all torch code. No Qt, no SQLite, no embryograde_app import.

- models.network: the network (attnregdeeplab), the embryo detector and canonical view (canonical), and what
  the network reads (inputs: frame files to grey uint8, InputSpec, the normalisation).
- models.inference: running trained weights: the weights file and its sidecar, devices, the ONNX Runtime
  path, the predictor.
- models.training: teaching the network: samples and datasets, losses, the stage loops, the feature cache,
  the real-embryo recipe.
- models.diskspace: full-disk errors said as a person can act on them (torch-free; the app's core uses it).

Imports run one way: network <- inference <- training. The network imports neither of the others;
inference never imports training (not even inside a function); training uses both.

The network's names are loaded on first use (PEP 562), so that torch-free helpers such as
`models.diskspace` can be imported by the app's core without importing torch.
"""

__all__ = ["AttnRegDeepLab", "ModelConfig", "ModelOutput"]


def __getattr__(name: str):
    if name in __all__:
        from models.network import attnregdeeplab

        return getattr(attnregdeeplab, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
