"""run_training: a TrainSpec in, TrainEvents out; TrainControl pauses, resumes, cancels it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.core.training.events import TrainEvent
from workbench.core.training.spec import TrainSpec


class TrainControl:
    """Thread-safe remote control of a run; the runner checks it at every step boundary.

    While a run is in progress `live_model` / `live_tokenizer` hold the model being trained
    (None otherwise), so a paused run can be inspected (e.g. attention) from another thread.
    Only touch the live model while `is_paused` is True: otherwise training is changing it.
    """

    def __init__(self) -> None:
        self._running = threading.Event()  # set = not paused
        self._running.set()
        self._cancel = threading.Event()
        self._save_now = threading.Event()
        self._save_on_cancel = False
        self._paused_at_boundary = threading.Event()
        self.live_model: Any = None
        self.live_tokenizer: Any = None

    def pause(self) -> None:
        """Ask the run to stop at the next step boundary and wait there (model kept in memory)."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused run continue."""
        self._running.set()

    def cancel(self, save_checkpoint: bool = False) -> None:
        """Stop the run at the next step boundary, optionally writing a checkpoint first."""
        self._save_on_cancel = bool(save_checkpoint)
        self._cancel.set()
        self._running.set()  # a paused run must wake up to stop

    def save_now(self) -> None:
        """Write a resumable checkpoint at the next step boundary."""
        self._save_now.set()

    @property
    def is_paused(self) -> bool:
        """True once pause() was requested and until resume()/cancel()."""
        return not self._running.is_set() and not self._cancel.is_set()

    @property
    def is_waiting(self) -> bool:
        """True while the training thread is actually blocked at a step boundary."""
        return self._paused_at_boundary.is_set()

    @property
    def is_cancelled(self) -> bool:
        """True once cancel() was called."""
        return self._cancel.is_set()

    @property
    def save_on_cancel(self) -> bool:
        """Whether cancel() asked for a checkpoint."""
        return self._save_on_cancel

    def take_save_request(self) -> bool:
        """True once per save_now() call (the runner consumes the request)."""
        if self._save_now.is_set():
            self._save_now.clear()
            return True
        return False

    def wait_for_change(self, timeout: float) -> None:
        """Block up to `timeout` seconds, returning early on resume or cancel."""
        self._running.wait(timeout)

    def wait_while_paused(self, on_paused: Callable[[], None] | None = None,
                          on_resumed: Callable[[], None] | None = None) -> None:
        """Block the calling (training) thread while paused; return at once if not paused."""
        if self._running.is_set():
            return
        if on_paused is not None:
            on_paused()  # before is_waiting turns True, so waiters see the "paused" event
        self._paused_at_boundary.set()
        try:
            while not self._running.wait(0.05):
                pass
        finally:
            self._paused_at_boundary.clear()
        if on_resumed is not None and not self._cancel.is_set():
            on_resumed()


@dataclass(frozen=True)
class RunResult:
    """How a run ended: its folder, the final model folder (if any), last metrics, status."""

    run_dir: str
    final_model_dir: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "finished"  # "finished" | "cancelled" | "failed"
    message: str = ""
    details: str = ""  # the traceback of an unexpected error (never part of `message`)


def run_training(spec: TrainSpec, emit: Callable[[TrainEvent], None],
                 control: TrainControl | None = None, resume_from: str | None = None,
                 extend_epochs: float = 0.0, *, extra_callbacks: list | None = None,
                 restart: bool = False, watch_control_file: bool = False,
                 free_memory: bool = True) -> RunResult:
    """Train `spec` with transformers' Trainer, sending TrainEvents to `emit` (on this thread).

    `resume_from` is a run folder (its newest complete checkpoint is used) or a checkpoint
    folder; `extend_epochs` adds epochs on top of the spec's when resuming; `restart` discards
    a run already in spec.output_dir (its record, checkpoints and model) and starts over. A
    resumed run whose final save was interrupted gets final/ rebuilt from its last checkpoint.
    Bad specs or data raise WorkbenchError before training starts; failures during training
    (NaN, OOM, a full disk, errors) end with a "failed" event and a RunResult with status
    "failed". With `watch_control_file`, commands written to the run folder's control file
    (see control_file.py) pause, resume, cancel or checkpoint the run, as `control` does.
    `free_memory=False` skips the final garbage collection, for a process that exits next.
    """
    from workbench.core.training.session import TrainingSession

    session = TrainingSession(spec, emit, control or TrainControl(), resume_from=resume_from,
                              extend_epochs=extend_epochs, extra_callbacks=extra_callbacks,
                              restart=restart, watch_control_file=watch_control_file,
                              free_memory=free_memory)
    return session.run()
