"""TrainSpec validation/JSON/docs, events JSON, LR schedule, memory plan, data checks, the CLI."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from tests.fixtures.training import data_file, tiny_model, tiny_spec
from workbench.cli import main
from workbench.core.errors import InvalidTrainSpecError, TrainingDataError
from workbench.core.training.data import prepare_data, preview_data
from workbench.core.training.events import TrainEvent
from workbench.core.training.memory_plan import estimate_training_memory, lr_schedule, planned_steps
from workbench.core.training.spec import TrainSpec, choices, demo_spec, field_docs

CLS = "sequence-classification"


def test_every_field_has_a_docstring_and_choices_are_valid():
    docs = field_docs()
    names = [f.name for f in dataclasses.fields(TrainSpec)]
    assert set(docs) == set(names)
    assert all(len(text) > 10 for text in docs.values())
    defaults = {f.name: f.default for f in dataclasses.fields(TrainSpec)}
    for name, options in choices().items():
        assert name in names
        if defaults[name] is not dataclasses.MISSING:
            assert defaults[name] in options


@pytest.mark.parametrize(("changes", "field"), [
    ({"learning_rate": -1.0}, "learning_rate"), ({"task": "dance"}, "task"),
    ({"batch_size": 0}, "batch_size"), ({"eval_split": 1.5}, "eval_split"),
    ({"device": "gpu"}, "device"), ({"precision": "fp16"}, "precision"),
    ({"max_steps": 0}, "max_steps"), ({"task": "seq2seq"}, "target_column"),
    ({"optimizer": "lion"}, "optimizer"), ({"warmup_ratio": 1.0}, "warmup_ratio"),
])
def test_validation_names_the_field(changes, field):
    with pytest.raises(InvalidTrainSpecError, match=f"'{field}'"):
        TrainSpec(**{"model_path": "m", "task": CLS, "train_file": "t.csv", **changes})


def test_json_round_trip_and_coercion(tmp_path):
    spec = TrainSpec("m", CLS, "t.csv", lora_target_modules=["query"], learning_rate=1e-4)
    assert TrainSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    coerced = TrainSpec.from_json({"model_path": "m", "task": CLS, "train_file": "t.csv",
                                   "learning_rate": "3e-4", "num_epochs": 2})
    assert coerced.learning_rate == 3e-4 and coerced.num_epochs == 2.0
    with pytest.raises(InvalidTrainSpecError, match="Unknown training setting"):
        TrainSpec.from_json({"model_path": "m", "task": CLS, "train_file": "t", "lr": 1})
    with pytest.raises(InvalidTrainSpecError, match="batch_size"):
        TrainSpec.from_json({"model_path": "m", "task": CLS, "train_file": "t",
                             "batch_size": 2.5})
    spec.save(tmp_path / "s.json")
    assert TrainSpec.load(tmp_path / "s.json") == spec.replace(
        model_path=str(tmp_path / "m"), train_file=str(tmp_path / "t.csv"))


def test_demo_spec_points_at_the_bundled_data():
    spec = demo_spec("out")
    assert spec.output_dir == "out" and spec.task == CLS
    from workbench.core.training.data import load_table

    train, evalset = load_table(spec.train_file), load_table(spec.eval_file)
    assert len(train) >= 200 and len(evalset) >= 50
    assert sorted(set(train["label"])) == sorted(set(evalset["label"]))
    assert not set(train["text"]) & set(evalset["text"])  # no eval sentence is in training


def test_event_json_keeps_nan_and_inf():
    event = TrainEvent("log", 3, 10, 0.3, 1.5, {"loss": math.nan, "grad_norm": math.inf})
    line = event.to_json()
    json.loads(line)  # strict JSON: no bare NaN
    back = TrainEvent.from_json(line)
    assert math.isnan(back.metrics["loss"]) and back.metrics["grad_norm"] == math.inf
    with pytest.raises(Exception, match="kind"):
        TrainEvent("exploded", 0, 0, 0.0, 0.0)


def test_lr_schedule_matches_the_scheduler_shape():
    spec = TrainSpec("m", CLS, "t.csv", learning_rate=1e-3, warmup_ratio=0.2, scheduler="linear")
    rates = lr_schedule(spec, 10)
    assert len(rates) == 10 and rates[0] == 0.0
    assert max(rates) == pytest.approx(1e-3) and rates.index(max(rates)) == 2
    assert rates[-1] < rates[5] < rates[2]
    constant = lr_schedule(spec.replace(scheduler="constant", warmup_ratio=0.0), 5)
    assert constant == [pytest.approx(1e-3)] * 5
    cosine = lr_schedule(spec.replace(scheduler="cosine", warmup_ratio=0.0), 100)
    assert cosine[50] == pytest.approx(5e-4, rel=0.05)
    assert planned_steps(spec.replace(num_epochs=2.0, batch_size=8), 100) == 26
    assert planned_steps(spec.replace(max_steps=7), 100) == 7


def test_memory_plan_parts_and_knobs():
    spec = tiny_spec(CLS, "x", max_length=64, batch_size=8)
    full = estimate_training_memory(spec)
    n = full.total_parameters
    from workbench.core.model.parameters import count_parameters
    from workbench.core.training.model_setup import build_model

    assert n == count_parameters(build_model(spec, ["neg", "pos"]))[1]  # the real model's count
    assert full.weights == 4 * n and full.gradients == 4 * n and full.optimizer_states == 8 * n
    assert full.total == full.weights + full.gradients + full.optimizer_states + full.activations
    lora = estimate_training_memory(spec.replace(method="lora", lora_r=4))
    assert lora.trainable_parameters < 0.05 * n and lora.total < full.total
    ckpt = estimate_training_memory(spec.replace(gradient_checkpointing=True))
    assert ckpt.activations < full.activations
    assert estimate_training_memory(spec.replace(optimizer="sgd")).optimizer_states == 0
    assert full.fits and full.device_bytes
    huge = estimate_training_memory(spec.replace(batch_size=2_000_000))
    assert not huge.fits and "batch_size" in huge.warnings[0]


def test_bad_data_fails_before_training(tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model("bert"))
    spec = tiny_spec(CLS, tmp_path)
    with pytest.raises(TrainingDataError, match="no column 'words'"):
        prepare_data(spec.replace(text_column="words"), tok)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TrainingDataError, match="empty"):
        prepare_data(spec.replace(train_file=str(empty)), tok)
    unknown = tmp_path / "eval.csv"
    unknown.write_text("text,label\na fine day,meh\n")
    with pytest.raises(TrainingDataError, match="not in the training data: meh"):
        prepare_data(spec.replace(eval_file=str(unknown)), tok)
    with pytest.raises(TrainingDataError, match="unsupported"):
        prepare_data(spec.replace(train_file=str(tmp_path / "x.docx")), tok)


def test_preview_shows_rows_lengths_and_labels():
    from transformers import AutoTokenizer

    spec = tiny_spec(CLS, "x")
    preview = preview_data(spec, AutoTokenizer.from_pretrained(tiny_model("bert")), max_rows=5)
    assert preview.columns == ["text", "label"] and preview.num_rows == 64
    assert len(preview.rows) == 5 and preview.label_counts == {"neg": 32, "pos": 32}
    assert preview.token_length_counts.sum() == 64
    assert len(preview.token_length_edges) == len(preview.token_length_counts) + 1
    assert preview.truncated_fraction == 0.0 and not preview.warnings


def test_cli_json_events_prints_one_event_per_line(tmp_path, capsys):
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=2, eval_split=0.0)
    path = tmp_path / "spec.json"
    spec.save(path)
    assert main(["train", str(path), "--json-events"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    events = [TrainEvent.from_json(line) for line in lines]  # every stdout line is an event
    kinds = [e.kind for e in events]
    assert kinds[-1] == "finished" and "started" in kinds and kinds.count("log") == 2
    # A finished run cannot simply continue; --extend-epochs trains more in the same folder.
    assert main(["train", str(path), "--resume", str(tmp_path / "run")]) == 1
    assert "already reached step 2 of 2" in capsys.readouterr().err
    assert main(["train", str(path), "--resume", str(tmp_path / "run"), "--extend-epochs", "1",
                 "--json-events"]) == 0
    again = [TrainEvent.from_json(x) for x in capsys.readouterr().out.strip().splitlines()]
    # max_steps=2 plus one epoch of 64 rows / batch 8 = 8 more steps
    assert again[-1].kind == "finished" and again[-1].step == 10
    assert next(e for e in again if e.kind == "started").step == 2


def test_cli_bad_spec_exits_1_with_a_message(tmp_path, capsys):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"model_path": "m", "task": CLS, "train_file": "t.csv",
                                "learning_rate": -1}))
    assert main(["train", str(path), "--json"]) == 1
    assert "learning_rate" in json.loads(capsys.readouterr().out)["error"]
    spec = tiny_spec(CLS, tmp_path / "run", label_column="sentiment")
    spec.save(path)
    assert main(["train", str(path)]) == 1
    err = capsys.readouterr().err
    assert "no column 'sentiment'" in err and "Traceback" not in err
    assert data_file(CLS).is_file()


def test_an_unavailable_device_fails_before_training(tmp_path):
    import torch

    from workbench.core.errors import WorkbenchError
    from workbench.core.training.runner import run_training

    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    spec = tiny_spec(CLS, tmp_path / "run", device="cuda:7")
    with pytest.raises(WorkbenchError, match="cuda:7 is not available"):
        run_training(spec, lambda e: None)


def test_memory_plan_reports_unknown_activations_instead_of_bert_base(tmp_path):
    """An attention-free config (Mamba) has no head count: no silent 12-head guess."""
    import transformers

    folder = tmp_path / "mamba"
    transformers.MambaConfig(hidden_size=32, num_hidden_layers=2, vocab_size=30522,
                             state_size=4).save_pretrained(folder)
    spec = tiny_spec("causal-lm", tmp_path / "run", model_path=str(folder))
    plan = estimate_training_memory(spec)
    assert plan.activations is None
    assert any("Activation memory is unknown" in w for w in plan.warnings)
    assert plan.total == plan.weights + plan.gradients + plan.optimizer_states
    assert plan.to_json()["activations"] is None


def test_memory_plan_reads_sizes_through_the_family_aliases(tmp_path):
    """T5 names its sizes d_model/num_layers/num_heads; the plan scales with them."""
    small = estimate_training_memory(tiny_spec("seq2seq", tmp_path / "a", max_length=16))
    longer = estimate_training_memory(tiny_spec("seq2seq", tmp_path / "b", max_length=32))
    assert small.activations and longer.activations > 2 * small.activations - 1
