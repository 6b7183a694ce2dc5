"""Transformer Workbench: inspect, edit, graph, probe and fine-tune Transformer checkpoints."""

__version__ = "0.1.0"
