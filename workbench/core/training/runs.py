"""Run folders: spec.json, metrics.jsonl, checkpoints/, final/; list and reopen past runs."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.training.events import FINAL_KINDS, TrainEvent

SPEC_NAME = "spec.json"
METRICS_NAME = "metrics.jsonl"
CHECKPOINTS_NAME = "checkpoints"
FINAL_NAME = "final"
MERGED_NAME = "merged"


def default_runs_root() -> Path:
    """Where runs go when the spec names no output_dir: $WORKBENCH_RUNS_DIR, else the user's
    data folder (~/.local/share/transformer-workbench/runs), never the current directory."""
    from workbench.core.app_dirs import data_dir

    return Path(os.environ.get("WORKBENCH_RUNS_DIR") or data_dir() / "runs")


def run_name(spec) -> str:
    """A run folder name that says what the run is: <time>-<model>-<task>[-lora]."""
    model = Path(str(spec.model_path).rstrip("/")).name or "model"
    if model in ("model", "final", "merged"):
        model = Path(str(spec.model_path).rstrip("/")).parent.name or model
    parts = [time.strftime("%Y%m%d-%H%M%S"), model, spec.task]
    if getattr(spec, "method", "full") != "full":
        parts.append(spec.method)
    safe = "-".join(parts)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in safe)[:120]


def new_run_dir(output_dir: str = "", spec=None) -> Path:
    """The run folder for a new run (created): `output_dir`, or <runs root>/<run_name(spec)>."""
    if output_dir:
        run_dir = Path(output_dir).expanduser().resolve()
    else:
        root = default_runs_root()
        stamp = run_name(spec) if spec is not None else time.strftime("%Y%m%d-%H%M%S")
        run_dir = root / stamp
        n = 1
        while run_dir.exists():
            n += 1
            run_dir = root / f"{stamp}-{n}"
    try:
        (run_dir / CHECKPOINTS_NAME).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkbenchError(f"Cannot create the run folder {run_dir}: {e}. Choose another "
                             f"output folder.") from None
    return run_dir


class MetricsLog:
    """Appends each event to metrics.jsonl as one line, flushed, so a crash loses nothing sent."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / METRICS_NAME
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, event: TrainEvent) -> None:
        """Append one event (the file is flushed to the OS at once)."""
        self._file.write(event.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file (fsync first: the run's record should survive a power cut)."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def load_run_spec(run_dir: str | Path):
    """The TrainSpec a run was started (or last resumed) with."""
    from workbench.core.training.spec import TrainSpec

    return TrainSpec.load(Path(run_dir) / SPEC_NAME)


def load_run_metrics(run_dir: str | Path) -> list[TrainEvent]:
    """The events of a run in order, as the curves should show them.

    After a resume, events logged past the resumed checkpoint by the interrupted session are
    dropped, so each step appears once. Damaged lines (a crash mid-write) are skipped.
    """
    path = Path(run_dir) / METRICS_NAME
    if not path.is_file():
        return []
    events: list[TrainEvent] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            event = TrainEvent.from_json(line)
        except (WorkbenchError, ValueError):
            continue
        if event.kind == "started" and events:
            events = [e for e in events if e.step <= event.step]
        events.append(event)
    return events


@dataclass(frozen=True)
class RunInfo:
    """What the runs list shows about one run folder."""

    run_dir: str
    name: str
    task: str
    model_path: str
    method: str
    status: str  # finished | cancelled | failed | interrupted (no final event) | empty
    step: int
    max_steps: int
    created: float
    final_model_dir: str | None
    checkpoints: list[str] = field(default_factory=list)
    last_metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def to_json(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def read_run(run_dir: str | Path) -> RunInfo:
    """Summarise one run folder (spec, last events, checkpoints, final model)."""
    from workbench.core.training.checkpoints import list_checkpoints

    run = Path(run_dir)
    try:
        spec = json.loads((run / SPEC_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise WorkbenchError(f"{run} is not a training run folder (no readable {SPEC_NAME}).") \
            from None
    events = load_run_metrics(run)
    status, message, step, max_steps = "empty", "", 0, 0
    metrics: dict[str, float] = {}
    for e in events:
        step = e.step if e.kind == "started" else max(step, e.step)
        max_steps = e.max_steps or max_steps  # setup "status" events do not know it yet
        if e.kind in ("log", "eval"):
            metrics.update(e.metrics)
        if e.kind in FINAL_KINDS:
            status, message = e.kind, e.message
            metrics.update(e.metrics)
        elif e.kind == "started":
            status, message = "interrupted", ""
    final = run / FINAL_NAME
    return RunInfo(
        run_dir=str(run), name=run.name, task=str(spec.get("task", "")),
        model_path=str(spec.get("model_path", "")), method=str(spec.get("method", "full")),
        status=status, step=step, max_steps=max_steps, created=(run / SPEC_NAME).stat().st_mtime,
        final_model_dir=str(final) if (final / "config.json").is_file()
        or (final / "adapter_config.json").is_file() else None,
        checkpoints=[str(c) for c in list_checkpoints(run)], last_metrics=metrics,
        message=message)


def list_runs(root: str | Path | None = None) -> list[RunInfo]:
    """Every run folder directly under `root` (default: default_runs_root()), newest first."""
    base = Path(root) if root is not None else default_runs_root()
    if not base.is_dir():
        return []
    runs = []
    for child in base.iterdir():
        if (child / SPEC_NAME).is_file():
            try:
                runs.append(read_run(child))
            except WorkbenchError:
                continue  # a half-created folder is not a run; skip it rather than fail the list
    return sorted(runs, key=lambda r: r.created, reverse=True)
