"""Evaluation of real tiny models trained a few steps, cross-checked against Trainer.evaluate."""

from __future__ import annotations

import csv
import json
import math
import threading

import numpy as np
import pytest

from tests.fixtures.training import Recorder, data_file, tiny_spec
from workbench.core.errors import CancelledError, TrainingDataError, WorkbenchError
from workbench.core.evaluate.metrics import as_entity_tags, generation_metrics
from workbench.core.evaluate.report import compare_reports, load_report, save_report
from workbench.core.evaluate.runner import evaluate
from workbench.core.training.evaluate import evaluate_model
from workbench.core.training.runner import run_training

TASKS = ["sequence-classification", "token-classification", "causal-lm", "masked-lm", "seq2seq"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{task: run folder} of one 3-step run per task, plus a LoRA classification run."""
    root = tmp_path_factory.mktemp("eval-runs")
    out = {}
    for task in TASKS:
        result = run_training(tiny_spec(task, root / task), Recorder())
        assert result.status == "finished", result.message
        out[task] = root / task
    result = run_training(tiny_spec("sequence-classification", root / "lora", method="lora"),
                          Recorder())
    assert result.status == "finished", result.message
    out["lora"] = root / "lora"
    return out


def _trainer_metrics(run, task: str) -> dict[str, float]:
    """The reference: transformers' Trainer.evaluate on the whole file in one batch."""
    spec = tiny_spec(task, run, eval_file=str(data_file(task)), batch_size=64)
    return evaluate_model(spec, run / "final")


def _model_loss(run, task: str) -> float:
    """The model's own loss on the whole file as one batch (the causal-LM reference).

    Trainer.evaluate is not the reference here: it divides the summed causal-LM loss by the
    number of labels before the shift (one more per row than tokens predicted), so its
    eval_loss is (T-1)/T of the model's own mean token loss.
    """
    import torch

    from workbench.core.model.loading import load_tokenizer
    from workbench.core.training.data import make_collator, prepare_data
    from workbench.core.training.evaluate import load_trained_model

    spec = tiny_spec(task, run, eval_file=str(data_file(task)))
    tokenizer = load_tokenizer(run / "final")
    data = prepare_data(spec, tokenizer)
    model = load_trained_model(run / "final", task)
    batch = make_collator(spec, tokenizer, model)([data.eval[i] for i in range(len(data.eval))])
    with torch.no_grad():
        return float(model(**batch).loss)


def test_causal_lm_loss_matches_the_model_loss(runs):
    task = "causal-lm"
    report = evaluate(runs[task], data_file(task), batch_size=64)
    loss = _model_loss(runs[task], task)
    assert report.metrics["loss"] == pytest.approx(loss, rel=1e-5)
    assert report.metrics["perplexity"] == pytest.approx(math.exp(loss), rel=1e-4)


@pytest.mark.parametrize("task", ["sequence-classification", "token-classification",
                                  "seq2seq"])
def test_loss_matches_trainer_evaluate(runs, task):
    report = evaluate(runs[task], data_file(task), batch_size=64)
    reference = _trainer_metrics(runs[task], task)
    assert report.num_examples == 64 and report.task == task
    assert report.metrics["loss"] == pytest.approx(reference["eval_loss"], rel=1e-4)
    if task == "sequence-classification":
        assert report.metrics["accuracy"] == pytest.approx(reference["eval_accuracy"])
        assert report.metrics["macro_f1"] == pytest.approx(reference["eval_f1"])
    if task == "token-classification":
        assert report.metrics["token_accuracy"] == pytest.approx(reference["eval_accuracy"])
    if task == "seq2seq":
        assert report.metrics["perplexity"] == pytest.approx(reference["perplexity"], rel=1e-3)


def test_batching_does_not_change_results(runs):
    task = "causal-lm"
    one = evaluate(runs[task], data_file(task), batch_size=64)
    small = evaluate(runs[task], data_file(task), batch_size=5)
    assert small.metrics["loss"] == pytest.approx(one.metrics["loss"], rel=1e-5)


def test_classification_report_is_consistent(runs):
    task = "sequence-classification"
    report = evaluate(runs[task], data_file(task), num_worst=5)
    assert report.labels == ["neg", "pos"]
    assert report.confusion.sum() == 64 and report.confusion.shape == (2, 2)
    assert np.trace(report.confusion) / 64 == pytest.approx(report.metrics["accuracy"])
    assert [r["support"] for r in report.per_class] == report.confusion.sum(1).tolist()
    scores = [w.score for w in report.worst]
    assert len(scores) == 5 and scores == sorted(scores)
    worst = report.worst[0]
    rows = list(csv.DictReader(data_file(task).open()))
    assert worst.text == rows[worst.index]["text"] and worst.expected == rows[worst.index]["label"]
    assert 0.5 <= worst.confidence <= 1.0
    if worst.score < 0.5:  # the gold label lost: the prediction is the other label
        assert worst.predicted != worst.expected


def test_token_classification_uses_entity_f1(runs):
    task = "token-classification"
    report = evaluate(runs[task], data_file(task))
    assert {"entity_f1", "entity_precision", "entity_recall"} <= set(report.metrics)
    assert [r["label"] for r in report.per_class] == ["ADJ"]
    assert as_entity_tags([["O", "ADJ"]]) == [["O", "B-ADJ"]]
    assert as_entity_tags([["B-PER", "I-PER"]]) == [["B-PER", "I-PER"]]


def test_masked_lm_is_deterministic(runs):
    task = "masked-lm"
    a = evaluate(runs[task], data_file(task))
    b = evaluate(runs[task], data_file(task))
    assert a.metrics["loss"] == b.metrics["loss"] and math.isfinite(a.metrics["loss"])
    assert a.metrics["perplexity"] == pytest.approx(math.exp(a.metrics["loss"]))


def test_seq2seq_generation_metrics(runs):
    task = "seq2seq"
    report = evaluate(runs[task], data_file(task), max_new_tokens=4)
    assert {"rouge1", "rouge2", "rougeL", "bleu", "chrf"} <= set(report.metrics)
    assert report.worst[0].expected in ("pos", "neg")
    perfect = generation_metrics(["a good day", "the cat"], ["a good day", "the cat"])
    assert perfect["rouge1"] == 1.0 and perfect["chrf"] == pytest.approx(100.0)
    assert generation_metrics(["x y z"], ["a b c"])["rouge1"] == 0.0


def test_lora_run_evaluates_and_reports_compare(runs, tmp_path):
    full = evaluate(runs["sequence-classification"], data_file("sequence-classification"))
    lora = evaluate(runs["lora"], data_file("sequence-classification"))
    assert lora.num_examples == 64
    a = save_report(full, tmp_path / "a.json")
    b = save_report(lora, runs["lora"])
    assert b == runs["lora"] / "evaluation.json"
    assert load_report(runs["lora"]).metrics == pytest.approx(lora.metrics)
    table = compare_reports([a, runs["lora"]])
    assert table["same_data"] and "accuracy" in table["columns"]
    assert [r["accuracy"] for r in table["rows"]] == [full.metrics["accuracy"],
                                                     lora.metrics["accuracy"]]
    lm = save_report(evaluate(runs["causal-lm"], data_file("causal-lm")), tmp_path / "lm.json")
    with pytest.raises(WorkbenchError, match="different tasks"):
        compare_reports([a, lm])


def test_bad_input_is_refused_before_loading(runs, tmp_path):
    run = runs["sequence-classification"]
    (run / "final" / "model.safetensors").rename(run / "final" / "hidden.safetensors")
    try:  # without weights, getting past the checks would fail to load the model
        with pytest.raises(TrainingDataError, match="no column 'sentence'"):
            evaluate(run, data_file("sequence-classification"), text_column="sentence")
        bad = tmp_path / "bad.csv"
        bad.write_text("text,label\na good day,pos\na strange day,maybe\n")
        with pytest.raises(TrainingDataError, match="does not know: maybe"):
            evaluate(run, bad)
    finally:
        (run / "final" / "hidden.safetensors").rename(run / "final" / "model.safetensors")
    import transformers

    from tests.fixtures.training import tiny_model

    base = tmp_path / "base"  # a bare encoder: no head says which task to evaluate
    transformers.BertModel.from_pretrained(tiny_model("bert")).save_pretrained(base)
    with pytest.raises(WorkbenchError, match="pass --task"):
        evaluate(base, data_file("sequence-classification"))


def test_cancel_stops_the_evaluation(runs):
    cancel = threading.Event()
    messages = []

    def progress(message: str) -> None:
        messages.append(message)
        if message.startswith("Evaluating"):
            cancel.set()

    with pytest.raises(CancelledError):
        evaluate(runs["causal-lm"], data_file("causal-lm"), batch_size=4, progress=progress,
                 cancel=cancel)
    assert not any(m.startswith("Evaluated") for m in messages)
    # The phase's start is reported however soon it follows "Tokenizing" (messages are
    # otherwise rate-limited), so a cancel can always land before the first batch.
    assert messages[-1].startswith("Evaluating: 0 of")


def test_cli_evaluate_saves_beside_the_run(runs, capsys):
    from workbench.cli import main

    run = runs["sequence-classification"]
    code = main(["evaluate", str(run), "--data", str(data_file("sequence-classification")),
                 "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["num_examples"] == 64 and len(data["confusion"]) == 2
    assert json.loads((run / "evaluation.json").read_text())["metrics"] == data["metrics"]
    assert main(["evaluate", "--compare", str(run), str(run), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["rows"]) == 2
    assert main(["evaluate", str(run), "--data", str(run / "missing.csv"), "--json"]) == 1
    assert "does not exist" in json.loads(capsys.readouterr().out)["error"]
