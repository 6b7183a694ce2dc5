"""Export a checkpoint, run or LoRA adapter as a verified HF folder or ONNX model."""
