"""Issue 11 guards: hostile spec values and labels are refused with the field or row named."""

from __future__ import annotations

import json
import math

import pytest

from workbench.core.errors import InvalidTrainSpecError
from workbench.core.training.spec import TrainSpec

CLS = "sequence-classification"
BASE = {"model_path": "m", "task": CLS, "train_file": "t.csv"}


@pytest.mark.parametrize(("field", "value", "says"), [
    ("weight_decay", math.nan, "not a finite number"),
    ("num_epochs", math.inf, "not a finite number"),
    ("learning_rate", -1e-4, "positive"),
    ("learning_rate", math.nan, "not a finite number"),
    ("max_grad_norm", -math.inf, "not a finite number"),
    ("adam_beta1", math.nan, "not a finite number"),
    ("eval_split", math.nan, "not a finite number"),
    ("lora_dropout", math.inf, "not a finite number"),
    ("seed", -1, "out of range"),
    ("seed", 2**70, "out of range"),
    ("batch_size", 2**63, "out of range"),
    ("max_steps", 10**400, "integer of"),
    ("num_epochs", 1e300, "out of range"),
    ("batch_size", True, "not a whole number"),
    ("batch_size", "8", "not a whole number"),
    ("learning_rate", [1e-4], "not a number"),
    ("stop_on_nan", 1, "not true or false"),
    ("text_column", {"a": 1}, "not text"),
])
def test_hostile_spec_values_are_refused_with_the_field(field, value, says):
    with pytest.raises(InvalidTrainSpecError, match=f"'{field}'.*{says}"):
        TrainSpec(**BASE, **{field: value})


@pytest.mark.parametrize(("field", "text"), [
    ("weight_decay", "NaN"), ("num_epochs", "Infinity"), ("learning_rate", "-Infinity"),
    ("seed", "-1"), ("seed", str(2**70)), ("max_steps", str(10**30)),
    ("batch_size", "[1, 2]"), ("batch_size", "{\"a\": 1}"), ("lora_target_modules", "[1, 2]"),
    ("text_column", "[\"a\"]"), ("max_steps", "1e400"), ("batch_size", "true"),
])
def test_hostile_spec_files_are_refused_with_the_field(tmp_path, field, text):
    path = tmp_path / "spec.json"
    path.write_text("{" + ", ".join([f'"{k}": "{v}"' for k, v in BASE.items()]
                                    + [f'"{field}": {text}']) + "}")
    with pytest.raises(InvalidTrainSpecError, match=f"'{field}'"):
        TrainSpec.load(path)


def test_deeply_nested_spec_is_a_clear_error(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{"model_path": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(InvalidTrainSpecError, match="spec"):
        TrainSpec.load(path)


def test_plain_good_values_still_pass():
    spec = TrainSpec(**BASE, seed=0, weight_decay=0.01, num_epochs=1, max_steps=-1)
    assert TrainSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    assert TrainSpec(**BASE, seed=2**32 - 1).seed == 2**32 - 1
