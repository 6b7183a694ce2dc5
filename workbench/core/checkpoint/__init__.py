"""Checkpoints on disk, read from headers only: formats, tensors, tokenizer files, the HF cache.

Owns every weights reader (safetensors, pickles); imports no model building beyond core.model."""
