"""Answers from a question-answering model: the best span over all windows of an example,
mapped back to the exact characters of its context; EM/F1 at evaluation; the "try it" answer.

The post-processing of the transformers question-answering example (postprocess_qa_predictions):
for each window, the n_best highest start and end logits are paired; pairs outside the context,
reversed or longer than MAX_ANSWER_TOKENS are dropped; the pair with the highest start + end
logit over all windows of the example wins, and its text is the context between the start
token's first character and the end token's last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.errors import WorkbenchError
from workbench.core.training.squad_metric import squad_scores

N_BEST = 20  # start and end candidates per window, as in the transformers example
MAX_ANSWER_TOKENS = 30  # longest answer considered, in tokens


@dataclass(frozen=True)
class QAAnswer:
    """A predicted answer: its text, its characters [start, end) in the context, and a score
    (probability of the start and end tokens within their window; 0 when nothing fits)."""

    text: str
    start: int
    end: int
    score: float


def best_answer(context: str, start_logits: list, end_logits: list, offsets: list,
                n_best: int = N_BEST, max_answer_tokens: int = MAX_ANSWER_TOKENS) -> QAAnswer:
    """The best span over one example's windows (logits and offsets given per window).

    offsets[w][t] is the (start, end) characters of token t of window w in the context, or
    None for tokens outside the context; logits past len(offsets[w]) (padding) are ignored.
    """
    best: tuple[float, int, int, int] | None = None  # (logit sum, window, start, end token)
    for w, (starts, ends, spans) in enumerate(zip(start_logits, end_logits, offsets,
                                                  strict=True)):
        starts, ends = np.asarray(starts)[:len(spans)], np.asarray(ends)[:len(spans)]
        for s in np.argsort(-starts, kind="stable")[:n_best]:
            if spans[s] is None:
                continue
            for e in np.argsort(-ends, kind="stable")[:n_best]:
                if spans[e] is None or e < s or e - s + 1 > max_answer_tokens:
                    continue
                score = float(starts[s] + ends[e])
                if best is None or score > best[0]:
                    best = (score, w, int(s), int(e))
    if best is None:
        return QAAnswer("", 0, 0, 0.0)
    _, w, s, e = best
    begin, finish = offsets[w][s][0], offsets[w][e][1]
    return QAAnswer(context[begin:finish], begin, finish,
                    _span_probability(start_logits[w], end_logits[w], offsets[w], s, e))


def _span_probability(start_logits: Any, end_logits: Any, spans: list, s: int, e: int) -> float:
    """p(start) * p(end), each a softmax over the window's context tokens."""
    inside = np.array([span is not None for span in spans])

    def softmax_at(logits: Any, i: int) -> float:
        x = np.asarray(logits, dtype=np.float64)[:len(spans)][inside]
        x = np.exp(x - x.max())
        return float(x[int(inside[:i].sum())] / x.sum())

    return softmax_at(start_logits, s) * softmax_at(end_logits, e)


def predict_answers(qa_eval: Any, start_logits: Any, end_logits: Any) -> list[QAAnswer]:
    """One answer per example of a QAEvalSet from the logits of its features (in order)."""
    answers = []
    for example, features in zip(qa_eval.examples, qa_eval.features_of(), strict=True):
        answers.append(best_answer(example.context, [start_logits[f] for f in features],
                                   [end_logits[f] for f in features],
                                   [qa_eval.offsets[f] for f in features]))
    return answers


def qa_metrics_functions(qa_eval: Any):
    """(compute_metrics, None) for Trainer: exact match and F1 over the eval examples.

    Trainer evaluates the features (windows) in order; the answers are post-processed over
    all windows of each example before scoring, so a long context split with a stride counts
    once, with its best window's answer.
    """
    if qa_eval is None:
        return None, None

    def compute(eval_pred: Any) -> dict[str, float]:
        start_logits, end_logits = eval_pred.predictions[:2]  # (features, T) each, -100 padded
        answers = predict_answers(qa_eval, start_logits, end_logits)
        return squad_scores([a.text for a in answers], [e.answers for e in qa_eval.examples])

    return compute, None


def answer_question(run_dir: str | Path, question: str, context: str) -> QAAnswer:
    """The trained model of `run_dir` answers `question` from `context` (the "try it" box)."""
    import torch

    from workbench.core.model.loading import load_tokenizer
    from workbench.core.training.evaluate import _model_dir, load_trained_model
    from workbench.core.training.runs import load_run_spec
    from workbench.core.training.tasks import Task

    folder, task = _model_dir(run_dir)
    if task != Task.QUESTION_ANSWERING:
        raise WorkbenchError(f"This run trained {task}, not question answering.")
    if not question.strip() or not context.strip():
        raise WorkbenchError("Type a question and the passage (context) that holds its answer.")
    spec = load_run_spec(run_dir)
    tokenizer = load_tokenizer(folder)
    model = load_trained_model(folder, task).eval()
    from workbench.core.training.qa_data import QAExample, check_fits, tokenize_features

    example = QAExample(1, question.strip(), context, ("",), (0,))
    check_fits([example], spec, tokenizer, "The question")
    columns, mapping = tokenize_features([example], spec, tokenizer, keep_offsets=True)
    inputs = tokenizer.pad({k: v for k, v in columns.items()
                            if k in ("input_ids", "attention_mask", "token_type_ids")},
                           return_tensors="pt")  # (windows, T): the last window is shorter
    with torch.inference_mode():
        out = model(**inputs)
    # .numpy() on CPU tensors: the model runs on the CPU here
    return predict_answers(mapping, out.start_logits.float().numpy(),
                           out.end_logits.float().numpy())[0]
