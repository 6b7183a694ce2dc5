"""Extractive question answering: SQuAD metric, windows with a stride mapped back to the exact
characters, bad rows named before training, and real runs (MiniLM, resume, LoRA, evaluate)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.training import Recorder, tiny_model
from workbench.core.errors import TrainingDataError, WorkbenchError
from workbench.core.training.qa_answers import answer_question, best_answer
from workbench.core.training.qa_data import (
    QAExample,
    check_fits,
    load_qa_splits,
    tokenize_features,
)
from workbench.core.training.runner import TrainControl, run_training
from workbench.core.training.runs import load_run_metrics
from workbench.core.training.spec import TrainSpec, demo_data_dir
from workbench.core.training.squad_metric import (
    exact_match,
    f1,
    normalize_answer,
    squad_scores,
)

QA = "question-answering"


# -- the metric --------------------------------------------------------------------------------
def test_squad_normalisation_and_scores_match_the_official_script():
    # Values worked by hand under the SQuAD v1.1 evaluate script's rules.
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("An apple, a day.") == "apple day"
    assert normalize_answer("theater") == "theater"  # articles are whole words only
    assert exact_match("the Denver Broncos", "Denver Broncos") == 1.0
    assert exact_match("Santa Clara, California", "Santa Clara California") == 1.0
    assert exact_match("Broncos", "Denver Broncos") == 0.0
    assert f1("Broncos", "Denver Broncos") == pytest.approx(2 / 3)  # P 1, R 1/2
    assert f1("Denver Broncos won", "Denver Broncos") == pytest.approx(0.8)  # P 2/3, R 1
    assert f1("the the cat cat", "cat") == pytest.approx(2 / 3)  # "cat cat": P 1/2, R 1
    assert f1("Carolina Panthers", "Denver Broncos") == 0.0
    scores = squad_scores(["Denver Broncos won", "Broncos", "1874"],
                          [["Broncos", "Denver Broncos"], ["Denver Broncos"], ["in 1874"]])
    # EM: 0, 0, 0; F1: max(0.5, 0.8), 2/3, 2/3 -> mean 0.7111
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(100 * (0.8 + 2 / 3 + 2 / 3) / 3)
    assert squad_scores(["Paris", "x"], [["paris"], ["y"]]) == {"exact_match": 50.0, "f1": 50.0}


# -- windows and answers -----------------------------------------------------------------------
def _spec(tmp_path: Path, **changes) -> TrainSpec:
    base = dict(model_path=str(tiny_model("bert")), task=QA,
                train_file=str(demo_data_dir() / "qa_train.jsonl"),
                eval_file=str(demo_data_dir() / "qa_eval.jsonl"), max_length=64,
                doc_stride=16, batch_size=8, max_steps=3, logging_steps=1,
                learning_rate=1e-3, output_dir=str(tmp_path / "run"))
    base.update(changes)
    return TrainSpec(**base)


def test_a_long_context_is_split_with_a_stride_and_the_answer_maps_back_exactly(
        tmp_path, minilm_path):
    from workbench.core.model.loading import load_tokenizer

    tokenizer = load_tokenizer(minilm_path)
    filler = " ".join(f"Sentence number {i} talks about nothing in particular." for i in range(8))
    answer = "the blue harbour crane"
    context = f"{filler} The tallest machine on the quay is {answer}, built in 1931. {filler}"
    start = context.index(answer)
    example = QAExample(1, "What is the tallest machine on the quay?", context, (answer,),
                        (start,))
    spec = _spec(tmp_path, max_length=48, doc_stride=16)
    check_fits([example], spec, tokenizer, "t")
    columns, mapping = tokenize_features([example], spec, tokenizer, keep_offsets=True)
    windows = len(columns["input_ids"])
    assert windows >= 4 and mapping.feature_example == [0] * windows
    holding = [w for w in range(windows) if columns["start_positions"][w] != 0]
    assert holding and holding[0] >= 1  # the first window does not hold the answer: CLS (0)
    assert columns["start_positions"][0] == columns["end_positions"][0] == 0
    for w in holding:  # the labelled tokens cover exactly the answer's characters
        s, e = columns["start_positions"][w], columns["end_positions"][w]
        spans = mapping.offsets[w]
        assert context[spans[s][0]:spans[e][1]] == answer
    # Logits that point at the answer in its first window, and higher ones on question
    # tokens (no context offsets: never an answer) and on a reversed pair elsewhere.
    w = holding[0]
    length = len(columns["input_ids"][w])
    starts = [np.full(len(columns["input_ids"][k]), -5.0) for k in range(windows)]
    ends = [np.full(len(columns["input_ids"][k]), -5.0) for k in range(windows)]
    starts[w][columns["start_positions"][w]] = 4.0
    ends[w][columns["end_positions"][w]] = 4.0
    starts[0][1], ends[0][2] = 9.0, 9.0  # question tokens
    starts[0][-2], ends[0][-3] = 8.0, 8.0  # end before start
    found = best_answer(context, starts, ends, mapping.offsets)
    assert (found.text, found.start, found.end) == (answer, start, start + len(answer))
    assert 0.0 < found.score <= 1.0 and length > 0


# -- bad rows ----------------------------------------------------------------------------------
def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


GOOD = {"question": "Who lit it?", "context": "Agnes lit it.",
        "answers": {"text": ["Agnes"], "answer_start": [0]}}


@pytest.mark.parametrize(("row", "message"), [
    ({"question": "Who?", "context": "Agnes lit it.", "answer": "Agnes"},
     r"bad.jsonl has no column 'answers' \(setting answers_column\) \(or the two flat"),
    (dict(GOOD, answers={"text": ["Agnes"], "answer_start": [3]}),
     r"row 2, answer 1: 'Agnes' is not at answer_start 3 .*first appears at 0"),
    (dict(GOOD, answers={"text": ["Bob"], "answer_start": [0]}),
     r"row 2, answer 1: .*does not appear in the context at all"),
    (dict(GOOD, answers={"text": [" "], "answer_start": [0]}), r"row 2: answer 1 is empty"),
    (dict(GOOD, answers={"text": [], "answer_start": []}),
     r"row 2 has no answer \(an unanswerable question"),
    (dict(GOOD, context=""), r"row 2 has an empty context"),
    (dict(GOOD, answers={"text": ["Agnes"], "answer_start": [-1]}),
     r"row 2: answer 1 has answer_start -1"),
    (dict(GOOD, answers="Agnes"), r"row 2: the answers cell is not JSON"),
])
def test_bad_rows_are_named_before_training(tmp_path, row, message):
    path = _jsonl(tmp_path / "bad.jsonl", [GOOD, row] if "answers" in row else [row])
    spec = _spec(tmp_path, train_file=str(path), eval_file=None)
    rec = Recorder()
    with pytest.raises(TrainingDataError, match=message):
        run_training(spec, rec)
    assert not any("loading model" in e.message for e in rec.events)  # refused before it


def test_flat_csv_columns_and_json_cells_are_read(tmp_path):
    path = tmp_path / "flat.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question", "context", "answer_text", "answer_start"])
        writer.writerow(["Who lit it?", "Agnes lit it.", "Agnes", 0])
        writer.writerow(["What did she do?", "Agnes lit it.", "lit it", 6])
    train, _ = load_qa_splits(_spec(tmp_path, train_file=str(path), eval_file=None,
                                    eval_split=0.0))
    assert [(e.answers, e.starts) for e in train] == [(("Agnes",), (0,)), (("lit it",), (6,))]
    spaced = _jsonl(tmp_path / "spaced.jsonl", [dict(GOOD, answers={"text": [" lit"],
                                                                    "answer_start": [5]})])
    train, _ = load_qa_splits(_spec(tmp_path, train_file=str(spaced), eval_file=None,
                                    eval_split=0.0))
    assert (train[0].answers, train[0].starts) == (("lit",), (6,))  # spaces trimmed
    cells = tmp_path / "cells.csv"
    with cells.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question", "context", "answers"])
        writer.writerow(["Who?", "Agnes lit it.", json.dumps([{"text": "Agnes",
                                                                "answer_start": 0}])])
    train, _ = load_qa_splits(_spec(tmp_path, train_file=str(cells), eval_file=None,
                                    eval_split=0.0))
    assert train[0].answers == ("Agnes",) and train[0].row == 1


def test_long_contexts_without_a_stride_and_crowding_questions_are_refused(tmp_path,
                                                                            minilm_path):
    from workbench.core.model.loading import load_tokenizer

    tokenizer = load_tokenizer(minilm_path)
    long = QAExample(7, "Who?", "word " * 200 + "Agnes", ("Agnes",), (1000,))
    with pytest.raises(TrainingDataError, match=r"t row 7: its question and context take "
                                                r"\d+ tokens, more than max_length 64 .*"
                                                r"Set doc_stride"):
        check_fits([long], _spec(tmp_path, doc_stride=0), tokenizer, "t")
    check_fits([long], _spec(tmp_path, doc_stride=16), tokenizer, "t")  # split: fits
    wordy = QAExample(3, "why " * 50, "Agnes", ("Agnes",), (0,))
    with pytest.raises(TrainingDataError, match=r"row 3: its question takes 50 tokens"):
        check_fits([wordy], _spec(tmp_path, doc_stride=16), tokenizer, "t")
    with pytest.raises(WorkbenchError, match="doc_stride"):
        _spec(tmp_path, doc_stride=64)
    with pytest.raises(TrainingDataError, match=r"max_length 1024 is more than this model "
                                                r"reads \(512 tokens\)"):
        check_fits([long], _spec(tmp_path, max_length=1024, doc_stride=128), tokenizer, "t")


# -- real runs ---------------------------------------------------------------------------------
def test_minilm_trains_a_few_steps_and_reports_exact_match_and_f1(tmp_path, minilm_path):
    spec = _spec(tmp_path, model_path=str(minilm_path), max_length=64, doc_stride=16,
                 max_steps=2, batch_size=4, learning_rate=1e-4)
    rec = Recorder()
    result = run_training(spec, rec)
    assert result.status == "finished", result.message
    for key in ("eval_loss", "eval_exact_match", "eval_f1"):
        assert np.isfinite(result.metrics[key])
    assert 0.0 <= result.metrics["eval_exact_match"] <= result.metrics["eval_f1"] <= 100.0
    logged = [e for e in load_run_metrics(result.run_dir) if e.kind == "eval"]
    assert logged and "eval_f1" in logged[-1].metrics  # metrics.jsonl has them too
    answer = answer_question(result.run_dir, "Who first lit the lamp?",
                             "Its lamp was first lit by keeper Agnes Morrow in 1874.")
    context = "Its lamp was first lit by keeper Agnes Morrow in 1874."
    assert answer.text == context[answer.start:answer.end] and answer.text


def test_a_cancelled_run_resumes_from_its_checkpoint(tmp_path):
    spec = _spec(tmp_path, max_steps=4, save_steps=2, eval_steps=1000)
    control = TrainControl()
    first = Recorder(lambda e: control.cancel() if e.kind == "log" and e.step == 3 else None)
    assert run_training(spec, first, control).status == "cancelled"
    second = Recorder()
    resumed = run_training(spec, second, resume_from=spec.output_dir)
    assert resumed.status == "finished", resumed.message
    assert sorted(second.losses()) == [3, 4]
    assert np.isfinite(resumed.metrics["eval_f1"])


def test_lora_trains_saves_an_adapter_and_evaluates(tmp_path):
    from workbench.core.evaluate.runner import evaluate

    spec = _spec(tmp_path, method="lora", max_steps=2, lora_r=4)
    result = run_training(spec, Recorder())
    assert result.status == "finished", result.message
    final = Path(result.final_model_dir)
    assert (final / "adapter_config.json").is_file()
    assert json.loads((final / "adapter_config.json").read_text())["task_type"] == "QUESTION_ANS"
    report = evaluate(result.run_dir, demo_data_dir() / "qa_eval.jsonl")
    assert report.task == QA and report.num_examples == 12
    assert report.metrics["exact_match"] == pytest.approx(result.metrics["eval_exact_match"])
    assert report.metrics["f1"] == pytest.approx(result.metrics["eval_f1"])
    assert len(report.worst) == 10 and report.worst[0].score <= report.worst[-1].score
    # The adapter folder alone (task from its peft task type), flat and renamed columns.
    rows = [json.loads(line) for line in (demo_data_dir() / "qa_eval.jsonl").open()]
    renamed = _jsonl(tmp_path / "renamed.jsonl", [
        {"q": r["question"], "passage": r["context"], "answer_text": r["answers"]["text"][0],
         "answer_start": r["answers"]["answer_start"][0]} for r in rows])
    again = evaluate(final, renamed, max_length=64,
                     qa={"question_column": "q", "context_column": "passage", "doc_stride": 16})
    assert again.task == QA and again.metrics["f1"] == pytest.approx(report.metrics["f1"])
