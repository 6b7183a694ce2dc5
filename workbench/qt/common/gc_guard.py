"""Run Python's cyclic garbage collector only on the GUI thread.

A collection that runs in a worker thread (training, attention and model loading allocate
heavily there) can finalise Qt objects caught in reference cycles on that thread, and Qt can
deadlock or crash when a QObject is destroyed off the GUI thread. Seen here: accelerate's
`free_memory()` calls `gc.collect()` at the end of `Trainer.train()` in the training thread; it
destroyed a stale widget there and deadlocked against the GUI thread. So automatic collection is
switched off, explicit `gc.collect()` calls from other threads are deferred to the GUI thread,
and a GUI-thread timer collects each generation when its threshold is passed (pyqtgraph's
GarbageCollector does the automatic part the same way).
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500
_collect = gc.collect  # the interpreter's own, kept before any patching


def _collect_on_gui_thread(generation: int = 2) -> int:
    """gc.collect() as seen by libraries: runs on the GUI (main) thread, deferred elsewhere."""
    if threading.current_thread() is threading.main_thread():
        return _collect(generation)
    return 0  # the GUI thread's timer collects this garbage within INTERVAL_MS


class GuiThreadCollector(QObject):
    """While started, cyclic garbage is collected on the GUI thread only."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_if_due)

    def start(self) -> None:
        gc.disable()
        gc.collect = _collect_on_gui_thread
        self._timer.start()

    def stop(self) -> None:
        """Give collection back to the interpreter."""
        self._timer.stop()
        gc.collect = _collect
        gc.enable()

    def collect_if_due(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds."""
        counts = gc.get_count()
        generation = -1
        for gen in range(3):
            if counts[gen] > self._thresholds[gen]:
                generation = gen
            else:
                break
        if generation >= 0:
            _collect(generation)
