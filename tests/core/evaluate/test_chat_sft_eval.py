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
