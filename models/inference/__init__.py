"""Running a trained network: weights files, devices, the ONNX Runtime path, the predictor."""
