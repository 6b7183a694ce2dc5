"""The preflight's plan (steps, LR schedule) before the data's rows are counted."""

from __future__ import annotations

from workbench.core.training.spec import TrainSpec
from workbench.qt.train.preflight import _plan


def _spec(**values) -> TrainSpec:
    return TrainSpec(model_path="m", task="sequence-classification", train_file="t.csv",
                     **values)


def test_max_steps_plans_before_the_rows_are_counted():
    """With max_steps set the plan needs no row count; the worker got None rows while the data
    preview was still counting and failed with a TypeError (seen in a CI log)."""
    plan = _plan(_spec(max_steps=7), None, 2)
    assert plan["steps"] == 7 and len(plan["lr"]) == 7


def test_epochs_wait_for_the_rows():
    assert _plan(_spec(max_steps=-1), None, 2)["steps"] is None
    plan = _plan(_spec(max_steps=-1, num_epochs=2, batch_size=4, eval_split=0.5), 16, 2)
    assert plan["steps"] == 4  # 8 training rows, 2 batches an epoch, 2 epochs
