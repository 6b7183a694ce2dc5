"""Evaluate a chat-sft model: loss and perplexity on the assistant's tokens, the worst
conversations with the model's own answer beside the expected one.

The data goes through training's path (`core.training.chat_data`: format detection, the chat
template, assistant masks, max_length), without packing: each conversation is scored alone.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from workbench.core.errors import TrainingDataError
from workbench.core.evaluate import metrics as m
from workbench.core.evaluate.report import EvalReport, WorstExample
from workbench.core.progress import Reporter


def evaluate_chat(target: Any, spec: Any, tokenizer: Any, model: Any, *, max_rows: int | None,
                  num_worst: int, max_new_tokens: int, report: Reporter) -> EvalReport:
    """The EvalReport of a chat model on `spec.train_file` (a chat-sft data file)."""
    import dataclasses

    import datasets

    from workbench.core.training.chat_data import labels_for, load_chat_rows
    from workbench.core.training.chat_templates import resolve_template

    spec = dataclasses.replace(spec, packing=False)
    report.step("Reading the conversations", force=True)
    template, _name = resolve_template(tokenizer, spec.chat_template)
    tokenizer.chat_template = template
    rows = load_chat_rows(spec.train_file, tokenizer, template)
    count = len(rows.messages) if max_rows is None else min(max_rows, len(rows.messages))
    pairs = [labels_for(rows.input_ids[i], rows.masks[i], spec.max_length) for i in range(count)]
    kept = [i for i, (_ids, labels) in enumerate(pairs) if any(t != -100 for t in labels)]
    if not kept:
        raise TrainingDataError(f"No conversation of {rows.name} keeps an answer token within "
                                f"max_length {spec.max_length}; raise max_length.")
    encoded = datasets.Dataset.from_dict({"input_ids": [pairs[i][0] for i in kept],
                                          "labels": [pairs[i][1] for i in kept]})
    from workbench.core.evaluate.runner import _run_batches

    started = time.perf_counter()
    out = _run_batches(model, tokenizer, spec, encoded, report)
    loss = float(out["loss_sum"].sum() / max(out["tokens"].sum(), 1))
    example_loss = out["loss_sum"] / np.maximum(out["tokens"], 1)
    worst = []
    order = np.argsort(-example_loss, kind="stable")[:num_worst]
    for n, j in enumerate(order):
        report.step(f"Answering the worst conversations: {n} of {len(order)}")
        row = kept[int(j)]
        messages = rows.messages[row]
        last = max(k for k, msg in enumerate(messages) if msg["role"] == "assistant")
        prompt = messages[:last]
        user = next((msg["content"] for msg in reversed(prompt) if msg["role"] == "user"), "")
        worst.append(WorstExample(row, user[:500], messages[last]["content"],
                                  _answer(model, tokenizer, prompt, max_new_tokens),
                                  math.exp(-float(example_loss[j])), float(example_loss[j])))
    seconds = time.perf_counter() - started
    return EvalReport(str(target.run_dir or target.model_dir), str(spec.train_file), spec.task,
                      len(kept), {"loss": loss, "perplexity": m.perplexity(loss)}, worst=worst,
                      seconds=seconds)


def _answer(model: Any, tokenizer: Any, prompt: list[dict], max_new_tokens: int) -> str:
    """The model's greedy answer to the conversation `prompt` (up to the expected answer)."""
    import torch

    from workbench.core.chat.local import context_length, render_prompt

    if not prompt:
        return ""
    context = context_length(model, tokenizer)
    ids, _notes = render_prompt(tokenizer, prompt,
                                None if context is None else context - max_new_tokens)
    input_ids = torch.tensor([ids], device=model.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else \
        tokenizer.eos_token_id
    with torch.inference_mode():
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                             max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
    return tokenizer.decode(out[0, input_ids.shape[1]:], skip_special_tokens=True).strip()
