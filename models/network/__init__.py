"""The network and what it reads.

attnregdeeplab: AttnRegDeepLab and its ModelConfig (stored in every weights sidecar). canonical: the embryo
detector and the canonical view (where the network looks in a frame, and how its answer goes back).
inputs: a frame file decoded to grey uint8, and InputSpec (how that frame becomes the input tensor).

The bottom of models' import order (network <- inference <- training): nothing here imports
models.inference or models.training.
"""
