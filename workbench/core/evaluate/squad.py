"""`workbench evaluate` for question answering: exact match, F1 and loss over a SQuAD-style
file, with the worst answered questions. Windows, answers and scores come from the training
code (core/training/qa_data, qa_answers, squad_metric), so evaluation and training agree."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.evaluate.report import EvalReport, WorstExample
from workbench.core.progress import Reporter
from workbench.core.training.spec import TrainSpec


def evaluate_qa(target: Any, spec: TrainSpec, table: Any, tokenizer: Any, model: Any,
                num_worst: int, report: Reporter) -> EvalReport:
    """EM/F1 (percent) and mean loss of `model` on the rows of `table`."""
    import torch

    from workbench.core.training.data import make_collator
    from workbench.core.training.qa_answers import predict_answers
    from workbench.core.training.qa_data import check_fits, read_examples, tokenize_features
    from workbench.core.training.squad_metric import best_scores, squad_scores

    name = Path(spec.train_file).name
    examples = read_examples(table, spec, name)
    check_fits(examples, spec, tokenizer, name)
    report.step("Tokenizing", force=True)
    columns, mapping = tokenize_features(examples, spec, tokenizer, keep_offsets=True)
    features = [{k: v[i] for k, v in columns.items()} for i in range(len(columns["input_ids"]))]
    collate = make_collator(spec, tokenizer, model)
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    loss_sum = 0.0
    started = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(features), spec.batch_size):
            report.step(f"Evaluating: {first} of {len(features)} windows", force=not first)
            batch = collate(features[first:first + spec.batch_size])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            out = model(**batch)
            # .cpu(): one sync per batch
            loss_sum += float(out.loss) * len(batch["input_ids"])
            starts += list(out.start_logits.float().cpu().numpy())  # (B, T) -> B rows
            ends += list(out.end_logits.float().cpu().numpy())
    seconds = time.perf_counter() - started
    report.step("Scoring", force=True)
    answers = predict_answers(mapping, starts, ends)
    golds = [e.answers for e in examples]
    metrics = squad_scores([a.text for a in answers], golds)
    metrics["loss"] = loss_sum / max(len(features), 1)
    f1s = np.array([best_scores(a.text, g)[1] for a, g in zip(answers, golds, strict=True)])
    worst = [WorstExample(examples[i].row - 1, examples[i].question[:500],
                          " | ".join(golds[i]), answers[i].text, answers[i].score,
                          float(f1s[i]))
             for i in np.argsort(f1s, kind="stable")[:num_worst]]
    return EvalReport(str(target.run_dir or target.model_dir), str(spec.train_file), spec.task,
                      len(examples), metrics, worst=worst, seconds=seconds)
