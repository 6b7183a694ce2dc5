"""Fine-tuning core: a TrainSpec in, TrainEvents out, built on transformers' Trainer (no Qt)."""

from __future__ import annotations
