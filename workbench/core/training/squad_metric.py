"""SQuAD exact match and F1: the one owner of how extractive answers are scored.

The rules of the official SQuAD v1.1 evaluation script: both texts are normalised (lower case,
punctuation removed, the articles a/an/the removed, whitespace collapsed); exact match compares
the normalised strings, F1 the bags of their words; each prediction takes its best score over
the gold answers; the totals are means in percent. Written here because `evaluate.load("squad")`
downloads the script from the Hub.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the official order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised texts are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """Harmonic mean of word precision and recall between the normalised texts."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_scores(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of one prediction: the best over its gold answers."""
    return (max(exact_match(prediction, g) for g in golds),
            max(f1(prediction, g) for g in golds))


def squad_scores(predictions: Sequence[str],
                 golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent over examples, as the SQuAD script reports them."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} examples")
    if not predictions:
        return {"exact_match": float("nan"), "f1": float("nan")}
    scores = [best_scores(p, g) for p, g in zip(predictions, golds, strict=True)]
    return {"exact_match": 100.0 * sum(s[0] for s in scores) / len(scores),
            "f1": 100.0 * sum(s[1] for s in scores) / len(scores)}
