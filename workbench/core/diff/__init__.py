"""Weight-level diff of two checkpoints (streamed from safetensors) and LoRA update norms."""
