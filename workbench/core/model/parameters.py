"""Parameter counts of a model: the one definition the size estimate, builder and trainer share."""

from __future__ import annotations

from typing import Any, NamedTuple


class ParameterCount(NamedTuple):
    """How many parameters a model has, and how many of them train (requires_grad)."""

    trainable: int
    total: int


def count_parameters(model: Any) -> ParameterCount:
    """Trainable and total parameters; tied weights count once (parameters() deduplicates)."""
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return ParameterCount(trainable, total)
