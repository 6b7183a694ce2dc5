"""Perplexity: the one place that turns a language model's eval loss into perplexity."""

from __future__ import annotations

import math

from workbench.core.training.tasks import task_info

# exp() overflows a float past ~709.78; a loss that large is a diverged model: call it infinite.
_MAX_LOSS = 700.0


def perplexity(loss: float) -> float:
    """exp(mean token cross-entropy); inf for a diverged loss, NaN stays NaN."""
    loss = float(loss)
    if math.isnan(loss):
        return loss
    return math.exp(loss) if loss < _MAX_LOSS else math.inf


def with_perplexity(metrics: dict[str, float], task: str) -> dict[str, float]:
    """`metrics` with "perplexity" added from "eval_loss" for language-model tasks (in place)."""
    if "perplexity" not in metrics and "eval_loss" in metrics \
            and task_info(task).reports_perplexity:
        metrics["perplexity"] = perplexity(metrics["eval_loss"])
    return metrics
