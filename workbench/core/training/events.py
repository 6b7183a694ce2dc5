"""TrainEvent: the one message a training run sends (to the GUI, the CLI and metrics.jsonl)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from workbench.core import jsonio
from workbench.core.errors import WorkbenchError
from workbench.core.jsonio import RECORD_LIMITS

EVENT_KINDS = ("started", "log", "eval", "checkpoint", "paused", "resumed", "finished",
               "cancelled", "failed", "status", "error")
# "error" is sent by `workbench train --json-events` just before the final "failed" event; it
# carries the failure's message and is not recorded in metrics.jsonl.
# Kinds after which no further event of the run arrives.
FINAL_KINDS = ("finished", "cancelled", "failed")


@dataclass(frozen=True)
class TrainEvent:
    """A snapshot of a run at a step: what happened (`kind`), when, and the metrics then.

    metrics keys (all optional): loss, eval_loss, learning_rate, grad_norm, tokens_per_s,
    samples_per_s, memory_mb, eval_accuracy, eval_f1, perplexity, ... (plain floats; NaN and
    inf are kept, so a diverging run is visible).
    """

    kind: str
    step: int
    max_steps: int
    epoch: float
    time: float
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise WorkbenchError(f"Unknown training event kind '{self.kind}'.")

    @property
    def is_final(self) -> bool:
        """True for finished / cancelled / failed: the run sends nothing after it."""
        return self.kind in FINAL_KINDS

    def to_json(self) -> str:
        """One line of JSON (NaN/inf written as the strings "nan"/"inf"/"-inf")."""
        return json.dumps({
            "kind": self.kind, "step": self.step, "max_steps": self.max_steps,
            "epoch": round(float(self.epoch), 6), "time": round(float(self.time), 4),
            "metrics": {k: _encode(v) for k, v in self.metrics.items()},
            "message": self.message,
        }, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | dict) -> TrainEvent:
        """Parse `to_json` output (a line or an already-decoded dict)."""
        data = (jsonio.loads(text, source="a training event", limits=RECORD_LIMITS,
                             what="event") if isinstance(text, str) else dict(text))
        if not isinstance(data, dict):
            raise WorkbenchError("Not a training event: not a JSON object.")
        try:
            return cls(kind=str(data["kind"]), step=int(data["step"]),
                       max_steps=int(data["max_steps"]), epoch=float(data["epoch"]),
                       time=float(data["time"]),
                       metrics={str(k): float(v) for k, v in data.get("metrics", {}).items()},
                       message=str(data.get("message", "")))
        except (KeyError, TypeError, ValueError) as e:
            raise WorkbenchError(f"Not a training event: {e}") from None


def _encode(value: float) -> float | str:
    v = float(value)
    return v if math.isfinite(v) else str(v)
