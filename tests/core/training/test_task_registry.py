"""The task registry owns each task's facts; TrainSpec choices are typed; one perplexity."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.training.perplexity import perplexity, with_perplexity
from workbench.core.training.spec import Method, Precision, TrainSpec, choices
from workbench.core.training.tasks import TASKS, Task, auto_model_class, task_info


def test_every_task_has_one_complete_entry():
    import peft
    import transformers

    assert set(TASKS) == set(Task)
    fields = {f.name for f in dataclasses.fields(TrainSpec)}
    for task, info in TASKS.items():
        assert info.task is task
        assert getattr(transformers, info.auto_class) is auto_model_class(task.value)
        assert info.peft_task_type is None or info.peft_task_type in peft.TaskType.__members__
        # chat-sft detects its columns from the data (chat_data.detect_format)
        assert set(info.columns) <= fields
        assert task is Task.CHAT_SFT or info.columns[0].endswith("_column")
        assert info.metrics[0] == "eval_loss" and info.try_hint
    assert task_info("causal-lm").reports_perplexity
    assert task_info("token-classification").classifies
    with pytest.raises(WorkbenchError, match="Unknown task 'dance'"):
        task_info("dance")


def test_spec_choices_are_typed_and_json_is_unchanged():
    spec = TrainSpec(model_path="m", task="causal-lm", train_file="t.csv", method="lora",
                     precision="bf16")
    assert spec.task is Task.CAUSAL_LM and spec.method is Method.LORA
    assert spec.precision is Precision.BF16
    data = json.loads(json.dumps(spec.to_json()))
    assert (data["task"], data["method"], data["precision"]) == ("causal-lm", "lora", "bf16")
    assert TrainSpec.from_json(data) == spec
    assert choices() == {
        "task": ["sequence-classification", "token-classification", "causal-lm", "masked-lm",
                 "seq2seq", "question-answering", "chat-sft"],
        "method": ["full", "lora"], "optimizer": ["adamw_torch", "adafactor", "sgd"],
        "scheduler": ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                      "constant_with_warmup", "inverse_sqrt"],
        "precision": ["fp32", "bf16", "fp16"]}


def test_perplexity_is_one_function_everywhere():
    from transformers import TrainerState

    from workbench.core.training.callbacks import EventCallback

    assert perplexity(2.0) == pytest.approx(math.exp(2.0))
    assert perplexity(750.0) == math.inf  # evaluate_model used to report exp(700) here
    assert math.isnan(perplexity(float("nan")))
    assert with_perplexity({"eval_loss": 1.0}, "seq2seq")["perplexity"] == pytest.approx(math.e)
    assert "perplexity" not in with_perplexity({"eval_loss": 1.0}, "sequence-classification")
    assert with_perplexity({"eval_loss": 1.0, "perplexity": 5.0}, "causal-lm")["perplexity"] == 5
    events: list = []
    callback = EventCallback(events.append, None, "causal-lm", "cpu", True, 1)
    callback.on_evaluate(None, TrainerState(global_step=3, max_steps=9, epoch=1.0), None,
                         metrics={"eval_loss": 750.0})
    assert events[-1].metrics["perplexity"] == math.inf
