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


def _rows(n: int = 8) -> list[dict]:
    return [{"text": f"a {'good' if i % 2 else 'bad'} day", "label": i % 2} for i in range(n)]


def _write(path, rows: list[dict]) -> str:
    import pandas as pd

    if path.suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif path.suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path)
    elif path.suffix == ".jsonl":
        # json.dumps writes NaN as the bare token NaN, which JSON readers (Arrow) accept
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text(json.dumps(rows))
    return str(path)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from tests.fixtures.training import tiny_model

    return AutoTokenizer.from_pretrained(tiny_model("bert"))


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl", ".parquet"])
def test_a_nan_label_is_refused_in_every_format(tmp_path, tokenizer, suffix):
    from tests.fixtures.training import tiny_spec
    from workbench.core.errors import TrainingDataError
    from workbench.core.training.data import prepare_data

    rows = _rows()
    rows[2]["label"] = math.nan  # an empty numeric cell reads as NaN from CSV and Parquet
    path = _write(tmp_path / f"train{suffix}", rows)
    spec = tiny_spec(CLS, tmp_path / "run", train_file=path, eval_split=0.0)
    with pytest.raises(TrainingDataError, match=r"row 3 has (the label nan|an empty label)"):
        prepare_data(spec, tokenizer)


@pytest.mark.parametrize(("suffix", "label", "says"), [
    (".json", [1, 2], "type list"), (".jsonl", {"a": 1}, "type dict"),
    (".jsonl", 0.5, "a fraction"), (".csv", "", "empty label"),
    (".parquet", None, "empty label"),
])
def test_labels_that_are_not_classes_are_refused(tmp_path, tokenizer, suffix, label, says):
    from tests.fixtures.training import tiny_spec
    from workbench.core.errors import TrainingDataError
    from workbench.core.training.data import prepare_data

    rows = [dict(r, label=label if i == 4 else r["label"]) for i, r in enumerate(_rows())]
    if isinstance(label, (list, dict)):
        rows = [dict(r, label=label) for r in rows]  # one type per column, as Arrow needs
        says = f"row 1 has a label of {says}"
    path = _write(tmp_path / f"train{suffix}", rows)
    spec = tiny_spec(CLS, tmp_path / "run", train_file=path, eval_split=0.0)
    with pytest.raises(TrainingDataError, match=says):
        prepare_data(spec, tokenizer)


def test_whole_number_labels_are_the_same_classes_in_every_format(tmp_path, tokenizer):
    from tests.fixtures.training import tiny_spec
    from workbench.core.training.data import prepare_data

    as_float = [dict(r, label=float(r["label"])) for r in _rows()]
    train = _write(tmp_path / "train.parquet", as_float)
    evalset = _write(tmp_path / "eval.jsonl", _rows(4))
    spec = tiny_spec(CLS, tmp_path / "run", train_file=train, eval_file=evalset)
    data = prepare_data(spec, tokenizer)
    assert data.label_names == ["0", "1"]
    assert data.train["labels"] == [r["label"] for r in _rows()]


def test_a_missing_tag_in_token_classification_is_refused(tmp_path, tokenizer):
    from tests.fixtures.training import tiny_spec
    from workbench.core.errors import TrainingDataError
    from workbench.core.training.data import prepare_data

    rows = [{"text": ["a", "good", "day"], "label": ["O", "ADJ", "O"]} for _ in range(6)]
    rows[1]["label"] = ["O", None, "O"]
    path = _write(tmp_path / "tokens.jsonl", rows)
    spec = tiny_spec("token-classification", tmp_path / "run", train_file=path,
                     eval_split=0.0)
    with pytest.raises(TrainingDataError, match=r"row 2 \(tag 2\) has an empty label"):
        prepare_data(spec, tokenizer)


class _PoisonWeightAt:
    """Writes a NaN into one classifier weight after the optimizer step of `step`."""

    def __new__(cls, step: int):
        from transformers import TrainerCallback

        class Poison(TrainerCallback):
            def on_optimizer_step(self, args, state, control, model=None, **kwargs):
                if state.global_step == step - 1:  # counted up after this hook
                    import torch

                    with torch.no_grad():
                        dict(model.named_parameters())["classifier.weight"][0, 0] = math.nan

        return Poison()


@pytest.mark.parametrize("logging_steps", [1, 5])  # 5: the last step is not a logging step
def test_nan_weights_stop_the_run_before_the_final_save(tmp_path, logging_steps):
    from tests.fixtures.training import Recorder, tiny_spec
    from workbench.core.training.runner import run_training

    rec = Recorder()
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=3, eval_split=0.0,
                     logging_steps=logging_steps)
    # The loss of step 3 is computed before its optimizer step: only the weights show it.
    result = run_training(spec, rec, extra_callbacks=[_PoisonWeightAt(3)])
    assert result.status == "failed" and result.final_model_dir is None
    assert "weights became NaN or infinite at step 3 (first: classifier.weight)" in result.message
    assert "learning rate" in result.message and "weight_decay" in result.message
    assert not (tmp_path / "run" / "final").exists()
    assert not (tmp_path / "run" / "checkpoints" / "checkpoint-3").exists()  # no NaN saved
    assert all(math.isfinite(v) for v in rec.losses().values())
