"""Run long work off the GUI thread: `TaskRunner.start(fn, ...)` with progress, cancel and join.

The function runs in a QThread; its result or error comes back to callbacks on the GUI thread
through queued signals. Functions that accept `progress` / `cancel` keyword arguments receive a
message callback and a `threading.Event` (set when the user cancels).
"""

from __future__ import annotations

import inspect
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench.core.errors import WorkbenchError

_LIVE_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()


def tracked_thread() -> QThread:
    """A new QThread that `running_threads()` can see (tests fail if one outlives them)."""
    thread = QThread()
    _LIVE_THREADS.add(thread)
    return thread


def running_threads() -> list[QThread]:
    """The app's QThreads that are still running."""
    alive = []
    for thread in list(_LIVE_THREADS):
        try:
            if thread.isRunning():
                alive.append(thread)
        except RuntimeError:  # the C++ object is already deleted
            pass
    return alive


class _Worker(QObject):
    """Lives in the worker thread; runs the function once and reports by signals."""

    progressed = Signal(str)
    succeeded = Signal(object)
    failed = Signal(str, str)  # user message, details (traceback for unexpected errors)
    done = Signal()

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, cancel: threading.Event):
        super().__init__()
        self._fn, self._args, self._kwargs, self._cancel = fn, args, kwargs, cancel

    @Slot()
    def run(self) -> None:
        kwargs = dict(self._kwargs)
        params = _parameters(self._fn)
        if "progress" in params:
            kwargs["progress"] = self.progressed.emit
        if "cancel" in params:
            kwargs["cancel"] = self._cancel
        try:
            result = self._fn(*self._args, **kwargs)
        except WorkbenchError as e:
            self.failed.emit(str(e), "")
        except Exception as e:  # shown with its traceback under "Details", never a crash
            self.failed.emit(f"Unexpected {type(e).__name__}: {e}", traceback.format_exc())
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()


def _parameters(fn: Callable) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


class Task(QObject):
    """GUI-thread handle of one running function: its callbacks run on the GUI thread."""

    progressed = Signal(str)
    finished = Signal()

    def __init__(self, on_success: Callable[[Any], None] | None,
                 on_error: Callable[[str, str], None] | None, parent: QObject | None = None):
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self._on_success, self._on_error = on_success, on_error
        self.running = True

    def cancel(self) -> None:
        """Ask the function to stop (it checks the event at safe points)."""
        self.cancel_event.set()

    @Slot(object)
    def _succeeded(self, result: Any) -> None:
        if self._on_success and not self.cancel_event.is_set():
            self._on_success(result)

    @Slot(str, str)
    def _failed(self, message: str, details: str) -> None:
        if self._on_error and not self.cancel_event.is_set():
            self._on_error(message, details)

    @Slot()
    def _done(self) -> None:
        self.running = False
        self.finished.emit()


class TaskRunner(QObject):
    """Starts functions in their own QThreads and joins them all on shutdown."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._threads: dict[QThread, tuple[_Worker, Task]] = {}

    def start(self, fn: Callable, *args: Any, on_success: Callable[[Any], None] | None = None,
              on_error: Callable[[str, str], None] | None = None,
              on_progress: Callable[[str], None] | None = None, **kwargs: Any) -> Task:
        """Run `fn(*args, **kwargs)` in a new thread; callbacks run on the GUI thread."""
        task = Task(on_success, on_error, self)
        worker = _Worker(fn, args, kwargs, task.cancel_event)
        thread = tracked_thread()
        worker.moveToThread(thread)
        worker.progressed.connect(task.progressed)
        if on_progress:
            task.progressed.connect(on_progress)
        worker.succeeded.connect(task._succeeded)
        worker.failed.connect(task._failed)
        worker.done.connect(task._done)
        worker.done.connect(thread.quit)
        thread.started.connect(worker.run)
        thread.finished.connect(self._on_thread_finished)
        self._threads[thread] = (worker, task)
        thread.start()
        return task

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self.sender()
        worker, _task = self._threads.pop(thread, (None, None))
        if worker is not None:
            worker.deleteLater()
        thread.deleteLater()

    @property
    def active(self) -> int:
        """Number of threads still running."""
        return sum(1 for t in self._threads if t.isRunning())

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel everything and wait for every thread to end."""
        for thread, (_worker, task) in list(self._threads.items()):
            task.cancel()
            thread.quit()
        for thread in list(self._threads):
            thread.wait(timeout_ms)
