"""FloodSAR training: reproduces cross-modal distillation on Sen1Floods11 and exports the ONNX model."""
