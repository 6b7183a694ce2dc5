"""Run long work off the GUI thread: `TaskRunner.start(fn, ...)` with progress, cancel and join.

The function runs in a QThread inside a FunctionWorker (the app's one worker class); its result
or error comes back to callbacks on the GUI thread through queued signals. Functions that accept
`progress` / `cancel` keyword arguments receive a message callback and a `threading.Event` (set
when the user cancels). A TaskGroup remembers the tasks one view started, to drop them on close.
"""

from __future__ import annotations

import inspect
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench.core.errors import WorkbenchError, path_error_message

_LIVE_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()

# Workers wait while the start-up imports run (qt/common/prewarm.py): two threads importing
# transformers' lazily loaded modules at once can leave one with a partially initialised module
# ("cannot import name 'CONFIG_MAPPING' from 'transformers'": a checkpoint opened right at
# start-up failed so). The imports are needed by almost every worker anyway.
imports_settled = threading.Event()
imports_settled.set()
IMPORTS_WAIT_S = 120.0


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


class FunctionWorker(QObject):
    """Lives in a worker thread; runs one function once and reports how it ended by signals.

    The app's one worker: TaskRunner wraps every background job in it, and the training
    session (qt/train/worker.py) runs `run_training` in it. An unexpected exception becomes
    `failed(message, traceback)` and is written to the log (core.logs), never a crash.
    """

    progressed = Signal(str)
    succeeded = Signal(object)
    failed = Signal(str, str)  # user message, details (traceback for unexpected errors)
    done = Signal()

    def __init__(self, fn: Callable, args: tuple = (), kwargs: dict | None = None,
                 cancel: threading.Event | None = None, memory_hint: str = ""):
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, dict(kwargs or {})
        self._cancel = cancel if cancel is not None else threading.Event()
        self._memory_hint = memory_hint
        self.result: Any = None  # also kept here: readable after the thread ended

    @Slot()
    def run(self) -> None:
        if not getattr(self._fn, "settles_imports", False):
            imports_settled.wait(IMPORTS_WAIT_S)
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
        except MemoryError:
            self._fail_unexpected(f"Out of memory. {self._memory_hint}".strip())
        except Exception as e:  # shown with its traceback under "Details", never a crash
            message = path_error_message(e)
            if message is not None:
                self.failed.emit(message, "")
            else:
                self._fail_unexpected(f"Unexpected {type(e).__name__}: {e}")
        else:
            self.result = result
            self.succeeded.emit(result)
        finally:
            self.done.emit()
            # quit from this thread, so a GUI-thread wait() never waits on a queued quit
            QThread.currentThread().quit()

    def _fail_unexpected(self, message: str) -> None:
        from workbench.core.logs import log_unexpected

        details = traceback.format_exc()
        log_unexpected(message, details)
        self.failed.emit(message, details)


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
        self.succeeded = False  # the function returned and its result was handed on

    def cancel(self) -> None:
        """Ask the function to stop (it checks the event at safe points)."""
        self.cancel_event.set()

    @Slot(object)
    def _succeeded(self, result: Any) -> None:
        if not self.cancel_event.is_set():
            self.succeeded = True
            if self._on_success:
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
        self._threads: dict[QThread, tuple[FunctionWorker, Task]] = {}

    def start(self, fn: Callable, *args: Any, on_success: Callable[[Any], None] | None = None,
              on_error: Callable[[str, str], None] | None = None,
              on_progress: Callable[[str], None] | None = None, **kwargs: Any) -> Task:
        """Run `fn(*args, **kwargs)` in a new thread; callbacks run on the GUI thread."""
        task = Task(on_success, on_error, self)
        worker = FunctionWorker(fn, args, kwargs, task.cancel_event)
        thread = tracked_thread()
        worker.moveToThread(thread)
        worker.progressed.connect(task.progressed)
        if on_progress:
            task.progressed.connect(on_progress)
        worker.succeeded.connect(task._succeeded)
        worker.failed.connect(task._failed)
        worker.done.connect(task._done)
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


class TaskGroup:
    """The tasks a view started on the shared runner, so its shutdown can drop their callbacks."""

    def __init__(self, runner: TaskRunner):
        self.runner = runner
        self._tasks: list[Task] = []

    def start(self, fn: Callable, *args: Any, **kwargs: Any) -> Task:
        """runner.start(...), remembered until it finishes."""
        task = self.runner.start(fn, *args, **kwargs)
        self._tasks.append(task)
        task.finished.connect(lambda t=task: self._tasks.remove(t) if t in self._tasks else None)
        return task

    def cancel_all(self) -> None:
        """Cancel every task still running: their success/error callbacks will not run."""
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
