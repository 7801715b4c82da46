"""Running a trained network: the weights file and its sidecar (weights), devices and distributed setup
(device), the ONNX Runtime path for CPUs (onnx_backend), and the predictor on frames of any size (predictor).

Imports models.network (the network, InputSpec) and never models.training, not even inside a function:
grading does not load training code. Training builds on this package (weights, devices), not the reverse.
"""
