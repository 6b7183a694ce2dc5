"""Task metrics from predictions, computed with scikit-learn, seqeval, rouge-score, sacrebleu.

`evaluate.load(...)` is not used: it downloads each metric's code from the Hub at run time, which
fails offline. These libraries are the same implementations, called directly.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np

from workbench.core.errors import MissingDependencyError

_IOB = re.compile(r"^[BIESLU]-.+")


def _require(module: str, package: str) -> None:
    """Raise a clear error when an optional metric library is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"This metric needs {package}: pip install 'transformer-workbench[evaluate]' "
            f"(or pip install {package}).")


def classification_metrics(preds: np.ndarray, gold: np.ndarray,
                           label_names: list[str]) -> tuple[dict[str, float], list[dict], Any]:
    """(accuracy + macro/micro/weighted F1, per-class P/R/F1 rows, confusion matrix)."""
    _require("sklearn", "scikit-learn")
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    labels = list(range(len(label_names)))
    metrics = {"accuracy": float(accuracy_score(gold, preds))}
    for average in ("macro", "micro", "weighted"):
        metrics[f"{average}_f1"] = float(f1_score(gold, preds, labels=labels, average=average,
                                                  zero_division=0))
    p, r, f, s = precision_recall_fscore_support(gold, preds, labels=labels, zero_division=0)
    per_class = [{"label": name, "precision": float(p[i]), "recall": float(r[i]),
                  "f1": float(f[i]), "support": int(s[i])} for i, name in enumerate(label_names)]
    confusion = confusion_matrix(gold, preds, labels=labels)  # (gold, predicted)
    return metrics, per_class, confusion


def as_entity_tags(sequences: list[list[str]]) -> list[list[str]]:
    """Tags seqeval can read: IOB tags as they are, plain tags ("ADJ") as one-token entities.

    seqeval reads the first letter of any tag as its IOB prefix, so a plain "ADJ" would become
    an entity of type "DJ"; with no IOB tags in the data, each tagged word is its own entity.
    """
    tags = {t for seq in sequences for t in seq if t != "O"}
    if all(_IOB.match(t) for t in tags):
        return sequences
    return [[t if t == "O" else f"B-{t}" for t in seq] for seq in sequences]


def entity_metrics(pred_tags: list[list[str]],
                   gold_tags: list[list[str]]) -> tuple[dict[str, float], list[dict]]:
    """Entity-level precision/recall/F1 (seqeval) and token accuracy; per-entity-type rows."""
    _require("seqeval", "seqeval")
    from seqeval.metrics import classification_report

    gold, pred = as_entity_tags(gold_tags), as_entity_tags(pred_tags)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "X seems not to be NE tag" for odd tag sets
        report = classification_report(gold, pred, output_dict=True, zero_division=0)
    flat_gold = [t for seq in gold_tags for t in seq]
    flat_pred = [t for seq in pred_tags for t in seq]
    micro = report.get("micro avg", {})
    metrics = {
        "entity_precision": float(micro.get("precision", 0.0)),
        "entity_recall": float(micro.get("recall", 0.0)),
        "entity_f1": float(micro.get("f1-score", 0.0)),
        "macro_f1": float(report.get("macro avg", {}).get("f1-score", 0.0)),
        "token_accuracy": float(np.mean([p == g for p, g in zip(flat_pred, flat_gold,
                                                                  strict=True)]))
        if flat_gold else math.nan,
    }
    rows = [{"label": k, "precision": float(v["precision"]), "recall": float(v["recall"]),
             "f1": float(v["f1-score"]), "support": int(v["support"])}
            for k, v in report.items() if not k.endswith(" avg")]
    return metrics, rows


def perplexity(loss: float) -> float:
    """exp(mean token loss), capped so a diverged model reports a huge number, not overflow."""
    return math.exp(min(loss, 700.0))


def generation_metrics(predictions: list[str], references: list[str]) -> dict[str, float]:
    """ROUGE-1/2/L F-measure (rouge-score, mean over examples) and corpus BLEU and chrF."""
    _require("rouge_score", "rouge-score")
    _require("sacrebleu", "sacrebleu")
    import sacrebleu
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    sums = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for pred, ref in zip(predictions, references, strict=True):
        for key, score in scorer.score(ref, pred).items():
            sums[key] += score.fmeasure
    n = max(len(predictions), 1)
    out = {k: v / n for k, v in sums.items()}
    out["bleu"] = float(sacrebleu.corpus_bleu(predictions, [references]).score)
    out["chrf"] = float(sacrebleu.corpus_chrf(predictions, [references]).score)
    return out


def sentence_chrf(prediction: str, reference: str) -> float:
    """chrF of one prediction (sacrebleu), used to rank the worst seq2seq examples."""
    import sacrebleu

    return float(sacrebleu.sentence_chrf(prediction, [reference]).score)
