"""EvalReport: the result of one evaluation, saved as evaluation.json and compared across runs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core import jsonio
from workbench.core.atomic import atomic_write_text
from workbench.core.errors import WorkbenchError

REPORT_NAME = "evaluation.json"
REPORT_VERSION = 1


@dataclass(frozen=True)
class WorstExample:
    """One badly scored example: what went in, what was expected, what the model said."""

    index: int  # row in the data file
    text: str
    expected: str
    predicted: str
    confidence: float  # probability the model gave its prediction (LMs: exp(-loss))
    score: float  # what the ranking used: gold-label probability, loss, chrF, tag accuracy

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "expected": self.expected,
                "predicted": self.predicted, "confidence": _clean(self.confidence),
                "score": _clean(self.score)}


@dataclass(frozen=True)
class EvalReport:
    """Metrics of a model on a data file; plain data, safe to pass between threads."""

    model_path: str
    data_file: str
    task: str
    num_examples: int
    metrics: dict[str, float]
    per_class: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    confusion: np.ndarray | None = None  # (gold, predicted) counts
    worst: list[WorstExample] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The documented evaluation.json / `workbench evaluate --json` object."""
        return {"version": REPORT_VERSION, "model_path": self.model_path,
                "data_file": self.data_file, "task": self.task,
                "num_examples": self.num_examples,
                "metrics": {k: _clean(v) for k, v in self.metrics.items()},
                "per_class": self.per_class, "labels": self.labels,
                "confusion": self.confusion.tolist() if self.confusion is not None else None,
                "worst": [w.to_json() for w in self.worst], "seconds": self.seconds,
                "examples_per_second": self.num_examples / self.seconds if self.seconds else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalReport:
        """Rebuild a report from `to_json` output (evaluation.json)."""
        try:
            return cls(
                model_path=data["model_path"], data_file=data["data_file"], task=data["task"],
                num_examples=int(data["num_examples"]),
                metrics={k: (math.nan if v is None else float(v))
                         for k, v in data["metrics"].items()},
                per_class=list(data.get("per_class") or []), labels=list(data.get("labels") or []),
                confusion=(np.asarray(data["confusion"], dtype=np.int64)
                           if data.get("confusion") is not None else None),
                worst=[WorstExample(**{k: (math.nan if v is None else v) for k, v in w.items()})
                       for w in data.get("worst") or []],
                seconds=float(data.get("seconds") or 0.0))
        except (KeyError, TypeError, ValueError) as e:
            raise WorkbenchError(f"This is not an evaluation report ({type(e).__name__}: {e}); "
                                 f"run `workbench evaluate` again to write a new one.") from None


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_report(report: EvalReport, path: str | Path) -> Path:
    """Write the report atomically; `path` may be a folder (then evaluation.json inside it)."""
    target = Path(path)
    if target.is_dir():
        target = target / REPORT_NAME
    atomic_write_text(target, json.dumps(report.to_json(), indent=2) + "\n")
    return target


def load_report(path: str | Path) -> EvalReport:
    """Read evaluation.json (or the one inside a run/model folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / REPORT_NAME
    if not p.is_file():
        raise WorkbenchError(f"{p} does not exist: evaluate that run first.")
    try:
        return EvalReport.from_json(jsonio.load_object(p, what="evaluation report"))
    except (KeyError, TypeError, ValueError) as e:
        raise WorkbenchError(f"{p} is not an evaluation report ({e}).") from None


def compare_reports(paths: list[str | Path]) -> dict[str, Any]:
    """One table of several evaluations: a row per report, a column per metric they share."""
    reports = [(str(p), load_report(p)) for p in paths]
    if not reports:
        raise WorkbenchError("Give at least one evaluation.json (or run folder) to compare.")
    tasks = {r.task for _, r in reports}
    if len(tasks) > 1:
        raise WorkbenchError(f"These evaluations are of different tasks "
                             f"({', '.join(sorted(tasks))}); compare evaluations of one task.")
    columns = sorted(set.intersection(*(set(r.metrics) for _, r in reports)))
    data_files = {r.data_file for _, r in reports}
    rows = [{"path": p, "model_path": r.model_path, "data_file": r.data_file,
             "num_examples": r.num_examples,
             **{c: _clean(r.metrics[c]) for c in columns}} for p, r in reports]
    return {"task": tasks.pop(), "columns": columns, "rows": rows,
            "same_data": len(data_files) == 1}
