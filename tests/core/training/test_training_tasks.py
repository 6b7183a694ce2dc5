"""Each task trains a tiny real model a few steps on CPU from a data file, with ordered events."""

from __future__ import annotations

import json
import math

import pytest

from tests.fixtures.training import Recorder, tiny_spec
from workbench.core.training.evaluate import try_model
from workbench.core.training.events import EVENT_KINDS, TrainEvent
from workbench.core.training.runner import run_training
from workbench.core.training.runs import list_runs, load_run_metrics, read_run

TASKS = ["sequence-classification", "token-classification", "causal-lm", "masked-lm", "seq2seq"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """{task: (RunResult, Recorder)} for one short run per task (shared by the tests below)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for task in TASKS:
        rec = Recorder()
        out[task] = (run_training(tiny_spec(task, root / task), rec), rec)
    return out


@pytest.mark.parametrize("task", TASKS)
def test_task_trains_and_saves_a_final_model(trained, task):
    result, rec = trained[task]
    assert result.status == "finished", result.message
    final = rec.events[-1]
    assert final.kind == "finished" and final.step == 3 and final.max_steps == 3
    files = {p.name for p in (__import__("pathlib").Path(result.final_model_dir)).iterdir()}
    assert "model.safetensors" in files and "config.json" in files and "tokenizer.json" in files
    assert "eval_loss" in result.metrics and math.isfinite(result.metrics["eval_loss"])
    if task in ("sequence-classification", "token-classification"):
        assert 0.0 <= result.metrics["eval_accuracy"] <= 1.0
        assert 0.0 <= result.metrics["eval_f1"] <= 1.0
    else:
        assert result.metrics["perplexity"] == pytest.approx(math.exp(result.metrics["eval_loss"]))


@pytest.mark.parametrize("task", TASKS)
def test_events_arrive_in_order_with_the_schema(trained, task):
    _, rec = trained[task]
    kinds = rec.kinds()
    assert set(kinds) <= set(EVENT_KINDS)
    first_started = kinds.index("started")
    assert all(k == "status" for k in kinds[:first_started])
    assert kinds[-1] == "finished" and kinds.count("finished") == 1
    logs = [e for e in rec.events if e.kind == "log"]
    assert [e.step for e in logs] == [1, 2, 3]  # logging_steps=1: one event per step, no more
    for e in logs:
        assert {"loss", "learning_rate", "grad_norm", "memory_mb"} <= set(e.metrics)
        assert e.max_steps == 3 and 0 < e.epoch
    assert {"samples_per_s", "tokens_per_s"} <= set(logs[-1].metrics)
    if task == "sequence-classification":
        # Toy rows are ~10 tokens long: tokens per sample must be in that range, not padded,
        # at every logged step including the last (batches are counted when trained on).
        for e in logs[1:]:
            per_sample = e.metrics["tokens_per_s"] / e.metrics["samples_per_s"]
            assert 5 < per_sample < 20, (e.step, per_sample)
    times = [e.time for e in rec.events]
    assert times == sorted(times)
    steps = [e.step for e in rec.events]
    assert steps == sorted(steps)
    assert "eval" in kinds and "checkpoint" in kinds
    for e in rec.events:  # every event survives the JSON round trip used by CLI and files
        assert TrainEvent.from_json(json.loads(e.to_json())).kind == e.kind


@pytest.mark.parametrize("task", TASKS)
def test_metrics_file_records_what_was_emitted(trained, task):
    result, rec = trained[task]
    reloaded = load_run_metrics(result.run_dir)
    assert [e.to_json() for e in reloaded] == [e.to_json() for e in rec.events]
    info = read_run(result.run_dir)
    assert info.status == "finished" and info.step == 3 and info.task == task
    assert info.final_model_dir == result.final_model_dir
    assert [c.rsplit("-", 1)[1] for c in info.checkpoints] == ["3"]


def test_list_runs_finds_every_run(trained):
    root = __import__("pathlib").Path(trained[TASKS[0]][0].run_dir).parent
    runs = list_runs(root)
    assert sorted(r.task for r in runs) == sorted(TASKS)


@pytest.mark.parametrize(("task", "text"), [
    ("sequence-classification", "a good day"),
    ("token-classification", "a good day"),
    ("masked-lm", "a [MASK] day"),
    ("causal-lm", "a good"),
    ("seq2seq", "a good day"),
])
def test_try_model_runs_the_trained_model(trained, task, text):
    result, _ = trained[task]
    answer = try_model(result.run_dir, text, max_new_tokens=3)
    assert answer.task == task
    if task == "sequence-classification":
        assert {label for label, _ in answer.scores} == {"neg", "pos"}
        assert sum(p for _, p in answer.scores) == pytest.approx(1.0, abs=1e-5)
    elif task == "token-classification":
        assert [t.split("/")[0] for t in answer.text.split()] == text.split()
        assert all(t.split("/")[1] in ("ADJ", "O") for t in answer.text.split())
    elif task == "masked-lm":
        assert len(answer.scores) == 5 and "[MASK]" not in answer.text
    else:
        assert isinstance(answer.text, str)


@pytest.mark.parametrize("task", ["sequence-classification", "causal-lm"])
def test_evaluate_on_demand_matches_the_end_of_training(trained, task):
    from workbench.core.training.evaluate import evaluate_run

    result, _ = trained[task]
    metrics = evaluate_run(result.run_dir)
    # Same held-out split (seeded) and the saved final weights: the same numbers.
    assert metrics["eval_loss"] == pytest.approx(result.metrics["eval_loss"], rel=1e-4)
    key = "eval_accuracy" if task == "sequence-classification" else "perplexity"
    assert metrics[key] == pytest.approx(result.metrics[key], rel=1e-4)


def test_try_model_explains_bad_input(trained, tmp_path):
    from workbench.core.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match=r"\[MASK\]"):
        try_model(trained["masked-lm"][0].run_dir, "no mask here")
    with pytest.raises(WorkbenchError, match="not a run folder"):
        try_model(tmp_path, "text")
