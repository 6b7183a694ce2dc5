"""Run `run_training` in a QThread (in the common FunctionWorker) and hand its events to the GUI
thread in batches.

The training thread only appends TrainEvents to a locked list (no Qt call per event); a QTimer on
the GUI thread drains the list ~15 times a second and re-emits one `eventsArrived(list)` per
drain. So a run that logs every step costs the GUI one signal per tick, never one per value.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from workbench.qt.common.tasks import FunctionWorker, tracked_thread

DRAIN_MS = 66  # ~15 Hz


class EventBuffer:
    """A list the training thread appends to and the GUI thread swaps out under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []

    def append(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)

    def drain(self) -> list[Any]:
        """Everything appended since the last drain, oldest first."""
        with self._lock:
            items, self._items = self._items, []
        return items


OUT_OF_MEMORY_HINT = ("Lower the batch size or max length, use LoRA, gradient checkpointing "
                      "or bf16.")


def _train(spec: Any, control: Any, emit: Any, resume_from: str | None, extend_epochs: float,
           train_fn: Any = None, restart: bool = False) -> Any:
    """Training-thread side: run_training (or a stand-in train_fn of the same signature)."""
    if train_fn is None:
        from workbench.core.training.runner import run_training as train_fn
    extra = {"restart": True} if restart else {}  # stand-ins need not know restart
    return train_fn(spec, emit, control=control, resume_from=resume_from,
                    extend_epochs=extend_epochs, **extra)


class TrainSession(QObject):
    """GUI-thread handle of one training run: start, pause, resume, cancel, save, join."""

    eventsArrived = Signal(list)  # a batch of TrainEvents, oldest first
    finished = Signal(object)  # RunResult (status finished, cancelled or failed)
    failed = Signal(str, str)  # the run could not start or crashed: message, details
    stateChanged = Signal(str)  # "running", "pausing", "paused", "stopping", "idle"

    def __init__(self, spec: Any, resume_from: str | None = None, extend_epochs: float = 0.0,
                 parent: QObject | None = None, drain_ms: int = DRAIN_MS, train_fn: Any = None,
                 restart: bool = False):
        super().__init__(parent)
        from workbench.core.training.runner import TrainControl  # no torch: cheap import

        self.spec = spec
        self.control = TrainControl()
        self.buffer = EventBuffer()
        self.result: Any = None
        self.error: tuple[str, str] | None = None
        self.events_seen = 0
        self.batches = 0
        self.state = "idle"
        self._thread: QThread | None = None
        self.resume_from = resume_from
        # the app's one worker class runs training too (see qt/common/tasks.py)
        self._job = FunctionWorker(
            _train, (spec, self.control, self.buffer.append, resume_from, extend_epochs,
                     train_fn, restart), memory_hint=OUT_OF_MEMORY_HINT)
        self._timer = QTimer(self)
        self._timer.setInterval(drain_ms)
        self._timer.timeout.connect(self.drain)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the training thread and the drain timer."""
        if self._thread is not None:
            return
        thread = tracked_thread()
        self._thread = thread
        self._job.moveToThread(thread)
        thread.started.connect(self._job.run)
        self._job.succeeded.connect(self._on_job_succeeded)
        self._job.failed.connect(self._on_job_failed)
        self._timer.start()
        thread.start()
        self._set_state("running")

    @property
    def running(self) -> bool:
        """True from start() until the run has ended and its last events were delivered."""
        return self.state not in ("idle",)

    def pause(self) -> None:
        self.control.pause()
        self._set_state("pausing")

    def resume(self) -> None:
        self.control.resume()
        self._set_state("running")

    def cancel(self, save_checkpoint: bool = False) -> None:
        """Stop at the next step boundary (a paused run wakes up to stop)."""
        self.control.cancel(save_checkpoint=save_checkpoint)
        if self.running:
            self._set_state("stopping")

    def save_now(self) -> None:
        self.control.save_now()

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the training thread ends; True if it did."""
        if self._thread is None:
            return True
        return self._thread.wait(timeout_ms)

    def shutdown(self, save_checkpoint: bool = False, timeout_ms: int = 120_000) -> bool:
        """Cancel, join the thread and deliver the last events; True if the thread ended."""
        if self._thread is None:
            return True
        self.cancel(save_checkpoint=save_checkpoint)
        ended = self._thread.wait(timeout_ms)
        if ended:
            self._finish()  # the queued result signal may come later; _finish runs once
        return ended

    # -- delivery ----------------------------------------------------------------------------------
    @Slot()
    def drain(self) -> list[Any]:
        """Hand buffered events to listeners as one batch (called by the timer)."""
        events = self.buffer.drain()
        if self.state == "pausing" and self.control.is_waiting:
            self._set_state("paused")
        if not events:
            return events
        self.events_seen += len(events)
        self.batches += 1
        for event in events:
            if event.kind == "paused":
                self._set_state("paused")
            elif event.kind == "resumed" and self.state in ("paused", "pausing"):
                self._set_state("running")
        self.eventsArrived.emit(events)
        return events

    def _finish(self) -> None:
        if self.state == "idle":
            return
        self._timer.stop()
        self.drain()
        thread, self._thread = self._thread, None
        if self.result is None:
            self.result = self._job.result
        if thread is not None:
            thread.quit()
            thread.wait()
            self._job.deleteLater()
            thread.deleteLater()
        self._set_state("idle")

    @Slot(object)
    def _on_job_succeeded(self, result: Any) -> None:
        self.result = result
        self._finish()
        self.finished.emit(result)

    @Slot(str, str)
    def _on_job_failed(self, message: str, details: str) -> None:
        self.error = (message, details)
        self._finish()
        self.failed.emit(message, details)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)
