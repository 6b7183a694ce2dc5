"""Evaluating a chat-sft model: loss and perplexity on the assistant tokens only, through the
same data path as training (chat template, masks, truncation), packing or not."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tests.fixtures.chat import chat_spec
from workbench.core.training.evaluate import evaluate_model


def _assistant_token_loss(spec) -> tuple[float, int]:
    """Token-mean next-token loss over the labelled (assistant) tokens of the eval rows, by
    hand: one unpadded forward per row."""
    import torch

    from workbench.core.model.loading import load_tokenizer
    from workbench.core.training.chat_data import prepare_chat_data
    from workbench.core.training.evaluate import load_trained_model

    tokenizer = load_tokenizer(spec.model_path)
    data = prepare_chat_data(dataclasses.replace(spec, packing=False), tokenizer)
    model = load_trained_model(spec.model_path, "chat-sft").eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for row in data.eval:
            ids = torch.tensor([row["input_ids"]])
            labels = torch.tensor(row["labels"])
            logits = model(input_ids=ids).logits[0, :-1]  # (T-1, vocab)
            target = labels[1:]
            total += float(torch.nn.functional.cross_entropy(
                logits, target, ignore_index=-100, reduction="sum"))
            count += int((target != -100).sum())
    return total / count, len(data.eval)


@pytest.mark.parametrize("packing", [False, True])
def test_evaluate_model_scores_the_assistant_tokens(tmp_path, packing):
    # eval batch = 2 x batch_size holds every eval row: Trainer's loss is then the token mean
    spec = chat_spec(tmp_path / "run", packing=packing, batch_size=16)
    metrics = evaluate_model(spec, spec.model_path)
    expected, rows = _assistant_token_loss(spec)
    assert rows >= 2
    assert metrics["eval_loss"] == pytest.approx(expected, rel=1e-4)
    assert metrics["perplexity"] == pytest.approx(math.exp(expected), rel=1e-4)


def test_evaluate_scores_conversations_and_answers_the_worst(tmp_path):
    """`evaluate` (the Evaluate view, `workbench evaluate`) on a chat model and a chat file:
    the same assistant-token loss as by hand over every row, the worst rows with the expected
    answer from the file and the model's own answer."""
    import json

    from tests.fixtures.chat import demo_file, tiny_chat_model
    from workbench.core.evaluate.runner import evaluate

    spec = chat_spec(tmp_path / "run", eval_split=0.0, eval_file=str(demo_file("messages")))
    expected, rows = _assistant_token_loss(spec)
    report = evaluate(tiny_chat_model(), demo_file("messages"), task="chat-sft", batch_size=3,
                      num_worst=3, max_new_tokens=4, max_length=spec.max_length)
    assert report.task == "chat-sft" and report.num_examples == rows
    assert report.metrics["loss"] == pytest.approx(expected, rel=1e-4)
    assert report.metrics["perplexity"] == pytest.approx(math.exp(expected), rel=1e-4)
    lines = demo_file("messages").read_text().splitlines()
    assert len(report.worst) == 3
    scores = [w.score for w in report.worst]
    assert scores == sorted(scores, reverse=True)  # the highest loss first
    for w in report.worst:
        messages = json.loads(lines[w.index])["messages"]
        assistant = [m["content"] for m in messages if m["role"] == "assistant"]
        assert w.expected == assistant[-1]
        assert w.text in [m["content"] for m in messages if m["role"] == "user"]
        assert isinstance(w.predicted, str)
    assert report.to_json()["task"] == "chat-sft"
